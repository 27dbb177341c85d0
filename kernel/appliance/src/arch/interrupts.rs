//! Interrupts: the local APIC (timer, EOI), the I/O APIC for ISA and virtio-mmio lines,
//! MSI-X vectors for virtio-pci, and the dispatcher every interrupt stub calls.
//!
//! Handlers do no work: they note which source fired in [`PENDING`] (and, for a
//! virtio-mmio line, acknowledge the device's interrupt status so the level line
//! drops), send EOI and return. All work stays in the main loop.
//!
//! Interrupts are enabled only inside [`sleep`]'s `sti; hlt` window. Anything that
//! fires while the main loop runs (IF = 0) waits in the local APIC's request register
//! and is delivered the moment `sti` takes effect, which is after `hlt` has begun:
//! a wake-up can never be lost between "nothing to do" and `hlt`.
//!
//! Vector plan:
//! | vectors | what |
//! | --- | --- |
//! | 0..32 | CPU exceptions (`super::exceptions`) |
//! | 0x20..0x30 | the 8259 pair, remapped and masked (counted as spurious if ever seen) |
//! | 0x30 | local APIC timer (the wait's deadline) |
//! | 0x40 + GSI | I/O APIC inputs (COM1 = GSI 4; virtio-mmio lines from the command line) |
//! | 0x70.. | MSI-X, one vector per virtio-pci device |
//! | 0xff | local APIC spurious (counted) |
//! | anything else | reported like a CPU exception; the machine stops |

use super::cpu::{has_apic, rdmsr, rdtsc, wrmsr};
use super::exceptions::{report, ExceptionFrame};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use spin::Mutex;
use vnetcrypt_drivers::apic::{mask_8259, msi_message, IoApic, LocalApic, Trigger};

const PIC_BASE: u8 = 0x20;
const TIMER_VECTOR: u8 = 0x30;
const GSI_BASE: u8 = 0x40;
const GSI_MAX: u32 = 0x30;
const MSI_BASE: u8 = 0x70;
const MSI_MAX: u8 = 0x40;
const SPURIOUS_VECTOR: u8 = 0xff;
/// COM1's ISA line (no override on q35 or microvm).
pub const COM1_GSI: u32 = 4;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_GLOBAL_ENABLE: u64 = 1 << 11;
const APIC_X2APIC_MODE: u64 = 1 << 10;
const IOAPIC_BASE: u64 = 0xfec0_0000;

/// What woke (or would wake) the CPU, as bits of [`PENDING`].
pub mod source {
    pub const TIMER: u32 = 1 << 0;
    pub const CONSOLE: u32 = 1 << 1;
    pub const DEVICE: u32 = 1 << 2;
}

/// Sources that fired since the last [`sleep`] returned.
static PENDING: AtomicU32 = AtomicU32::new(0);
/// Per vector: the [`source`] bit it sets (0: not routed).
static ROUTED: [AtomicU32; 256] = [const { AtomicU32::new(0) }; 256];
/// virtio-mmio windows whose interrupt status the handler acknowledges, by vector.
static MMIO_ACK: Mutex<[(u8, u64); 16]> = Mutex::new([(0, 0); 16]);
static NEXT_MSI: AtomicU8 = AtomicU8::new(MSI_BASE);
static ENABLED: AtomicBool = AtomicBool::new(false);
/// The local APIC's EOI register address (0 until [`init`]).
static EOI_BASE: AtomicU64 = AtomicU64::new(0);
static APIC_ID: AtomicU8 = AtomicU8::new(0);
/// Local APIC timer ticks (divided by 16) per millisecond, from the TSC.
static TIMER_TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);
static LAPIC: Mutex<Option<LocalApic>> = Mutex::new(None);
static IOAPIC: Mutex<Option<IoApic>> = Mutex::new(None);

/// Counters of the idle machinery, for tests and the docs' figures.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// `hlt`s executed.
    pub sleeps: u64,
    /// Waits that returned at once because a source had already fired.
    pub already_pending: u64,
    pub timer: u64,
    pub console: u64,
    pub device: u64,
    /// Local APIC spurious vector, or a stray 8259 vector.
    pub spurious: u64,
}

static SLEEPS: AtomicU64 = AtomicU64::new(0);
static ALREADY: AtomicU64 = AtomicU64::new(0);
static BY_TIMER: AtomicU64 = AtomicU64::new(0);
static BY_CONSOLE: AtomicU64 = AtomicU64::new(0);
static BY_DEVICE: AtomicU64 = AtomicU64::new(0);
static SPURIOUS: AtomicU64 = AtomicU64::new(0);

