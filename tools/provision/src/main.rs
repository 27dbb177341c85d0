//! `vnetcrypt-provision`: pre-configures an appliance before its first boot.
//!
//! ```text
//! vnetcrypt-provision build COMMANDS_FILE DISK   build a config disk; prints the fingerprint
//! vnetcrypt-provision show DISK                  print the fingerprint and configuration of a disk
//! vnetcrypt-provision fleet INVENTORY OUTDIR      one disk per gateway of a fleet, and a summary
//! ```
//!
//! The disk holds the appliance's two configuration slots (see `vnetcrypt_config::store`).
//! `build` generates the appliance's P-256 identity key on this host, stores it in the
//! disk, and prints only the public fingerprint, so peers can pin it before first boot.
//! If DISK already holds a configuration, its identity is kept (re-provisioning does not
//! change the fingerprint) and the new configuration goes to the other slot.
//!
//! `fleet` reads an inventory of gateways (`inventory.rs` describes its lines), and
//! writes `OUTDIR/NAME.disk` for each, with every peer's pin in place, plus
//! `OUTDIR/summary.txt` (name, role, wan endpoint, fingerprint, prefixes).

use std::process::ExitCode;

mod disk;
mod fleet;
mod inventory;

fn usage() -> ExitCode {
    eprintln!(
        "usage:\n  vnetcrypt-provision build COMMANDS_FILE DISK\n  vnetcrypt-provision show DISK\n  \
         vnetcrypt-provision fleet INVENTORY OUTDIR\n\n\
         COMMANDS_FILE holds console configuration statements, one per line ('#' starts a comment).\n\
         INVENTORY lists the gateways of a fleet (see README, \"Provisioning a fleet\")."
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["build", commands, disk] => disk::build(commands.as_ref(), disk.as_ref()),
        ["show", disk] => disk::show(disk.as_ref()),
        ["fleet", inventory, out] => fleet::run(inventory.as_ref(), out.as_ref()),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vnetcrypt-provision: {e}");
            ExitCode::FAILURE
        }
    }
}
