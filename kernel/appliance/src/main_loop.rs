//! The main loop: console bytes from COM1 go to the line editor, submitted lines to the
//! parser and then to the node (or, for the machine's own commands, to `console`);
//! between bytes the node moves packets. When the node reports no work, the loop waits
//! (`idle::wait_until`) until the node's next deadline or an interrupt.

use crate::console::{self, Appliance, Terminal, VERSION};
use crate::platform::KernelPlatform;
use crate::{clock, idle, rng};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt::Write;
use vnetcrypt_console::{parse, LineEditor, Submit, PROMPT};
use vnetcrypt_drivers::uart16550::{Uart16550, COM1};
use vnetcrypt_node::{BlockDevice, Node, Options, PortSlot};

/// Prints the banner, boots the node and serves the console forever.
pub fn run(
    app: &Appliance<'_>,
    ports: Vec<PortSlot>,
    disks: Vec<Box<dyn BlockDevice>>,
    options: Options,
    entry_tsc: u64,
) -> ! {
    // SAFETY: COM1 is the console's; only this loop drives it (the fault report
    // takes it over only to stop the machine).
    let mut uart = unsafe { Uart16550::new(COM1) };
    uart.init();
    let mut term = Terminal::new(uart);
    if rng::source().is_none() {
        let _ = writeln!(
            term,
            "warning: this CPU has neither RDSEED nor RDRAND: the random number generator is \
             unavailable and key generation will be refused"
        );
    }
    let _ = writeln!(term, "vnetcrypt {VERSION} on {}", app.machine);
    // The running configuration and identity, from the configuration disk (a dedicated
    // one wins over a boot image's partition).
    let disk = vnetcrypt_node::choose_config_disk(disks, &mut term);
    let mut node = Node::boot(Box::new(KernelPlatform), ports, disk, options, &mut term);
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
            // Traffic keeps the loop polling; with none, wait for the next deadline.
            if !node.poll() {
                idle::wait_until(node.poll_at());
            }
            continue;
        };
        match editor.feed(byte, &mut term) {
            None => continue,
            Some(Submit::Cancelled) => {}
            Some(Submit::Rejected(e)) => {
                let _ = writeln!(term, "error: {e}");
            }
            Some(Submit::Line(line)) => match parse(line) {
                Ok(cmd) => {
                    if !node.execute(&cmd, &mut term) {
                        console::execute(cmd, app, &mut node, boot_ns, &mut term);
                    }
                }
                Err(e) => {
                    let _ = writeln!(term, "error: {e}");
                }
            },
        }
        let _ = term.write_str(PROMPT);
    }
}
