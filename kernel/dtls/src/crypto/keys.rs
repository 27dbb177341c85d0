//! The TLS 1.2 key schedule: master secret (plain or extended, RFC 7627), key block,
//! Finished verify_data.

use super::prf::{prf, HashAlg};
use super::suite::CipherSuite;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The 48-byte master secret. Zeroed on drop (every clone too: a handshake state holding
/// it is cloned while a flight is on trial).
#[derive(Clone)]
pub struct MasterSecret(pub [u8; 48]);

impl Zeroize for MasterSecret {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Drop for MasterSecret {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for MasterSecret {}

impl MasterSecret {
    /// master_secret = PRF(pms, "extended master secret", session_hash) (RFC 7627).
    pub fn extended(hash: HashAlg, pre_master: &[u8], session_hash: &[u8]) -> Self {
        let mut ms = [0u8; 48];
        prf(
            hash,
            pre_master,
            b"extended master secret",
            session_hash,
            &mut ms,
        );
        MasterSecret(ms)
    }

    /// master_secret = PRF(pms, "master secret", client_random + server_random).
    pub fn classic(
        hash: HashAlg,
        pre_master: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Self {
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(client_random);
        seed[32..].copy_from_slice(server_random);
        let mut ms = [0u8; 48];
        prf(hash, pre_master, b"master secret", &seed, &mut ms);
        MasterSecret(ms)
    }

    /// verify_data = PRF(ms, label, Hash(handshake_messages))[0..12].
    pub fn verify_data(&self, hash: HashAlg, label: &[u8], transcript_hash: &[u8]) -> [u8; 12] {
        let mut out = [0u8; 12];
        prf(hash, &self.0, label, transcript_hash, &mut out);
        out
    }

    /// The key block for an AES-GCM suite: both write keys and both 4-byte implicit IVs.
    pub fn key_block(
        &self,
        suite: CipherSuite,
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> KeyBlock {
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(server_random);
        seed[32..].copy_from_slice(client_random);
        let k = suite.key_len();
        let mut block = [0u8; 2 * 32 + 2 * 4];
        let used = &mut block[..2 * k + 8];
        prf(suite.hash(), &self.0, b"key expansion", &seed, used);
        let mut kb = KeyBlock {
            key_len: k,
            client_key: [0; 32],
            server_key: [0; 32],
            client_iv: [0; 4],
            server_iv: [0; 4],
        };
        kb.client_key[..k].copy_from_slice(&used[..k]);
        kb.server_key[..k].copy_from_slice(&used[k..2 * k]);
        kb.client_iv.copy_from_slice(&used[2 * k..2 * k + 4]);
        kb.server_iv.copy_from_slice(&used[2 * k + 4..2 * k + 8]);
        block.zeroize();
        kb
    }
}

/// Keys derived for one epoch. Zeroed on drop.
pub struct KeyBlock {
    key_len: usize,
    client_key: [u8; 32],
    server_key: [u8; 32],
    /// client_write_IV (the GCM salt).
    pub client_iv: [u8; 4],
    /// server_write_IV (the GCM salt).
    pub server_iv: [u8; 4],
}

impl KeyBlock {
    /// client_write_key.
    pub fn client_key(&self) -> &[u8] {
        &self.client_key[..self.key_len]
    }
    /// server_write_key.
    pub fn server_key(&self) -> &[u8] {
        &self.server_key[..self.key_len]
    }
}

impl Zeroize for KeyBlock {
    fn zeroize(&mut self) {
        self.client_key.zeroize();
        self.server_key.zeroize();
        self.client_iv.zeroize();
        self.server_iv.zeroize();
    }
}

impl Drop for KeyBlock {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for KeyBlock {}
