#![no_std]
#![forbid(unsafe_code)]
extern crate alloc;

pub mod codec;
pub mod crypto;
pub mod error;
pub mod identity;
pub mod record;
pub mod time;

pub use crypto::{AeadBackend, CipherSuite};
pub use error::{AlertDescription, Error, RecordError};
pub use identity::{Fingerprint, Identity};
pub use time::{Duration, Instant};
