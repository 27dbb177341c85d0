//! The console commands about interfaces: the `interfaces` view and the
//! `interface wan|lan address|gateway|dhcp|mtu` statements, applied at run time.

use super::Interfaces;
use crate::platform::Platform;
use core::fmt::Write;
use vnetcrypt_console::config::{Config, Statement};
use vnetcrypt_console::{Command, View};

/// Carries out `cmd` if it is about interfaces; `false` leaves it to the caller.
/// A statement is applied to the running `config` and then to the NICs; if the NICs
/// refuse it, the configuration is left as it was.
pub fn execute(
    cmd: &Command<'_>,
    config: &mut Config,
    net: &mut Interfaces,
    p: &dyn Platform,
    w: &mut dyn Write,
) -> bool {
    match cmd {
        Command::Show(View::Interfaces) => {
            let _ = net.write_view(w);
            true
        }
        Command::Set(
            st @ (Statement::Address(..)
            | Statement::Gateway(..)
            | Statement::Dhcp(..)
            | Statement::Mtu(..)),
        ) => {
            let before = config.clone();
            if let Err(e) = config.apply(st.clone()) {
                let _ = writeln!(w, "error: {e}");
                return true;
            }
            if let Err((role, e)) = net.apply(config, p) {
                *config = before;
                let _ = net.apply(config, p);
                let _ = writeln!(w, "error: {}: {e}", role.name());
            }
            true
        }
        _ => false,
    }
}
