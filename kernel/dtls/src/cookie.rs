//! Stateless cookies for HelloVerifyRequest (RFC 6347 §4.2.1).
//!
//! cookie = HMAC-SHA-256(secret, peer address | client_version | client random |
//! session_id | cipher_suites). The server keeps no state for a ClientHello until it
//! returns with the cookie, which proves the peer receives at its address. Cookies are
//! compared in constant time.

use crate::crypto::prf::hmac_sha256;
use crate::handshake::msgs::ClientHello;
use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;

/// The server's cookie secret. Wiped on drop.
#[derive(Clone)]
pub struct CookieKey([u8; 32]);

impl Drop for CookieKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl zeroize::ZeroizeOnDrop for CookieKey {}

impl core::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CookieKey(..)")
    }
}

impl CookieKey {
    /// A random secret.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        CookieKey(k)
    }

    /// The cookie for `hello` from `peer_addr` (any stable encoding of the address).
    pub fn cookie(&self, peer_addr: &[u8], hello: &ClientHello) -> [u8; 32] {
        let mut suites = [0u8; 64];
        let n = hello.cipher_suites.len().min(32);
        for (i, s) in hello.cipher_suites[..n].iter().enumerate() {
            suites[2 * i..2 * i + 2].copy_from_slice(&s.to_be_bytes());
        }
        hmac_sha256(
            &self.0,
            &[
                &(peer_addr.len() as u32).to_be_bytes(),
                peer_addr,
                &hello.client_version.to_be_bytes(),
                &hello.random,
                &hello.session_id,
                &suites[..2 * n],
            ],
        )
    }

    /// Whether `hello` carries the cookie we would give it.
    pub fn verify(&self, peer_addr: &[u8], hello: &ClientHello) -> bool {
        // Fuzzers cannot forge an HMAC: any non-empty cookie passes in fuzz builds, so
        // they reach the handshake behind it.
        if cfg!(fuzzing) {
            return !hello.cookie.is_empty();
        }
        hello.cookie.len() == 32
            && bool::from(self.cookie(peer_addr, hello).ct_eq(&hello.cookie[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn cookie_binds_address_and_hello() {
        let key = CookieKey::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(3));
        let mut hello = ClientHello {
            client_version: 0xfefd,
            random: [1; 32],
            session_id: vec![],
            cookie: vec![],
            cipher_suites: vec![0xc02b],
            compression_methods: vec![0],
            extensions: Default::default(),
        };
        assert!(!key.verify(b"10.0.0.1:4433", &hello));
        hello.cookie = key.cookie(b"10.0.0.1:4433", &hello).to_vec();
        assert!(key.verify(b"10.0.0.1:4433", &hello));
        assert!(!key.verify(b"10.0.0.2:4433", &hello));
        hello.random[0] ^= 1;
        assert!(!key.verify(b"10.0.0.1:4433", &hello));
        let other = CookieKey::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(4));
        hello.random[0] ^= 1;
        assert!(!other.verify(b"10.0.0.1:4433", &hello));
    }
}
