//! AES-GCM record protection (RFC 5288 with RFC 6347's sequence numbers), in place.
//!
//! A protected record is `header(13) | explicit_nonce(8) | ciphertext | tag(16)`.
//! nonce = implicit salt(4) | explicit_nonce(8); we send epoch|seq as the explicit part,
//! and always take the peer's explicit nonce from the record.
//! additional_data = epoch(2) | seq(6) | type(1) | version(2) | plaintext length(2).
//!
//! Neither call allocates. Constant-time: tag verification (in the AEAD backend); the
//! replay check depends only on public sequence numbers.

use super::header::{ContentType, RecordHeader, HEADER_LEN};
use super::replay::ReplayWindow;
use super::DTLS_1_2;
use crate::crypto::aead::{AeadKey, NONCE_LEN, TAG_LEN};
use crate::error::RecordError;
use core::ops::Range;

/// Explicit nonce length.
pub const EXPLICIT_NONCE_LEN: usize = 8;
/// Bytes to leave in front of a payload for [`SealingKey::seal_in_place`].
pub const HEADER_ROOM: usize = HEADER_LEN + EXPLICIT_NONCE_LEN;
/// Bytes to leave behind a payload for the tag.
pub const TAG_ROOM: usize = TAG_LEN;
/// Largest sequence number DTLS can carry.
pub const MAX_SEQ: u64 = (1 << 48) - 1;

/// When to ask for a new handshake and when to refuse to send or receive.
///
/// The defaults follow the AES-GCM bounds (RFC 9147 §4.5.3 and the AEBounds analysis it
/// cites) for records of at most 2^11 bytes (ours are MTU-sized): confidentiality stays
/// within 2^-57 for q·l ≤ 2^35.5 blocks, so 2^28 records of ≤ 128 blocks; the integrity
/// limit for forgery attempts is 2^36 failed opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordLimits {
    /// Sealed records after which [`SealingKey::wants_rekey`] is true.
    pub soft_seal: u64,
    /// Sealed records after which sealing is refused.
    pub hard_seal: u64,
    /// Failed opens after which the key is abandoned.
    pub max_failed_opens: u64,
}

impl Default for RecordLimits {
    fn default() -> Self {
        RecordLimits {
            soft_seal: 1 << 27,
            hard_seal: 1 << 28,
            max_failed_opens: 1 << 36,
        }
    }
}

fn nonce(salt: &[u8; 4], explicit: &[u8]) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[..4].copy_from_slice(salt);
    n[4..].copy_from_slice(explicit);
    n
}

fn aad(epoch: u16, seq: u64, ct: ContentType, len: usize) -> [u8; 13] {
    let mut a = [0u8; 13];
    a[..2].copy_from_slice(&epoch.to_be_bytes());
    a[2..8].copy_from_slice(&seq.to_be_bytes()[2..]);
    a[8] = ct.code();
    a[9..11].copy_from_slice(&DTLS_1_2.to_be_bytes());
    a[11..13].copy_from_slice(&(len as u16).to_be_bytes());
    a
}

/// Our write direction for one epoch.
#[derive(Debug)]
pub struct SealingKey {
    key: AeadKey,
    salt: [u8; 4],
    epoch: u16,
    next_seq: u64,
    sealed: u64,
    limits: RecordLimits,
}

impl SealingKey {
    /// A key for `epoch`, starting at sequence number 0.
    pub fn new(key: AeadKey, salt: [u8; 4], epoch: u16, limits: RecordLimits) -> Self {
        SealingKey {
            key,
            salt,
            epoch,
            next_seq: 0,
            sealed: 0,
            limits,
        }
    }

    /// The epoch this key writes.
    pub fn epoch(&self) -> u16 {
        self.epoch
    }

    /// Records sealed so far.
    pub fn sealed(&self) -> u64 {
        self.sealed
    }

    /// Whether the soft limit was reached: start a new handshake soon.
    pub fn wants_rekey(&self) -> bool {
        self.sealed >= self.limits.soft_seal
    }