pub fn stats() -> Stats {
    let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
    Stats {
        sleeps: r(&SLEEPS),
        already_pending: r(&ALREADY),
        timer: r(&BY_TIMER),
        console: r(&BY_CONSOLE),
        device: r(&BY_DEVICE),
        spurious: r(&SPURIOUS),
    }
}

/// Why interrupts could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    NoApic,
    /// The TSC frequency is unknown, so the timer cannot be calibrated.
    NoClock,
}

/// Enables the local APIC, masks the 8259 pair, calibrates the APIC timer against the
/// TSC and finds the I/O APIC. Interrupts stay disabled (IF = 0). Call once, after the
/// clock is calibrated and before any `route_*`.
pub fn init(tsc_hz: u64) -> Result<(), InitError> {
    if !has_apic() {
        return Err(InitError::NoApic);
    }
    if tsc_hz == 0 {
        return Err(InitError::NoClock);
    }
    // SAFETY: the ports are the 8259 pair on q35/pc and unclaimed on microvm.
    unsafe { mask_8259(PIC_BASE) };
    // SAFETY: IA32_APIC_BASE exists when CPUID reports an APIC; setting the global
    // enable bit keeps the base where the firmware (or reset) put it.
    let mut base_msr = unsafe { rdmsr(IA32_APIC_BASE) };
    if base_msr & APIC_X2APIC_MODE != 0 {
        // A loader left x2APIC mode on; the only way back to xAPIC is through
        // "disabled" (SDM 10.12.5), which also resets the APIC's state.
        base_msr &= !(APIC_X2APIC_MODE | APIC_GLOBAL_ENABLE);
        // SAFETY: clearing both enable bits is a legal transition from x2APIC mode.
        unsafe { wrmsr(IA32_APIC_BASE, base_msr) };
    }
    // SAFETY: as above.
    unsafe { wrmsr(IA32_APIC_BASE, base_msr | APIC_GLOBAL_ENABLE) };
    let base = base_msr & 0x000f_ffff_ffff_f000;
    if base >= super::IDENTITY_MAPPED {
        return Err(InitError::NoApic);
    }
    // SAFETY: the window from IA32_APIC_BASE, below 4 GiB, so identity-mapped (the
    // boot code maps 3..4 GiB uncached); this is the only LocalApic.
    let mut lapic = unsafe { LocalApic::new(base) };
    lapic.enable(SPURIOUS_VECTOR);
    TIMER_TICKS_PER_MS.store(calibrate(&mut lapic, tsc_hz), Ordering::Relaxed);
    APIC_ID.store(lapic.id(), Ordering::Relaxed);
    EOI_BASE.store(base, Ordering::Relaxed);
    *LAPIC.lock() = Some(lapic);
    // SAFETY: 0xFEC0_0000 is the I/O APIC on q35 and microvm (unclaimed reads give all
    // ones elsewhere), in the identity mapping; this is the only IoApic.
    *IOAPIC.lock() = unsafe { IoApic::new(IOAPIC_BASE) };
    ROUTED[usize::from(TIMER_VECTOR)].store(source::TIMER, Ordering::Relaxed);
    ENABLED.store(true, Ordering::Release);
    Ok(())
}

/// Whether [`init`] succeeded.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// Timer ticks per millisecond: run the timer for 2 ms of TSC time.
fn calibrate(lapic: &mut LocalApic, tsc_hz: u64) -> u64 {
    const START: u32 = u32::MAX;
    let window = tsc_hz / 500;
    lapic.one_shot(TIMER_VECTOR, START);
    let t0 = rdtsc();
    while rdtsc().wrapping_sub(t0) < window {
        core::hint::spin_loop();
    }
    let elapsed = START - lapic.timer_count();
    lapic.stop_timer();
    (u64::from(elapsed) / 2).max(1)
}

/// Routes I/O APIC input `gsi` to its vector as `src`. A `Level` input must be quieted
/// by the handler: give `mmio_ack` (a virtio-mmio window) for those. False if there is
/// no I/O APIC or no such input.
pub fn route_gsi(gsi: u32, trigger: Trigger, src: u32, mmio_ack: Option<u64>) -> bool {
    if !enabled() || gsi >= GSI_MAX {
        return false;
    }
    let vector = GSI_BASE + gsi as u8;
    if let Some(base) = mmio_ack {
        let mut acks = MMIO_ACK.lock();
        let Some(slot) = acks.iter_mut().find(|(v, _)| *v == 0) else {
            return false;
        };
        *slot = (vector, base);
    }
    ROUTED[usize::from(vector)].store(src, Ordering::Relaxed);
    let apic_id = APIC_ID.load(Ordering::Relaxed);
    IOAPIC
        .lock()
        .as_mut()
        .is_some_and(|io| io.route(gsi, vector, trigger, apic_id))
}

