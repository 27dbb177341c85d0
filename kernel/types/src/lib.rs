//! The appliance's domain types, each defined once here so that the configuration,
//! the DTLS engine, the gateway engine and the node share them instead of converting
//! between look-alikes: [`Ipv4Prefix`], [`Fingerprint`], [`Enforcement`], [`Instant`],
//! [`LanRoute`], the default private ranges ([`DEFAULT_PRIVATE`]) and the peer and route
//! limits ([`MAX_PEERS`], [`MAX_ROUTES`]).
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
mod route;
mod time;

pub use enforcement::Enforcement;
pub use fingerprint::Fingerprint;
pub use limits::{DEFAULT_PRIVATE, MAX_PEERS, MAX_ROUTES};
pub use prefix::{Ipv4Prefix, PrefixError};
pub use route::{check_routes, LanRoute, RouteError};
pub use time::Instant;