    /// Seals the `payload_len` bytes at `buf[HEADER_ROOM..]` into one record that starts at
    /// `buf[0]`, and returns the record's length (`HEADER_ROOM + payload_len + TAG_ROOM`).
    pub fn seal_in_place(
        &mut self,
        content_type: ContentType,
        buf: &mut [u8],
        payload_len: usize,
    ) -> Result<usize, RecordError> {
        let total = HEADER_ROOM + payload_len + TAG_ROOM;
        if buf.len() < total || payload_len > 16384 {
            return Err(RecordError::BufferTooSmall);
        }
        if self.next_seq > MAX_SEQ || self.sealed >= self.limits.hard_seal {
            return Err(RecordError::SequenceExhausted);
        }
        let seq = self.next_seq;
        let header = RecordHeader {
            content_type,
            version: DTLS_1_2,
            epoch: self.epoch,
            seq,
            length: (EXPLICIT_NONCE_LEN + payload_len + TAG_LEN) as u16,
        };
        header.write_to(&mut buf[..HEADER_LEN]);
        let explicit = ((self.epoch as u64) << 48 | seq).to_be_bytes();
        buf[HEADER_LEN..HEADER_ROOM].copy_from_slice(&explicit);
        let n = nonce(&self.salt, &explicit);
        let a = aad(self.epoch, seq, content_type, payload_len);
        let (body, tail) = buf[HEADER_ROOM..total].split_at_mut(payload_len);
        let tag = self
            .key
            .seal_in_place(&n, &a, body)
            .map_err(|_| RecordError::BufferTooSmall)?;
        tail.copy_from_slice(&tag);
        self.next_seq += 1;
        self.sealed += 1;
        Ok(total)
    }
}

// The implicit salts are wiped on drop with the key block they came from; the expanded AES
// keys live in the AEAD backend: RustCrypto's `aes` wipes its round keys on drop (its
// `zeroize` feature of `aes-gcm` also wipes the GHASH key while deriving it); `ring` offers
// no wiping of its key schedule.
impl Drop for SealingKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.salt);
    }
}

impl Drop for OpeningKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.salt);
    }
}

/// The peer's write direction for one epoch, with its replay window.
#[derive(Debug)]
pub struct OpeningKey {
    key: AeadKey,
    salt: [u8; 4],
    epoch: u16,
    window: ReplayWindow,
    failed: u64,
    limits: RecordLimits,
}

impl OpeningKey {
    /// A key for the peer's records of `epoch`.
    pub fn new(key: AeadKey, salt: [u8; 4], epoch: u16, limits: RecordLimits) -> Self {
        OpeningKey {
            key,
            salt,
            epoch,
            window: ReplayWindow::new(),
            failed: 0,
            limits,
        }
    }

    /// The epoch this key reads.
    pub fn epoch(&self) -> u16 {
        self.epoch
    }

    /// Records that failed authentication so far.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Whether the integrity limit was reached (the key must be abandoned).
    pub fn exhausted(&self) -> bool {
        self.failed >= self.limits.max_failed_opens
    }

