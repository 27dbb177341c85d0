//! The NIC underlay's decisions, as pure code: which received frames reach the
//! appliance's IP stack, which are transit traffic for the data plane, and which are
//! dropped — under which reason ([`DropReason`]) — plus the per-interface [`Counters`]
//! and the [`ArpLimiter`] that keeps an ARP flood from starving everything else.
//!
//! Guarantees: no input panics ([`screen`] accepts any byte string; all parsing goes
//! through `smoltcp::wire`'s checked views); nothing allocates.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod arp;
mod counters;
mod screen;

pub use arp::ArpLimiter;
pub use counters::{Counters, DropReason};
pub use screen::{screen, Identity, Verdict};
