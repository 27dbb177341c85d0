//! Time as the caller sees it: the engine never reads a clock.
//!
//! [`Instant`] (from `vnetcrypt-types`, shared with the gateway engine and the node) is
//! a count of microseconds since an arbitrary origin chosen by the caller (boot,
//! process start, a virtual clock); spans are `core::time::Duration`. Only differences
//! between instants matter.

pub use core::time::Duration;
pub use vnetcrypt_types::Instant;
