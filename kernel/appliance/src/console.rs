//! The console loop: bytes from COM1 go to the line editor, submitted lines to the
//! parser, and commands are carried out here and answered through the console
//! crate's renderers. The kernel only moves bytes.

use crate::arch::cpu::Features;
use crate::arch::exit::{exit, reboot, ExitCode};
use crate::datapath::Datapath;
use crate::management::{Changed, Management};
use crate::{clock, heap, rng};
use core::fmt::Write;
use vnetcrypt_console::{
    parse, write_help, write_status, Command, CpuFeatures, DateTime, Device, LineEditor, RngState,
    StatusReport, Submit, View, PROMPT,
};
use vnetcrypt_drivers::rtc::CmosRtc;
use vnetcrypt_drivers::uart16550::{Uart16550, COM1};

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
struct Terminal {
    uart: Uart16550,
    last: u8,
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

/// A `Write` into the defmt log, for messages with no console to go to.
pub struct Log;

impl Write for Log {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let s = s.trim_end();
        if !s.is_empty() {
            defmt::info!("{=str}", s);
        }
        Ok(())
    }
}

/// Prints the banner and serves the console forever.
pub fn run(
    app: &Appliance<'_>,
    net: &mut crate::net::Interfaces,
    disk: Option<alloc::boxed::Box<dyn crate::management::disk::BlockDevice>>,
    entry_tsc: u64,
) -> ! {
    // SAFETY: COM1 is the console's; only this loop drives it (the fault report
    // takes it over only to stop the machine).
    let mut uart = unsafe { Uart16550::new(COM1) };
    uart.init();
    let mut term = Terminal { uart, last: 0 };
    if rng::source().is_none() {
        let _ = writeln!(
            term,
            "warning: this CPU has neither RDSEED nor RDRAND: the random number generator is \
             unavailable and key generation will be refused"
        );
    }
    let _ = writeln!(term, "vnetcrypt {VERSION} on {}", app.machine);
    // The running configuration and identity, from the configuration disk.
    let mut mgmt = Management::boot(disk, &mut term);
    if let Err((role, e)) = net.apply(&mgmt.config) {
        let _ = writeln!(term, "config: interface {}: {e}", role.name());
    }
    let mut dp = Datapath::new();
    dp.reconfigure(&mgmt.config, mgmt.engine_identity(), net, &mut term);
    let boot_tsc = crate::arch::cpu::rdtsc();
    let boot_ns = clock::tsc_delta_ns(entry_tsc, boot_tsc);
    let _ = writeln!(
        term,
        "boot: kernel entry to prompt {}.{:03} ms",
        boot_ns / 1_000_000,
        boot_ns / 1000 % 1000
    );
    defmt::info!(
        "console ready, kernel entry to prompt {=u64} us",
        boot_ns / 1000
    );
    let _ = term.write_str(PROMPT);

    let mut editor = LineEditor::new();
    loop {
        let Some(byte) = term.uart.try_read() else {
            net.poll();
            dp.poll(net, &mgmt.config, mgmt.engine_identity());
            crate::idle::wait_until(None);
            continue;
        };
        match editor.feed(byte, &mut term) {
            None => continue,
            Some(Submit::Cancelled) => {}
            Some(Submit::Rejected(e)) => {
                let _ = writeln!(term, "error: {e}");
            }
            Some(Submit::Line(line)) => match parse(line) {
                Ok(cmd) => dispatch(cmd, app, net, &mut mgmt, &mut dp, boot_ns, &mut term),
                Err(e) => {
                    let _ = writeln!(term, "error: {e}");
                }
            },
        }
        let _ = term.write_str(PROMPT);
    }
}

/// Hands a command to the subsystem it belongs to: interfaces, then management
/// (configuration, identity, persistence), then the console's own commands.
fn dispatch(
    cmd: Command<'_>,
    app: &Appliance<'_>,
    net: &mut crate::net::Interfaces,
    mgmt: &mut Management,
    dp: &mut Datapath,
    boot_ns: u64,
    w: &mut dyn Write,
) {
    if crate::net::execute(&cmd, &mut mgmt.config, net, w) {
        if matches!(cmd, Command::Set(_)) {
            mgmt.unsaved = true;
            dp.reconfigure(&mgmt.config, mgmt.engine_identity(), net, w);
        }
        return;
    }
    let shown = match cmd {
        Command::Show(View::Peers) => Some(dp.write_peers(&mgmt.config, None, w)),
        Command::Show(View::Peer(name)) => Some(dp.write_peers(&mgmt.config, Some(name), w)),
        Command::Show(View::Sessions) => Some(dp.write_sessions(w)),
        Command::Show(View::Counters) => Some(dp.write_counters(net, w)),
        Command::Show(View::Flows) => Some(dp.write_flows(w)),
        _ => None,
    };
    if shown.is_some() {
        return;
    }
    match mgmt.handle(&cmd, w) {
        Some(Changed::Config) => {
            if let Err((role, e)) = net.apply(&mgmt.config) {
                let _ = writeln!(w, "error: interface {}: {e}", role.name());
            }
            dp.reconfigure(&mgmt.config, mgmt.engine_identity(), net, w);
        }
        Some(Changed::Identity) => dp.reconfigure(&mgmt.config, mgmt.engine_identity(), net, w),
        Some(Changed::Nothing) => {}
        None => execute(cmd, app, mgmt, boot_ns, w),
    }
}

#[allow(unused_variables)] // `mgmt` is used by test-build commands only
fn execute(
    cmd: Command<'_>,
    app: &Appliance<'_>,
    mgmt: &mut Management,
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
            mgmt.torn_save(sectors, w);
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
    // SAFETY: 0x70/0x71 are the CMOS RTC on PC machines and microvm; only `status`
    // reads it.
    let rtc = unsafe { CmosRtc::new() }.read();
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
        wall_clock: rtc.map(|t| DateTime {
            year: t.year,
            month: t.month,
            day: t.day,
            hour: t.hour,
            minute: t.minute,
            second: t.second,
        }),
        machine: app.machine,
        devices: app.devices,
    }
}
