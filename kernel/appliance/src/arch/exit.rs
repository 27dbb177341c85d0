//! Stopping and restarting the machine.
//!
//! Under QEMU, `isa-debug-exit` (port 0xf4) ends the process with status
//! `(code << 1) | 1`. The three codes are distinct so the launcher can tell a clean
//! power-off (status 33) from a panic (35) and from a CPU exception (37); none of them
//! is 0, which QEMU also uses for a guest reset under `-no-reboot`. Without the
//! device (other hypervisors, real machines), the CPU halts.

use vnetcrypt_drivers::port::{inb, outb, outl};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    Poweroff = 0x10,
    Panic = 0x11,
    CpuException = 0x12,
}

const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Stops the machine with `code`.
pub fn exit(code: ExitCode) -> ! {
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit when present and unclaimed
    // otherwise; writing it either ends the VM or does nothing.
    unsafe { outl(DEBUG_EXIT_PORT, code as u32) };
    halt_forever()
}

/// Halts with interrupts off, for good.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: `cli; hlt` only stops this CPU.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Resets the machine: the keyboard controller's reset line if there is one, then the
/// reset control register (0xcf9, q35/PIIX), then a triple fault.
pub fn reboot() -> ! {
    // SAFETY: 0x64 is the i8042 command port (unclaimed on microvm, where reads
    // give 0xff); command 0xfe pulses the CPU reset line.
    unsafe {
        if inb(0x64) != 0xff {
            for _ in 0..100_000 {
                if inb(0x64) & 0x02 == 0 {
                    break;
                }
            }
            outb(0x64, 0xfe);
        }
    }
    // SAFETY: 0xcf9 is the reset control register of PC chipsets (unclaimed
    // otherwise); 0x06 requests a hard reset.
    unsafe { outb(0xcf9, 0x06) };
    // SAFETY: an empty IDT makes the breakpoint a triple fault, which resets the CPU;
    // nothing runs after it.
    unsafe {
        let null = [0u8; 10];
        core::arch::asm!("lidt [{}]", "int3", in(reg) &null, options(nostack));
    }
    halt_forever()
}
