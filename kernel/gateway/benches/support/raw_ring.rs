//! The reference the gateway benches measure against: raw `ring` AES-128-GCM seal then
//! open of one record in place, with a fresh nonce each time and a 13-byte AAD, as a DTLS
//! record layer would do it, and nothing else.

use std::hint::black_box;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};

pub struct RawRing {
    key: LessSafeKey,
    seq: u64,
    data: Vec<u8>,
}

impl RawRing {
    /// Room for payloads up to `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        Self {
            key: LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &[7u8; 16]).unwrap()),
            seq: 0,
            data: vec![0u8; max_len + 16],
        }
    }

    /// Seals then opens `len` bytes in place.
    pub fn seal_open(&mut self, len: usize) {
        self.seq += 1;
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.seq.to_be_bytes());
        let aad = [0u8; 13];
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(n),
                Aad::from(aad),
                &mut self.data[..len],
            )
            .unwrap();
        self.data[len..len + 16].copy_from_slice(tag.as_ref());
        self.key
            .open_in_place(
                Nonce::assume_unique_for_key(n),
                Aad::from(aad),
                black_box(&mut self.data[..len + 16]),
            )
            .unwrap();
    }
}
