//! Handshake message headers, fragmentation on send and reassembly on receive
//! (RFC 6347 §4.2.3): overlapping and duplicated fragments, messages out of order.
//!
//! Forged fragments cannot take a genuine message's place: candidates for one
//! message_seq are kept apart by (type, length, epoch) and by content (a fragment that
//! contradicts bytes already received starts another candidate), at most
//! [`MAX_CANDIDATES`] per message; a candidate the connection refused is gone while the
//! others stay.
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

/// Disjoint byte ranges one candidate may be split into; a fragment that would leave more
/// is refused, so merging stays O(MAX_RANGES) per fragment (never quadratic).
pub const MAX_RANGES: usize = 16;
/// Candidates kept per message_seq, told apart by (type, length, epoch) and content: a
/// forged fragment cannot fix the type, length or bytes of the slot the genuine message
/// needs.
pub const MAX_CANDIDATES: usize = 4;
/// Candidates kept in all.
pub const MAX_PARTIALS: usize = 24;

#[derive(Debug)]
struct Partial {
    epoch: u16,
    msg_type: u8,
    seq: u16,
    body: Vec<u8>,
    /// Disjoint, sorted, non-adjacent ranges already received.
    have: Vec<(u32, u32)>,
    /// The datagram that brought its last fragment.
    arrival: u64,
}

impl Partial {
    /// Whether `data` at `offset` agrees with every byte already received there: a
    /// fragment that contradicts a candidate belongs to another one (forged or genuine,
    /// the flight's verification tells).
    fn consistent(&self, offset: u32, data: &[u8]) -> bool {
        let (s, e) = (offset, offset + data.len() as u32);
        self.have.iter().all(|&(a, b)| {
            let (lo, hi) = (a.max(s), b.min(e));
            lo >= hi
                || self.body[lo as usize..hi as usize] == data[(lo - s) as usize..(hi - s) as usize]
        })
    }

    /// Records `data` at `offset` (consistent with what is there); false (and nothing
    /// written) when the ranges would exceed [`MAX_RANGES`].
    fn add(&mut self, offset: u32, data: &[u8]) -> bool {
        let (s, e) = (offset, offset + data.len() as u32);
        // Ranges entirely left of the new one, then those it touches, then the rest.
        let first = self
            .have
            .iter()
            .position(|&(_, b)| b >= s)
            .unwrap_or(self.have.len());
        let last = self.have[first..]
            .iter()
            .position(|&(a, _)| a > e)
            .map_or(self.have.len(), |i| first + i);
        let merged = if first < last {
            (s.min(self.have[first].0), e.max(self.have[last - 1].1))
        } else {
            (s, e)
        };
        if self.have.len() - (last - first) + 1 > MAX_RANGES {
            return false;
        }
        let start = offset as usize;
        self.body[start..start + data.len()].copy_from_slice(data);
        self.have.splice(first..last, core::iter::once(merged));
        true
    }

    fn complete(&self) -> bool {
        self.body.is_empty() || self.have.first() == Some(&(0, self.body.len() as u32))
    }
}

/// What became of an incoming fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Stored (or already known) for a message not yet processed.
    Buffered,
    /// Belongs to a flight already processed: the peer is retransmitting.
    Old,
    /// Dropped: too far ahead, too long, or no room for another candidate or range.
    Dropped,
}

/// Reassembles the peer's handshake messages in message_seq order.
///
/// Messages are delivered one flight at a time: `floor` is the first message_seq of the
/// flight being assembled, `next_seq` the next one to deliver. The connection either
/// [`Reassembler::commit`]s a flight (it verified: the floor moves on and older candidates
/// go) or [`Reassembler::rewind`]s (it did not: delivery restarts at the floor with the
/// candidates that remain, e.g. the genuine message next to a forged one).
#[derive(Debug, Default)]
pub struct Reassembler {
    floor: u16,
    next_seq: u16,
    partial: Vec<Partial>,
    /// The datagram being taken in (see [`Reassembler::next_datagram`]).
    arrival: u64,
}

impl Reassembler {
    /// A reassembler expecting `next_seq` first.
    pub fn new(next_seq: u16) -> Self {
        Reassembler {
            floor: next_seq,
            next_seq,
            partial: Vec::new(),
            arrival: 0,
        }
    }

