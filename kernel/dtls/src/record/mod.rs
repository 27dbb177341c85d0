//! The DTLS 1.2 record layer (RFC 6347 §4.1): headers, splitting a datagram into records,
//! the replay window, and AES-GCM record protection (RFC 5288) in place.
//!
//! Guarantees: nothing here panics on any input; a record that fails to parse, is replayed
//! or fails authentication is reported as a [`crate::RecordError`] and leaves the state
//! unchanged (the replay window is updated only after the tag verifies).

pub mod header;
pub mod protection;
pub mod replay;

pub use header::{ContentType, RecordHeader, Records, HEADER_LEN};
pub use protection::{OpeningKey, RecordLimits, SealingKey, HEADER_ROOM, TAG_ROOM};
pub use replay::ReplayWindow;

/// DTLS 1.2 on the wire.
pub const DTLS_1_2: u16 = 0xFEFD;
/// DTLS 1.0 on the wire (allowed on epoch-0 records and in HelloVerifyRequest).
pub const DTLS_1_0: u16 = 0xFEFF;
