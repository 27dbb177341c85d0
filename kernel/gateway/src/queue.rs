//! A bounded FIFO of packets in preallocated slots: allocated once at construction,
//! never per packet. Used for packets waiting for a session, for an ARP answer, and for
//! the engine's own output.

use alloc::vec;
use alloc::vec::Vec;

/// Why a packet was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// Every slot is taken.
    Full,
    /// Larger than a slot.
    TooBig,
}

/// A FIFO of up to `capacity` packets of at most `slot_size` bytes, each with metadata.
#[derive(Debug)]
pub struct PacketQueue<M: Copy> {
    data: Vec<u8>,
    meta: Vec<Option<(M, usize)>>,
    slot_size: usize,
    head: usize,
    len: usize,
    copied: u64,
}

impl<M: Copy> PacketQueue<M> {
    /// Allocates all slots now.
    pub fn new(capacity: usize, slot_size: usize) -> Self {
        Self {
            data: vec![0; capacity * slot_size],
            meta: vec![None; capacity],
            slot_size,
            head: 0,
            len: 0,
            copied: 0,
        }
    }

    /// Packet bytes copied into, out of and within the queue so far.
    pub fn bytes_copied(&self) -> u64 {
        self.copied
    }

    /// Packets queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when full.
    pub fn is_full(&self) -> bool {
        self.len == self.meta.len()
    }

    /// Appends a copy of `packet`.
    pub fn push(&mut self, meta: M, packet: &[u8]) -> Result<(), QueueError> {
        self.push_with(meta, packet.len(), |slot| slot.copy_from_slice(packet))
    }

    /// Appends a packet of `len` bytes written by `fill` into its slot.
    pub fn push_with(
        &mut self,
        meta: M,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), QueueError> {
        if len > self.slot_size {
            return Err(QueueError::TooBig);
        }
        if self.is_full() {
            return Err(QueueError::Full);
        }
        let idx = (self.head + self.len) % self.meta.len();
        let start = idx * self.slot_size;
        fill(&mut self.data[start..start + len]);
        self.copied += len as u64;
        self.meta[idx] = Some((meta, len));
        self.len += 1;
        Ok(())
    }

    /// The oldest packet.
    pub fn front(&self) -> Option<(M, &[u8])> {
        if self.len == 0 {
            return None;
        }
        let (m, len) = self.meta[self.head]?;
        let start = self.head * self.slot_size;
        Some((m, &self.data[start..start + len]))
    }

    /// Removes the oldest packet.
    pub fn pop(&mut self) -> Option<M> {
        if self.len == 0 {
            return None;
        }
        let (m, _) = self.meta[self.head].take()?;
        self.head = (self.head + 1) % self.meta.len();
        self.len -= 1;
        Some(m)
    }

    /// Removes the oldest packet, copying it into `out` at `offset`; its metadata and
    /// length. A packet that does not fit in `out` is dropped and reported as length 0.
    pub fn pop_into(&mut self, out: &mut [u8], offset: usize) -> Option<(M, usize)> {
        let (m, pkt) = self.front()?;
        let n = pkt.len();
        let fits = match out.get_mut(offset..offset + n) {
            Some(dst) => {
                dst.copy_from_slice(pkt);
                true
            }
            None => false,
        };
        if fits {
            self.copied += n as u64;
        }
        self.pop();
        Some((m, if fits { n } else { 0 }))
    }

    /// Keeps only the packets for which `keep` is true, in order; calls `removed` for
    /// the others (with the packet's bytes) before discarding them.
    pub fn retain(
        &mut self,
        mut keep: impl FnMut(&M, &[u8]) -> bool,
        mut removed: impl FnMut(M, &[u8]),
    ) {
        let n = self.len;
        for _ in 0..n {
            let Some((m, len)) = self.meta[self.head] else {
                break;
            };
            let src = self.head * self.slot_size;
            let k = keep(&m, &self.data[src..src + len]);
            if !k {
                removed(m, &self.data[src..src + len]);
                self.pop();
                continue;
            }
            // Move the kept packet to the tail (the queue is never full here: we just
            // freed its own slot by popping it first).
            self.pop();
            let dst_idx = (self.head + self.len) % self.meta.len();
            let dst = dst_idx * self.slot_size;
            if dst != src {
                self.data.copy_within(src..src + len, dst);
                self.copied += len as u64;
            }
            self.meta[dst_idx] = Some((m, len));
            self.len += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_bounded() {
        let mut q: PacketQueue<u8> = PacketQueue::new(2, 4);
        assert_eq!(q.push(1, b"ab"), Ok(()));
        assert_eq!(q.push(2, b"cdef"), Ok(()));
        assert_eq!(q.push(3, b"x"), Err(QueueError::Full));
        assert_eq!(q.front(), Some((1, &b"ab"[..])));
        let mut out = [0u8; 8];
        assert_eq!(q.pop_into(&mut out, 3), Some((1, 2)));
        assert_eq!(&out[3..5], b"ab");
        // Two packets in (2 + 4 bytes), one out (2).
        assert_eq!(q.bytes_copied(), 8);
        assert_eq!(q.push(4, b"12345"), Err(QueueError::TooBig));
        assert_eq!(q.push(4, b"gh"), Ok(()));
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.front(), Some((4, &b"gh"[..])));
        assert_eq!(q.pop(), Some(4));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }

    #[test]
    fn retain_keeps_order() {
        let mut q: PacketQueue<u8> = PacketQueue::new(4, 2);
        for i in 0..4u8 {
            q.push(i, &[i, i]).unwrap();
        }
        let mut gone = alloc::vec::Vec::new();
        q.retain(|m, _| m % 2 == 1, |m, p| gone.push((m, p[0])));
        assert_eq!(gone, [(0, 0), (2, 2)]);
        assert_eq!(q.len(), 2);
        assert_eq!(q.front(), Some((1, &[1u8, 1][..])));
        q.pop();
        assert_eq!(q.front(), Some((3, &[3u8, 3][..])));
        q.push(7, b"77").unwrap();
        q.push(8, b"88").unwrap();
        q.push(9, b"99").unwrap();
        assert!(q.is_full());
    }

    #[test]
    fn pop_into_too_small_reports_zero() {
        let mut q: PacketQueue<()> = PacketQueue::new(1, 8);
        q.push((), b"abcdef").unwrap();
        let mut out = [0u8; 4];
        assert_eq!(q.pop_into(&mut out, 0), Some(((), 0)));
        assert!(q.is_empty());
    }
}