    /// The next message_seq to be delivered.
    pub fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// The first message_seq of the flight being assembled.
    pub fn floor(&self) -> u16 {
        self.floor
    }

    /// Fragments from now on came in another datagram. A flight's messages are preferred
    /// from the datagram that brought the previous one (see [`Reassembler::pop_preferring`]).
    pub fn next_datagram(&mut self) {
        self.arrival += 1;
    }

    /// The datagram being taken in.
    pub fn arrival(&self) -> u64 {
        self.arrival
    }

    /// Whether the datagram being taken in completed a candidate for a message already
    /// delivered in the current flight (an alternative to what the flight was built on).
    pub fn has_alternative(&self) -> bool {
        self.partial.iter().any(|p| {
            p.seq >= self.floor
                && p.seq < self.next_seq
                && p.arrival == self.arrival
                && p.complete()
        })
    }

    /// Restarts at `next_seq`, dropping everything buffered.
    pub fn reset(&mut self, next_seq: u16) {
        self.floor = next_seq;
        self.next_seq = next_seq;
        self.partial.clear();
    }

    /// The flight delivered so far was accepted: forget everything before `next_seq`.
    pub fn commit(&mut self) {
        self.floor = self.next_seq;
        let floor = self.floor;
        self.partial.retain(|p| p.seq >= floor);
    }

    /// The flight delivered so far was refused: deliver again from its first message, out
    /// of the candidates that remain (delivered ones are gone).
    pub fn rewind(&mut self) {
        self.next_seq = self.floor;
    }

    /// Takes in one fragment that arrived in a record of `epoch`. The caller has checked
    /// that its type is one the state machine expects at its position.
    pub fn insert(&mut self, h: &FragmentHeader, data: &[u8], epoch: u16) -> Accepted {
        if h.message_seq < self.floor {
            return Accepted::Old;
        }
        if h.message_seq - self.floor > MAX_AHEAD || h.length as usize > MAX_MESSAGE_LEN {
            return Accepted::Dropped;
        }
        let fits = |p: &Partial| {
            p.seq == h.message_seq
                && p.msg_type == h.msg_type
                && p.body.len() == h.length as usize
                && p.epoch == epoch
                && p.consistent(h.fragment_offset, data)
        };
        // A fragment consistent with several candidates goes into each of them (it
        // belongs to every hypothesis it does not contradict).
        let mut stored = false;
        let mut any_fit = false;
        let arrival = self.arrival;
        for p in self.partial.iter_mut().filter(|p| fits(p)) {
            any_fit = true;
            if p.add(h.fragment_offset, data) {
                stored = true;
                p.arrival = arrival;
            }
        }
        if any_fit {
            return if stored {
                Accepted::Buffered
            } else {
                Accepted::Dropped
            };
        }
        let seq = h.message_seq;
        if !self.make_room(seq) {
            return Accepted::Dropped;
        }
        let mut p = Partial {
            epoch,
            msg_type: h.msg_type,
            seq,
            body: alloc::vec![0; h.length as usize],
            have: Vec::new(),
            arrival,
        };
        p.add(h.fragment_offset, data);
        self.partial.push(p);
        Accepted::Buffered
    }

    /// Room for one more candidate for `seq`: when its slots or the whole store are
    /// full, the oldest incomplete candidate (of `seq` if its slots are full) goes; a
    /// genuine message usually arrives whole, so partial forgeries cannot push it out.
    fn make_room(&mut self, seq: u16) -> bool {
        let at_seq = self.partial.iter().filter(|p| p.seq == seq).count();
        if at_seq < MAX_CANDIDATES && self.partial.len() < MAX_PARTIALS {
            return true;
        }
        let victim = self
            .partial
            .iter()
            .position(|p| !p.complete() && (at_seq < MAX_CANDIDATES || p.seq == seq));
        match victim {
            Some(v) => {
                self.partial.remove(v);
                true
            }
            None => false,
        }
    }

    /// Puts a delivered message back as a complete candidate (it came with a refused
    /// flight but was not to blame), as if completed by datagram `arrival`.
    pub fn restore(&mut self, m: Message, arrival: u64) {
        if m.message_seq < self.floor || !self.make_room(m.message_seq) {
            return;
        }
        let len = m.body.len() as u32;
        self.partial.push(Partial {
            epoch: m.epoch,
            msg_type: m.msg_type,
            seq: m.message_seq,
            body: m.body,
            have: if len == 0 {
                Vec::new()
            } else {
                alloc::vec![(0, len)]
            },
            arrival,
        });
    }

