//! Waiting for work: the main loop's one place to stop the CPU.
//!
//! # Contract
//! The main loop polls every source of work (NICs, console, the node's timers) and
//! calls [`wait_until`] only when a whole poll found nothing to do, with the node's
//! next deadline (`poll_at`); while traffic flows it keeps polling without waiting
//! (NAPI-style: interrupts only end a wait, they never carry work).
//!
//! [`wait_until`] halts the CPU until an interrupt arrives (a NIC used a buffer, a
//! byte came in on COM1) or the deadline passes, then returns; it may return early
//! (the caller then just polls once more). No wake-up is lost: anything that fires
//! after the caller's last poll — even between its "nothing to do" and the halt —
//! ends the wait at once (see `arch::interrupts::sleep`).
//!
//! Interrupts are enabled only inside the wait; the rest of the kernel runs with
//! IF = 0, so no handler ever runs concurrently with the main loop.
//!
//! `idle=poll` on the kernel command line (or a machine without a usable local APIC
//! or calibrated clock) keeps the old behaviour: [`wait_until`] is a spin hint and
//! the appliance busy-polls (the benchmarks' baseline).

use crate::arch::interrupts::{self, source};
use crate::clock;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use vnetcrypt_bootinfo::Cmdline;
use vnetcrypt_drivers::apic::Trigger;

/// The longest single halt when the caller gives no deadline (or a later one): a
/// safety net for code that does not report its timers yet (today's console loop
/// passes `None` while smoltcp and the DTLS engine keep retransmission timers).
pub const MAX_SLEEP_US: u64 = 10_000;

/// How often an idle appliance logs its counters (defmt, COM2).
const REPORT_EVERY_US: u64 = 1_000_000;

static SLEEPING: AtomicBool = AtomicBool::new(false);
static NEXT_REPORT_US: AtomicU64 = AtomicU64::new(REPORT_EVERY_US);

/// How the appliance waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `hlt` until an interrupt or the deadline.
    Halt,
    /// Busy-poll (`idle=poll`, or interrupts unavailable: the reason).
    Poll(&'static str),
}

/// Sets up interrupts and routes the console's and the NICs' lines, unless the command
/// line says `idle=poll`. Call once, after the clock is calibrated and the virtio
/// drivers have initialised their devices (a device reset clears MSI-X queue vectors).
pub fn init(cmdline: &Cmdline<'_>) -> Mode {
    if cmdline.get("idle") == Some(Some("poll")) {
        return Mode::Poll("idle=poll on the command line");
    }
    if let Err(e) = interrupts::init(clock::tsc_hz()) {
        defmt::warn!(
            "interrupts unavailable ({}): the appliance busy-polls",
            defmt::Debug2Format(&e)
        );
        return Mode::Poll("no local APIC or no calibrated clock");
    }
    if !interrupts::route_gsi(interrupts::COM1_GSI, Trigger::Edge, source::CONSOLE, None) {
        defmt::warn!("no I/O APIC input for COM1: console input wakes the CPU only on the timer");
    }
    crate::virtio::route_interrupts();
    crate::igb::route_interrupts();
    SLEEPING.store(true, Ordering::Relaxed);
    Mode::Halt
}

/// Returns when an interrupt may have brought work, or once `deadline_us` (microseconds
/// of uptime, [`clock::uptime_us`]) has passed; it may return early. `None`: no
/// deadline (the wait still ends after [`MAX_SLEEP_US`]).
pub fn wait_until(deadline_us: Option<u64>) {
    if !SLEEPING.load(Ordering::Relaxed) {
        core::hint::spin_loop();
        return;
    }
    let now = clock::uptime_us();
    let limit = now.saturating_add(MAX_SLEEP_US);
    let deadline = deadline_us.map_or(limit, |d| d.min(limit));
    if deadline <= now {
        return;
    }
    if now >= NEXT_REPORT_US.load(Ordering::Relaxed) {
        NEXT_REPORT_US.store(now + REPORT_EVERY_US, Ordering::Relaxed);
        report();
    }
    interrupts::sleep(deadline - now);
}

/// One defmt line with the counters (the QEMU idle test reads it).
fn report() {
    let s = interrupts::stats();
    defmt::info!(
        "idle: sleeps={=u64} already-pending={=u64} woke-by timer={=u64} console={=u64} device={=u64} spurious={=u64}",
        s.sleeps,
        s.already_pending,
        s.timer,
        s.console,
        s.device,
        s.spurious
    );
}
