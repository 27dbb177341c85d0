//! The appliance's running configuration, as pure code.
//!
//! - [`Config`] is the model: interfaces, routes on lan, peers, enforcement, private
//!   prefixes, rekey and flow-log collector settings. The identity private key is *not* part of it; it
//!   travels separately ([`store`]) so that nothing that renders a `Config` can leak it.
//! - [`Statement::parse`] reads one configuration line (the same grammar on the console,
//!   in provisioning files and on disk); [`Config::apply`] applies it completely or not
//!   at all; [`Config::write_statements`] prints the statements that rebuild the config
//!   from defaults (`config show`).
//! - [`store`] lays a configuration out in two alternating checksummed slots, so a torn
//!   or corrupt write leaves the previous configuration readable.
//!
//! Guarantees: no input panics; every error names the offending token.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod apply;
pub mod boot;
mod error;
pub mod gpt;
mod model;
mod show;
mod statement;
pub mod store;

pub use error::{ApplyError, StatementError};
pub use model::{
    Collector, CollectorPath, Config, Iface, InterfaceConfig, Liveness, PeerConfig, Rekey,
    DEFAULT_LISTEN_PORT, DEFAULT_METRICS_PORT, MAX_PREFIXES_PER_PEER, MAX_PRIVATE_PREFIXES,
};
// The domain types the configuration speaks in, defined once in `vnetcrypt-types`.
pub use statement::{PeerChange, Statement};
pub use vnetcrypt_types::{
    Enforcement, Fingerprint, Ipv4Prefix, LanRoute, PrefixError, RouteError, MAX_PEERS, MAX_ROUTES,
};