    /// The next message, if one candidate for it is complete (the oldest such).
    pub fn pop(&mut self) -> Option<Message> {
        self.pop_preferring(None).map(|(m, _)| m)
    }

    /// The next message and the datagram that completed it, if one candidate for it is
    /// complete: the one completed by datagram `prefer` if there is one (a peer packs a
    /// flight's messages together, a forger cannot add to its datagram), else the oldest.
    pub fn pop_preferring(&mut self, prefer: Option<u64>) -> Option<(Message, u64)> {
        let next = self.next_seq;
        let ready = |p: &Partial| p.seq == next && p.complete();
        let i = prefer
            .and_then(|a| self.partial.iter().position(|p| ready(p) && p.arrival == a))
            .or_else(|| self.partial.iter().position(ready))?;
        let p = self.partial.remove(i);
        self.next_seq = self.next_seq.wrapping_add(1);
        Some((
            Message {
                epoch: p.epoch,
                msg_type: p.msg_type,
                message_seq: p.seq,
                body: p.body,
            },
            p.arrival,
        ))
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
                r.commit();
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

    fn frag(seq: u16, msg_type: u8, length: u32, offset: u32, n: u32) -> FragmentHeader {
        FragmentHeader {
            msg_type,
            length,
            message_seq: seq,
            fragment_offset: offset,
            fragment_length: n,
        }
    }

    #[test]
    fn forged_length_or_type_does_not_block_the_genuine_message() {
        let genuine = Message {
            epoch: 0,
            msg_type: 11,
            message_seq: 0,
            body: (0..200u8).collect(),
        };
        let mut r = Reassembler::new(0);
        // Forged first fragments that claim other lengths and another type.
        assert_eq!(
            r.insert(&frag(0, 11, 5000, 0, 4), &[9; 4], 0),
            Accepted::Buffered
        );
        assert_eq!(
            r.insert(&frag(0, 12, 200, 0, 4), &[9; 4], 0),
            Accepted::Buffered
        );
        for (h, d) in parse_all(&genuine.fragments(60)) {
            assert_eq!(r.insert(&h, &d, 0), Accepted::Buffered);
        }
        assert_eq!(r.pop(), Some(genuine));
        // A full slot gives up its oldest incomplete candidate, never a complete one.
        let mut r = Reassembler::new(0);
        assert_eq!(r.insert(&frag(0, 11, 1, 0, 1), &[5], 0), Accepted::Buffered);
        for len in 0..10 {
            assert_eq!(
                r.insert(&frag(0, 11, 100 + len, 0, 1), &[0], 0),
                Accepted::Buffered
            );
        }
        assert_eq!(r.pop().map(|m| m.body), Some(vec![5]));
        // Complete candidates everywhere: a new one is dropped.
        let mut r = Reassembler::new(0);
        for b in 0..MAX_CANDIDATES as u8 {
            assert_eq!(r.insert(&frag(0, 11, 1, 0, 1), &[b], 0), Accepted::Buffered);
        }
        assert_eq!(r.insert(&frag(0, 11, 1, 0, 1), &[99], 0), Accepted::Dropped);
        assert_eq!(r.pop().map(|m| m.body), Some(vec![0]));
    }

    #[test]
    fn rewind_offers_the_remaining_candidates_and_commit_forgets() {
        let forged = Message {
            epoch: 0,
            msg_type: 11,
            message_seq: 3,
            body: vec![1; 10],
        };
        let genuine = Message {
            body: vec![2; 12],
            ..forged.clone()
        };
        let mut r = Reassembler::new(3);
        for m in [&forged, &genuine] {
            for (h, d) in parse_all(&m.fragments(100)) {
                r.insert(&h, &d, 0);
            }
        }
        assert_eq!(r.pop(), Some(forged.clone()));
        assert_eq!(r.pop(), None);
        // The flight with the forged message did not verify.
        r.rewind();
        assert_eq!(r.pop(), Some(genuine));
        r.commit();
        assert_eq!(r.floor(), 4);
        let (h, d) = &parse_all(&forged.fragments(100))[0];
        assert_eq!(r.insert(h, d, 0), Accepted::Old);
    }

    #[test]
    fn ranges_per_candidate_are_bounded() {
        let mut r = Reassembler::new(0);
        // Every other byte: disjoint ranges until the limit, then refused.
        for i in 0..MAX_RANGES as u32 {
            assert_eq!(
                r.insert(&frag(0, 11, 1000, 2 * i, 1), &[1], 0),
                Accepted::Buffered
            );
        }
        assert_eq!(
            r.insert(&frag(0, 11, 1000, 500, 1), &[1], 0),
            Accepted::Dropped
        );
        // Filling a gap merges ranges and is still accepted; the whole message completes.
        assert_eq!(
            r.insert(&frag(0, 11, 1000, 1, 1), &[1], 0),
            Accepted::Buffered
        );
        assert_eq!(
            r.insert(&frag(0, 11, 1000, 0, 1000), &[1; 1000], 0),
            Accepted::Buffered
        );
        assert_eq!(r.pop().map(|m| m.body.len()), Some(1000));
    }

    #[test]
    fn many_tiny_fragments_cost_linear_work() {
        // 16 KiB in one-byte fragments, in reverse order: each insert touches at most a
        // couple of ranges, so this stays fast (quadratic merging took seconds).
        let len = MAX_MESSAGE_LEN as u32;
        let mut r = Reassembler::new(0);
        for off in (0..len).rev() {
            assert_eq!(
                r.insert(&frag(0, 11, len, off, 1), &[7], 0),
                Accepted::Buffered
            );
            assert!(r.partial[0].have.len() <= 1);
        }
        assert_eq!(r.pop().map(|m| m.body.len()), Some(len as usize));
    }

    #[test]
    fn contradicting_bytes_start_another_candidate() {
        let genuine = Message {
            epoch: 0,
            msg_type: 11,
            message_seq: 0,
            body: (0..100u8).collect(),
        };
        let mut forged = genuine.clone();
        forged.body[10] ^= 0xff;
        let mut r = Reassembler::new(0);
        // A forged first half with the genuine type and length, then the genuine message.
        let (h, d) = &parse_all(&forged.fragments(HANDSHAKE_HEADER_LEN + 50))[0];
        assert_eq!(r.insert(h, d, 0), Accepted::Buffered);
        for (h, d) in parse_all(&genuine.fragments(HANDSHAKE_HEADER_LEN + 30)) {
            assert_eq!(r.insert(&h, &d, 0), Accepted::Buffered);
        }
        // Its later fragments fit both hypotheses: both complete, the older first.
        assert_eq!(r.pop(), Some(forged.clone()));
        r.rewind();
        assert_eq!(r.pop(), Some(genuine.clone()));
        // A complete forgery that arrived first is offered first; after it is refused,
        // the genuine one (which did not mix with it) follows.
        let mut r = Reassembler::new(0);
        for m in [&forged, &genuine] {
            let (h, d) = &parse_all(&m.fragments(200))[0];
            assert_eq!(r.insert(h, d, 0), Accepted::Buffered);
        }
        assert_eq!(r.pop(), Some(forged));
        r.rewind();
        assert_eq!(r.pop(), Some(genuine));
    }

    #[test]
    fn a_flight_is_taken_from_one_datagram_when_it_can() {
        let m = |t: u8, seq: u16, b: u8| Message {
            epoch: 0,
            msg_type: t,
            message_seq: seq,
            body: vec![b; 3],
        };
        let mut r = Reassembler::new(0);
        // A forgery for position 1 arrives first, in a datagram of its own.
        let (h, d) = &parse_all(&m(14, 1, 9).fragments(100))[0];
        r.insert(h, d, 0);
        r.next_datagram();
        for msg in [m(2, 0, 1), m(13, 1, 2)] {
            let (h, d) = &parse_all(&msg.fragments(100))[0];
            r.insert(h, d, 0);
        }
        let (first, from) = r.pop_preferring(None).unwrap();
        assert_eq!(first, m(2, 0, 1));
        assert_eq!(r.pop_preferring(Some(from)).unwrap().0, m(13, 1, 2));
    }
}
