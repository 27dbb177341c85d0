//! The appliance's serial console, as pure code.
//!
//! The kernel only moves bytes: each byte read from COM1 goes to [`LineEditor::feed`],
//! a submitted line goes to [`parse`], and the resulting [`Command`] is carried out by
//! the kernel, which renders its answers with the `write_*` functions here.
//!
//! Guarantees: nothing here allocates, and no input — binary garbage, overlong lines,
//! invalid UTF-8 — can panic; it is rejected with an error that says what was wrong.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod command;
mod health;
mod help;
pub mod json;
mod line;
mod peers;
mod routes;
mod sessions;
mod status;

pub use command::{parse, Command, FaultKind, JsonView, ParseError, View};
pub use health::{write_health, Health};
pub use help::write_help;
pub use line::{LineEditor, LineError, Submit, LINE_CAPACITY};
pub use peers::{
    write_peer, Elapsed, PeerReport, TunnelFailure, TunnelState, TunnelStatus, TunnelTraffic,
};
pub use routes::{write_routes, NextHop};
pub use sessions::{write_peers_json, write_sessions, write_sessions_json};
pub use status::{write_status, CpuFeatures, DateTime, Device, DeviceAddr, RngState, StatusReport};
pub use vnetcrypt_config as config;

/// What the console prints when it is ready for a command.
pub const PROMPT: &str = "vnetcrypt> ";
