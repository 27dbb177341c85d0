//! Shared test support: the session-layer double, packet builders and the simulator.
#![allow(dead_code)]

pub mod double;
#[cfg(feature = "dtls")]
pub mod dtls_net;
pub mod frame_cases;
pub mod frames;
#[cfg(feature = "dtls")]
pub mod nat_net;
pub mod pair;
pub mod pkt;
pub mod sim;