    /// Opens one whole record (header included) in place. Returns its header and the range
    /// of `record` that holds the plaintext.
    pub fn open_in_place(
        &mut self,
        record: &mut [u8],
    ) -> Result<(RecordHeader, Range<usize>), RecordError> {
        let header = RecordHeader::parse(record).ok_or(RecordError::Malformed)?;
        if HEADER_LEN + header.length as usize != record.len() {
            return Err(RecordError::Malformed);
        }
        if header.epoch != self.epoch {
            return Err(RecordError::WrongEpoch);
        }
        if header.version != DTLS_1_2 {
            return Err(RecordError::Malformed);
        }
        let body_len = header.length as usize;
        if body_len < EXPLICIT_NONCE_LEN + TAG_LEN {
            return Err(RecordError::Malformed);
        }
        if !self.window.check(header.seq) {
            return Err(RecordError::Replayed);
        }
        if self.exhausted() {
            return Err(RecordError::BadTag);
        }
        let plain_len = body_len - EXPLICIT_NONCE_LEN - TAG_LEN;
        let n = nonce(&self.salt, &record[HEADER_LEN..HEADER_ROOM]);
        let a = aad(header.epoch, header.seq, header.content_type, plain_len);
        let (body, tag) = record[HEADER_ROOM..].split_at_mut(plain_len);
        let mut tag_arr = [0u8; TAG_LEN];
        tag_arr.copy_from_slice(tag);
        if self.key.open_in_place(&n, &a, body, &tag_arr).is_err() {
            self.failed += 1;
            return Err(RecordError::BadTag);
        }
        self.window.update(header.seq);
        Ok((header, HEADER_ROOM..HEADER_ROOM + plain_len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::aead::all_backends;
    use alloc::vec;

    fn pair(
        backend: crate::AeadBackend,
        key_len: usize,
        limits: RecordLimits,
    ) -> (SealingKey, OpeningKey) {
        let k = vec![7u8; key_len];
        (
            SealingKey::new(AeadKey::new(backend, &k).unwrap(), [1, 2, 3, 4], 1, limits),
            OpeningKey::new(AeadKey::new(backend, &k).unwrap(), [1, 2, 3, 4], 1, limits),
        )
    }

    #[test]
    fn seal_open_round_trip_and_replay() {
        for &b in all_backends() {
            for key_len in [16, 32] {
                let (mut s, mut o) = pair(b, key_len, RecordLimits::default());
                let mut buf = [0u8; 100];
                buf[HEADER_ROOM..HEADER_ROOM + 5].copy_from_slice(b"hello");
                let n = s
                    .seal_in_place(ContentType::ApplicationData, &mut buf, 5)
                    .unwrap();
                assert_eq!(n, HEADER_ROOM + 5 + TAG_ROOM);
                assert_ne!(&buf[HEADER_ROOM..HEADER_ROOM + 5], b"hello");
                let copy = buf;
                let (h, r) = o.open_in_place(&mut buf[..n]).unwrap();
                assert_eq!(h.seq, 0);
                assert_eq!(&buf[r], b"hello");
                let mut again = copy;
                assert_eq!(o.open_in_place(&mut again[..n]), Err(RecordError::Replayed));
            }
        }
    }

    #[test]
    fn forged_record_does_not_move_the_window() {
        for &b in all_backends() {
            let (mut s, mut o) = pair(b, 16, RecordLimits::default());
            let mut buf = [0u8; 64];
            let n = s
                .seal_in_place(ContentType::ApplicationData, &mut buf, 10)
                .unwrap();
            let mut forged = buf;
            forged[HEADER_ROOM] ^= 1;
            assert_eq!(o.open_in_place(&mut forged[..n]), Err(RecordError::BadTag));
            assert_eq!(o.failed(), 1);
            assert!(o.open_in_place(&mut buf[..n]).is_ok());
        }
    }

    #[test]
    fn explicit_nonce_is_taken_from_the_record() {
        // A peer that chooses its explicit nonce differently (here: a counter unrelated to
        // the sequence number) must still be opened: rebuild such a record by hand.
        let b = all_backends()[0];
        let key = AeadKey::new(b, &[9u8; 16]).unwrap();
        let salt = [5, 6, 7, 8];
        let mut rec = [0u8; HEADER_ROOM + 4 + TAG_ROOM];
        let header = RecordHeader {
            content_type: ContentType::ApplicationData,
            version: DTLS_1_2,
            epoch: 1,
            seq: 3,
            length: (8 + 4 + 16) as u16,
        };
        header.write_to(&mut rec);
        let explicit = [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 42];
        rec[HEADER_LEN..HEADER_ROOM].copy_from_slice(&explicit);
        rec[HEADER_ROOM..HEADER_ROOM + 4].copy_from_slice(b"ping");
        let tag = key
            .seal_in_place(
                &nonce(&salt, &explicit),
                &aad(1, 3, ContentType::ApplicationData, 4),
                &mut rec[HEADER_ROOM..HEADER_ROOM + 4],
            )
            .unwrap();
        rec[HEADER_ROOM + 4..].copy_from_slice(&tag);
        let mut o = OpeningKey::new(
            AeadKey::new(b, &[9u8; 16]).unwrap(),
            salt,
            1,
            RecordLimits::default(),
        );
        let (_, r) = o.open_in_place(&mut rec).unwrap();
        assert_eq!(&rec[r], b"ping");
    }

    #[test]
    fn limits_ask_for_rekey_then_refuse() {
        let limits = RecordLimits {
            soft_seal: 2,
            hard_seal: 3,
            max_failed_opens: 1,
        };
        let (mut s, mut o) = pair(all_backends()[0], 16, limits);
        let mut buf = [0u8; 64];
        for i in 0..3 {
            assert_eq!(s.wants_rekey(), i >= 2);
            s.seal_in_place(ContentType::ApplicationData, &mut buf, 1)
                .unwrap();
        }
        assert_eq!(
            s.seal_in_place(ContentType::ApplicationData, &mut buf, 1),
            Err(RecordError::SequenceExhausted)
        );
        let n = HEADER_ROOM + 1 + TAG_ROOM;
        let mut bad = buf;
        bad[n - 1] ^= 1;
        assert_eq!(o.open_in_place(&mut bad[..n]), Err(RecordError::BadTag));
        assert!(o.exhausted());
        assert_eq!(o.open_in_place(&mut buf[..n]), Err(RecordError::BadTag));
    }

    #[test]
    fn short_buffers_and_wrong_epochs_are_errors() {
        let (mut s, mut o) = pair(all_backends()[0], 16, RecordLimits::default());
        let mut small = [0u8; HEADER_ROOM + TAG_ROOM];
        assert_eq!(
            s.seal_in_place(ContentType::ApplicationData, &mut small, 1),
            Err(RecordError::BufferTooSmall)
        );
        let mut buf = [0u8; 64];
        let n = s
            .seal_in_place(ContentType::ApplicationData, &mut buf, 3)
            .unwrap();
        buf[4] = 2; // epoch 2
        assert_eq!(o.open_in_place(&mut buf[..n]), Err(RecordError::WrongEpoch));
        assert_eq!(
            o.open_in_place(&mut buf[..n - 1]),
            Err(RecordError::Malformed)
        );
    }
}
