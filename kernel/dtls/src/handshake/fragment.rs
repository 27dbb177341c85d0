//! Handshake message headers, fragmentation on send and reassembly on receive
//! (RFC 6347 §4.2.3): overlapping and duplicated fragments, messages out of order.
//!
//! Bounds: a message is at most [`MAX_MESSAGE_LEN`] bytes and at most [`MAX_AHEAD`]
//! messages beyond the next expected one are buffered; anything else is dropped.

use crate::codec::{DecodeError, Reader, Writer};
use alloc::vec::Vec;

/// Length of the DTLS handshake header.
pub const HANDSHAKE_HEADER_LEN: usize = 12;
/// Largest handshake message we reassemble.
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;
/// How many messages past the next expected one we keep.
pub const MAX_AHEAD: u16 = 8;

/// A handshake fragment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentHeader {
    pub msg_type: u8,
    pub length: u32,
    pub message_seq: u16,
    pub fragment_offset: u32,
    pub fragment_length: u32,
}

impl FragmentHeader {
    /// Parses one fragment from `r`, returning its header and bytes.
    pub fn parse<'a>(r: &mut Reader<'a>) -> Result<(Self, &'a [u8]), DecodeError> {
        let h = FragmentHeader {
            msg_type: r.u8()?,
            length: r.u24()?,
            message_seq: r.u16()?,
            fragment_offset: r.u24()?,
            fragment_length: r.u24()?,
        };
        let data = r.take(h.fragment_length as usize)?;
        if h.fragment_offset as u64 + h.fragment_length as u64 > h.length as u64 {
            return Err(DecodeError);
        }
        Ok((h, data))
    }

    /// Appends the header.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u8(self.msg_type);
        out.put_u24(self.length);
        out.put_u16(self.message_seq);
        out.put_u24(self.fragment_offset);
        out.put_u24(self.fragment_length);
    }
}

/// A whole handshake message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The record epoch its fragments arrived in (0 for messages we build before keys).
    pub epoch: u16,
    pub msg_type: u8,
    pub message_seq: u16,
    pub body: Vec<u8>,
}

impl Message {
    /// The message as it enters the transcript: an unfragmented header, then the body.
    pub fn transcript_bytes(&self, out: &mut Vec<u8>) {
        FragmentHeader {
            msg_type: self.msg_type,
            length: self.body.len() as u32,
            message_seq: self.message_seq,
            fragment_offset: 0,
            fragment_length: self.body.len() as u32,
        }
        .encode(out);
        out.extend_from_slice(&self.body);
    }

    /// Splits the message into fragments (header included) of at most `max_len` bytes
    /// each (at least one byte of body per fragment).
    pub fn fragments(&self, max_len: usize) -> Vec<Vec<u8>> {
        let room = max_len.saturating_sub(HANDSHAKE_HEADER_LEN).max(1);
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let n = (self.body.len() - offset).min(room);
            let mut frag = Vec::with_capacity(HANDSHAKE_HEADER_LEN + n);
            FragmentHeader {
                msg_type: self.msg_type,
                length: self.body.len() as u32,
                message_seq: self.message_seq,
                fragment_offset: offset as u32,
                fragment_length: n as u32,
            }
            .encode(&mut frag);
            frag.extend_from_slice(&self.body[offset..offset + n]);
            out.push(frag);
            offset += n;
            if offset >= self.body.len() {
                return out;
            }
        }
    }
}

#[derive(Debug)]
struct Partial {
    epoch: u16,
    msg_type: u8,
    seq: u16,
    body: Vec<u8>,
    /// Disjoint, sorted ranges already received.
    have: Vec<(u32, u32)>,
}

impl Partial {
    fn add(&mut self, offset: u32, data: &[u8]) {
        let start = offset as usize;
        self.body[start..start + data.len()].copy_from_slice(data);
        let (mut s, mut e) = (offset, offset + data.len() as u32);
        let mut merged = Vec::with_capacity(self.have.len() + 1);
        for &(a, b) in &self.have {
            if b < s || a > e {
                merged.push((a, b));
            } else {
                s = s.min(a);
                e = e.max(b);
            }
        }
        merged.push((s, e));
        merged.sort_unstable();
        self.have = merged;
    }

    fn complete(&self) -> bool {
        self.have.len() == 1 && self.have[0] == (0, self.body.len() as u32) || self.body.is_empty()
    }
}

/// What became of an incoming fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Stored (or already known) for a message not yet processed.
    Buffered,
    /// Belongs to a message already processed: the peer is retransmitting.
    Old,
    /// Dropped: too far ahead, too long, or inconsistent with earlier fragments.
    Dropped,
}

/// Reassembles the peer's handshake messages in message_seq order.
#[derive(Debug, Default)]
pub struct Reassembler {
    next_seq: u16,
    partial: Vec<Partial>,
}

impl Reassembler {
    /// A reassembler expecting `next_seq` first.
    pub fn new(next_seq: u16) -> Self {
        Reassembler {
            next_seq,
            partial: Vec::new(),
        }
    }

    /// The next message_seq to be delivered.
    pub fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// Restarts at `next_seq`, dropping everything buffered.
    pub fn reset(&mut self, next_seq: u16) {
        self.next_seq = next_seq;
        self.partial.clear();
    }

