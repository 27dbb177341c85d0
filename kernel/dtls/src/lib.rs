#![no_std]
#![forbid(unsafe_code)]
extern crate alloc;

pub mod codec;
pub mod config;
pub mod connection;
pub mod cookie;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod handshake;
pub mod identity;
pub mod record;
pub mod time;

pub use config::{ClientAuth, Config, PeerPolicy};
pub use connection::{Connection, Event, Stats};
pub use crypto::{AeadBackend, CipherSuite};
pub use endpoint::{Accept, Endpoint};
pub use error::{AlertDescription, Error, RecordError};
pub use identity::{Fingerprint, Identity};
pub use record::{HEADER_ROOM, TAG_ROOM};
pub use time::{Duration, Instant};
