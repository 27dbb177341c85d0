//! `vnetcrypt-provision`: pre-configures an appliance before its first boot.
//!
//! ```text
//! vnetcrypt-provision build COMMANDS_FILE DISK   build a config disk; prints the fingerprint
//! vnetcrypt-provision show DISK                  print the fingerprint and configuration of a disk
//! ```
//!
//! The disk holds the appliance's two configuration slots (see `vnetcrypt_config::store`).
//! `build` generates the appliance's P-256 identity key on this host, stores it in the
//! disk, and prints only the public fingerprint, so peers can pin it before first boot.
//! If DISK already holds a configuration, its identity is kept (re-provisioning does not
//! change the fingerprint) and the new configuration goes to the other slot.

use std::process::ExitCode;

mod disk;

fn usage() -> ExitCode {
    eprintln!(
        "usage:\n  vnetcrypt-provision build COMMANDS_FILE DISK\n  vnetcrypt-provision show DISK\n\n\
         COMMANDS_FILE holds console configuration statements, one per line ('#' starts a comment)."
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