    /// Takes in one fragment that arrived in a record of `epoch`.
    pub fn insert(&mut self, h: &FragmentHeader, data: &[u8], epoch: u16) -> Accepted {
        if h.message_seq < self.next_seq {
            return Accepted::Old;
        }
        if h.message_seq - self.next_seq > MAX_AHEAD || h.length as usize > MAX_MESSAGE_LEN {
            return Accepted::Dropped;
        }
        let idx = match self.partial.iter().position(|p| p.seq == h.message_seq) {
            Some(i) => {
                let p = &self.partial[i];
                if p.msg_type != h.msg_type || p.body.len() != h.length as usize || p.epoch != epoch
                {
                    return Accepted::Dropped;
                }
                i
            }
            None => {
                self.partial.push(Partial {
                    epoch,
                    msg_type: h.msg_type,
                    seq: h.message_seq,
                    body: alloc::vec![0; h.length as usize],
                    have: Vec::new(),
                });
                self.partial.len() - 1
            }
        };
        self.partial[idx].add(h.fragment_offset, data);
        Accepted::Buffered
    }

    /// The next message, if all of it arrived.
    pub fn pop(&mut self) -> Option<Message> {
        let i = self
            .partial
            .iter()
            .position(|p| p.seq == self.next_seq && p.complete())?;
        let p = self.partial.swap_remove(i);
        self.next_seq = self.next_seq.wrapping_add(1);
        Some(Message {
            epoch: p.epoch,
            msg_type: p.msg_type,
            message_seq: p.seq,
            body: p.body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn parse_all(frags: &[Vec<u8>]) -> Vec<(FragmentHeader, Vec<u8>)> {
        frags
            .iter()
            .map(|f| {
                let mut r = Reader::new(f);
                let (h, d) = FragmentHeader::parse(&mut r).unwrap();
                assert!(r.is_empty());
                (h, d.to_vec())
            })
            .collect()
    }

    #[test]
    fn fragment_fixture() {
        let m = Message {
            epoch: 0,
            msg_type: 11,
            message_seq: 2,
            body: vec![1, 2, 3, 4, 5],
        };
        let f = m.fragments(HANDSHAKE_HEADER_LEN + 2);
        assert_eq!(f.len(), 3);
        assert_eq!(f[1], [11, 0, 0, 5, 0, 2, 0, 0, 2, 0, 0, 2, 3, 4]);
        let mut t = Vec::new();
        m.transcript_bytes(&mut t);
        assert_eq!(t, [11, 0, 0, 5, 0, 2, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn reassembles_out_of_order_overlapping_and_duplicated() {
        let body: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let m1 = Message {
            epoch: 0,
            msg_type: 11,
            message_seq: 1,
            body: body.clone(),
        };
        let m2 = Message {
            epoch: 0,
            msg_type: 14,
            message_seq: 2,
            body: vec![],
        };
        let mut frags = parse_all(&m1.fragments(100));
        // Overlapping fragments of another size for the same message.
        frags.extend(parse_all(&m1.fragments(333)));
        frags.extend(parse_all(&m2.fragments(100)));
        frags.reverse();
        frags.swap(3, 16);
        let mut r = Reassembler::new(1);
        let mut got = Vec::new();
        for (h, d) in &frags {
            assert_ne!(r.insert(h, d, 0), Accepted::Dropped);
            while let Some(m) = r.pop() {
                got.push(m);
            }
        }
        assert_eq!(got, vec![m1, m2]);
        let (h, d) = &frags[0];
        assert_eq!(r.insert(h, d, 0), Accepted::Old);
    }

    #[test]
    fn incomplete_message_is_held_back() {
        let m = Message {
            epoch: 0,
            msg_type: 2,
            message_seq: 0,
            body: vec![9; 50],
        };
        let frags = parse_all(&m.fragments(30));
        let mut r = Reassembler::new(0);
        for (h, d) in frags.iter().skip(1) {
            r.insert(h, d, 0);
        }
        assert_eq!(r.pop(), None);
        r.insert(&frags[0].0, &frags[0].1, 0);
        assert_eq!(r.pop(), Some(m));
    }

    #[test]
    fn inconsistent_and_far_fragments_are_dropped() {
        let mut r = Reassembler::new(0);
        let h = FragmentHeader {
            msg_type: 1,
            length: 10,
            message_seq: 0,
            fragment_offset: 0,
            fragment_length: 2,
        };
        assert_eq!(r.insert(&h, &[0, 0], 0), Accepted::Buffered);
        assert_eq!(
            r.insert(&FragmentHeader { length: 11, ..h }, &[0, 0], 0),
            Accepted::Dropped
        );
        assert_eq!(
            r.insert(&FragmentHeader { msg_type: 2, ..h }, &[0, 0], 0),
            Accepted::Dropped
        );
        assert_eq!(
            r.insert(
                &FragmentHeader {
                    message_seq: 100,
                    ..h
                },
                &[0, 0],
                0
            ),
            Accepted::Dropped
        );
        let big = FragmentHeader {
            length: 1 << 20,
            message_seq: 1,
            ..h
        };
        assert_eq!(r.insert(&big, &[0, 0], 0), Accepted::Dropped);
        // A fragment that claims to run past its message does not parse.
        let mut bytes = Vec::new();
        FragmentHeader {
            fragment_offset: 9,
            ..h
        }
        .encode(&mut bytes);
        bytes.extend_from_slice(&[0, 0]);
        assert!(FragmentHeader::parse(&mut Reader::new(&bytes)).is_err());
    }
}
