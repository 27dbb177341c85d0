//! Cryptographic building blocks: the AEAD interface and its backends, the TLS PRF and
//! transcript hashes, the cipher suites and their key schedule.

pub mod aead;
pub mod keys;
pub mod prf;
pub mod suite;

pub use aead::{AeadBackend, AeadKey};
pub use prf::HashAlg;
pub use suite::CipherSuite;
