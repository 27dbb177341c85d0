//! The console on COM1 (a terminal that turns `\n` into `\r\n`) and the commands
//! about the machine itself (`status`, `version`, `reboot`, `poweroff`, test faults),
//! answered through the console crate's renderers. The node's own commands are the
//! node's (`vnetcrypt_node::Node::execute`).

use crate::arch::cpu::Features;
use crate::arch::exit::{exit, reboot, ExitCode};
use crate::{clock, heap, rng};
use core::fmt::Write;
use vnetcrypt_console::{
    write_help, write_status, Command, CpuFeatures, Device, RngState, StatusReport,
};
use vnetcrypt_drivers::uart16550::Uart16550;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `status` reports that does not change after boot.
pub struct Appliance<'a> {
    pub machine: &'a str,
    pub devices: &'a [Device],
    pub cpu: Features,
    pub mem_total: u64,
    pub kernel_bytes: u64,
}

/// A UART writer that turns a lone `\n` into `\r\n` (renderers already sending
/// `\r\n` are left as they are).
pub struct Terminal {
    pub uart: Uart16550,
    last: u8,
}

impl Terminal {
    pub fn new(uart: Uart16550) -> Self {
        Self { uart, last: 0 }
    }
}

impl Write for Terminal {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if b == b'\n' && self.last != b'\r' {
                self.uart.write_byte(b'\r');
            }
            self.uart.write_byte(b);
            self.last = b;
        }
        Ok(())
    }
}

/// Carries out a command about the machine (the node has declined it).
pub fn execute(
    cmd: Command<'_>,
    app: &Appliance<'_>,
    node: &mut vnetcrypt_node::Node,
    boot_ns: u64,
    w: &mut dyn Write,
) {
    match cmd {
        Command::Empty => {}
        Command::Help(topic) => {
            let _ = write_help(topic, w);
        }
        Command::Version => {
            let _ = writeln!(w, "vnetcrypt {VERSION}");
        }
        Command::Status => {
            // Health at a glance first: peers up/down/failing, enforcement, uptime.
            let _ = node.write_health(w);
            let _ = write_status(&status(app, boot_ns), w);
        }
        Command::Reboot => {
            let _ = writeln!(w, "rebooting");
            defmt::info!("reboot requested");
            reboot();
        }
        Command::Poweroff => {
            let _ = writeln!(w, "powering off");
            defmt::info!("poweroff requested");
            exit(ExitCode::Poweroff);
        }
        #[cfg(feature = "test-faults")]
        Command::TornSave(sectors) => {
            // What a power cut mid-save leaves: some sectors written, then nothing.
            node.torn_save(sectors, w);
            let _ = writeln!(w, "powering off (simulated power cut)");
            exit(ExitCode::Poweroff);
        }
        #[cfg(feature = "test-faults")]
        Command::Fault(kind) => {
            let _ = writeln!(w, "triggering {kind:?}");
            crate::arch::fault::trigger(kind);
        }
        #[allow(unreachable_patterns)]
        _ => {
            let _ = writeln!(w, "error: this command is not available in this build yet");
        }
    }
}

fn status<'a>(app: &'a Appliance<'a>, boot_ns: u64) -> StatusReport<'a> {
    StatusReport {
        version: VERSION,
        uptime_ms: clock::uptime_ns() / 1_000_000,
        boot_ms: boot_ns / 1_000_000,
        mem_total: app.mem_total,
        mem_used: app.kernel_bytes + heap::used(),
        cpu: CpuFeatures {
            aesni: app.cpu.aesni,
            pclmulqdq: app.cpu.pclmulqdq,
            rdrand: app.cpu.rdrand,
            rdseed: app.cpu.rdseed,
            avx: app.cpu.avx,
            avx2: app.cpu.avx2,
        },
        rng: match rng::source() {
            Some(source) => RngState::Seeded { source },
            None => RngState::Unavailable,
        },
        tsc_hz: clock::tsc_hz(),
        wall_clock: crate::platform::rtc_now(),
        machine: app.machine,
        devices: app.devices,
    }
}