/// An MSI message (address, data) for a new vector that sets `src`; `None` when the
/// vectors are used up or interrupts are off.
pub fn allocate_msi(src: u32) -> Option<(u64, u32)> {
    if !enabled() {
        return None;
    }
    let vector = NEXT_MSI.fetch_add(1, Ordering::Relaxed);
    if vector >= MSI_BASE + MSI_MAX {
        return None;
    }
    ROUTED[usize::from(vector)].store(src, Ordering::Relaxed);
    Some(msi_message(APIC_ID.load(Ordering::Relaxed), vector))
}

/// Halts until an interrupt arrives or `timeout_us` has passed; returns the sources
/// that fired (0 only if something other than a routed source woke the CPU). Returns
/// at once if a source fired since the last call. Must be called with IF = 0 (the
/// kernel never sets it elsewhere); returns with IF = 0.
pub fn sleep(timeout_us: u64) -> u32 {
    let already = PENDING.swap(0, Ordering::AcqRel);
    if already != 0 {
        ALREADY.fetch_add(1, Ordering::Relaxed);
        return already;
    }
    let ticks = TIMER_TICKS_PER_MS.load(Ordering::Relaxed) * timeout_us / 1000;
    let ticks = u32::try_from(ticks).unwrap_or(u32::MAX).max(1);
    if let Some(l) = LAPIC.lock().as_mut() {
        l.one_shot(TIMER_VECTOR, ticks);
    }
    SLEEPS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: `sti` takes effect after the next instruction, so an interrupt already
    // pending (or arriving now) is taken with `hlt` under way and ends it: none can
    // slip in between the caller's check and the halt. The handlers preserve the
    // general registers; every caller-saved register (vector ones included) is
    // declared clobbered, so the Rust dispatcher may use any of them; without
    // `nostack` the compiler keeps nothing in the red zone, where the CPU pushes the
    // interrupt frame. `cli` closes the window before Rust code runs again.
    unsafe {
        core::arch::asm!("sti", "hlt", "cli", clobber_abi("C"));
    }
    if let Some(l) = LAPIC.lock().as_mut() {
        l.stop_timer();
    }
    let woke = PENDING.swap(0, Ordering::AcqRel);
    for (bit, counter) in [
        (source::TIMER, &BY_TIMER),
        (source::CONSOLE, &BY_CONSOLE),
        (source::DEVICE, &BY_DEVICE),
    ] {
        if woke & bit != 0 {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
    woke
}

fn eoi() {
    let base = EOI_BASE.load(Ordering::Relaxed);
    if base != 0 {
        // SAFETY: the local APIC window `init` checked and enabled; only its EOI
        // register is written through this handle.
        let apic = unsafe { LocalApic::new(base) };
        apic.eoi_handle().send();
    }
}

/// virtio-mmio registers the handler uses to lower a level line.
const MMIO_INTERRUPT_STATUS: u64 = 0x60;
const MMIO_INTERRUPT_ACK: u64 = 0x64;

fn ack_mmio(vector: u8) {
    // The main loop runs with IF = 0, so this lock is never held when an interrupt
    // arrives; `try_lock` keeps a mistake from deadlocking a handler.
    let Some(acks) = MMIO_ACK.try_lock() else {
        return;
    };
    for &(_, base) in acks.iter().filter(|(v, _)| *v == vector) {
        // SAFETY: `base` is a virtio-mmio window the virtio module registered (checked
        // to be identity-mapped when its transport was made). InterruptStatus and
        // InterruptACK are registers of their own that virtio-drivers never uses, so
        // touching them from here races nothing.
        unsafe {
            let status = ((base + MMIO_INTERRUPT_STATUS) as *const u32).read_volatile();
            ((base + MMIO_INTERRUPT_ACK) as *mut u32).write_volatile(status);
        }
    }
}

/// Called by every interrupt stub (vectors 32..256) with the frame it built.
#[no_mangle]
extern "C" fn interrupt_entry(frame: &ExceptionFrame) {
    let vector = frame.vector() as u8;
    if vector == SPURIOUS_VECTOR || (PIC_BASE..PIC_BASE + 16).contains(&vector) {
        // No EOI: a spurious vector is not in service.
        SPURIOUS.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let src = ROUTED[usize::from(vector)].load(Ordering::Relaxed);
    if src == 0 {
        report(frame);
    }
    if (GSI_BASE..MSI_BASE).contains(&vector) {
        ack_mmio(vector);
    }
    PENDING.fetch_or(src, Ordering::AcqRel);
    eoi();
}
