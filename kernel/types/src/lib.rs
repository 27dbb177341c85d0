//! The appliance's domain types, each defined once here so that the configuration,
//! the DTLS engine, the gateway engine and the node share them instead of converting
//! between look-alikes: [`Ipv4Prefix`], [`Fingerprint`], [`Enforcement`], [`Instant`],
//! the default private ranges ([`DEFAULT_PRIVATE`]) and the peer limit ([`MAX_PEERS`]).
//!
//! Guarantees: no input panics (parsing returns an error or `None`); nothing allocates.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod enforcement;
mod fingerprint;
mod limits;
mod prefix;
mod time;

pub use enforcement::Enforcement;
pub use fingerprint::Fingerprint;
pub use limits::{DEFAULT_PRIVATE, MAX_PEERS};
pub use prefix::{Ipv4Prefix, PrefixError};
pub use time::Instant;
