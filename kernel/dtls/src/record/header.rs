//! Record headers and splitting a datagram into records.

use crate::codec::{Reader, Writer};
use alloc::vec::Vec;

/// Length of a DTLS record header: type, version, epoch, 48-bit sequence, length.
pub const HEADER_LEN: usize = 13;

/// Largest ciphertext length we accept (2^14 + 2048, RFC 5246 §6.2.3).
pub const MAX_CIPHERTEXT_LEN: usize = 16384 + 2048;

/// Record content types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentType {
    /// change_cipher_spec (20).
    ChangeCipherSpec,
    /// alert (21).
    Alert,
    /// handshake (22).
    Handshake,
    /// application_data (23).
    ApplicationData,
}

impl ContentType {
    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            ContentType::ChangeCipherSpec => 20,
            ContentType::Alert => 21,
            ContentType::Handshake => 22,
            ContentType::ApplicationData => 23,
        }
    }

    /// The type for a wire code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            20 => Some(ContentType::ChangeCipherSpec),
            21 => Some(ContentType::Alert),
            22 => Some(ContentType::Handshake),
            23 => Some(ContentType::ApplicationData),
            _ => None,
        }
    }
}

/// A parsed record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// Content type.
    pub content_type: ContentType,
    /// Protocol version on the wire.
    pub version: u16,
    /// Epoch.
    pub epoch: u16,
    /// 48-bit sequence number.
    pub seq: u64,
    /// Length of the body that follows.
    pub length: u16,
}

impl RecordHeader {
    /// Parses a header from the start of `buf`.
    pub fn parse(buf: &[u8]) -> Option<RecordHeader> {
        let mut r = Reader::new(buf.get(..HEADER_LEN)?);
        let content_type = ContentType::from_code(r.u8().ok()?)?;
        let version = r.u16().ok()?;
        if version >> 8 != 0xFE {
            return None;
        }
        Some(RecordHeader {
            content_type,
            version,
            epoch: r.u16().ok()?,
            seq: r.u48().ok()?,
            length: r.u16().ok()?,
        })
    }

    /// Writes the header into the first 13 bytes of `out` (which must be that long).
    pub fn write_to(&self, out: &mut [u8]) {
        out[0] = self.content_type.code();
        out[1..3].copy_from_slice(&self.version.to_be_bytes());
        out[3..5].copy_from_slice(&self.epoch.to_be_bytes());
        out[5..11].copy_from_slice(&self.seq.to_be_bytes()[2..]);
        out[11..13].copy_from_slice(&self.length.to_be_bytes());
    }

    /// Appends the header to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u8(self.content_type.code());
        out.put_u16(self.version);
        out.put_u16(self.epoch);
        out.put_u48(self.seq);
        out.put_u16(self.length);
    }
}

/// Iterates over the records of a datagram. Stops at the first malformed record (its
/// length cannot be trusted, so nothing after it can be framed): see [`Records::malformed`].
#[derive(Debug)]
pub struct Records<'a> {
    rest: &'a [u8],
    malformed: bool,
}

impl<'a> Records<'a> {
    /// The records of `datagram`.
    pub fn new(datagram: &'a [u8]) -> Self {
        Records {
            rest: datagram,
            malformed: false,
        }
    }

    /// Whether iteration stopped on a malformed record.
    pub fn malformed(&self) -> bool {
        self.malformed
    }
}

impl<'a> Iterator for Records<'a> {
    /// The header and the whole record (header included).
    type Item = (RecordHeader, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some(h) = RecordHeader::parse(self.rest) else {
            self.malformed = true;
            self.rest = &[];
            return None;
        };
        let total = HEADER_LEN + h.length as usize;
        if self.rest.len() < total || h.length as usize > MAX_CIPHERTEXT_LEN {
            self.malformed = true;
            self.rest = &[];
            return None;
        }
        let (rec, tail) = self.rest.split_at(total);
        self.rest = tail;
        Some((h, rec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // An epoch-0 handshake record header followed by a 2-byte body, then an
    // application_data record of epoch 1, sequence 0x0102030405.
    const TWO_RECORDS: [u8; 30] = [
        22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 7, 0, 2, 0xaa, 0xbb, //
        23, 0xfe, 0xfd, 0, 1, 0, 1, 2, 3, 4, 5, 0, 2, 0xcc, 0xdd,
    ];

    #[test]
    fn splits_a_datagram_into_records() {
        let mut it = Records::new(&TWO_RECORDS);
        let (h, rec) = it.next().unwrap();
        assert_eq!(h.content_type, ContentType::Handshake);
        assert_eq!((h.epoch, h.seq, h.length), (0, 7, 2));
        assert_eq!(&rec[HEADER_LEN..], &[0xaa, 0xbb]);
        let (h, _) = it.next().unwrap();
        assert_eq!(h.content_type, ContentType::ApplicationData);
        assert_eq!((h.epoch, h.seq), (1, 0x0102030405));
        assert!(it.next().is_none());
        assert!(!it.malformed());
    }

    #[test]
    fn header_round_trips() {
        let (h, _) = Records::new(&TWO_RECORDS[15..]).next().unwrap();
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(&out[..], &TWO_RECORDS[15..28]);
        let mut fixed = [0u8; HEADER_LEN];
        h.write_to(&mut fixed);
        assert_eq!(&fixed[..], &TWO_RECORDS[15..28]);
    }

    #[test]
    fn truncated_or_unknown_records_stop_iteration() {
        let mut it = Records::new(&TWO_RECORDS[..29]);
        assert!(it.next().is_some());
        assert!(it.next().is_none());
        assert!(it.malformed());
        let mut bad = TWO_RECORDS;
        bad[0] = 99;
        let mut it = Records::new(&bad);
        assert!(it.next().is_none());
        assert!(it.malformed());
        bad[0] = 22;
        bad[1] = 0x03; // TLS, not DTLS
        assert!(Records::new(&bad).next().is_none());
    }
}
