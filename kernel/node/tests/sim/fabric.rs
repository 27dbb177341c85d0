//! A fake Ethernet fabric: segments (hubs: every frame reaches every other endpoint on
//! its segment) with seeded loss, duplication and reordering, a capture of what was
//! sent on each segment, and the node's ports on it ([`FakePort`], a [`NetPort`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use vnetcrypt_node::{NetPort, PacketBuf, PortError, Refused, QUEUE_SIZE};

/// Frames waiting for an endpoint that has not taken them (beyond: dropped, as a NIC
/// with no posted buffer drops them).
const INBOX: usize = 256;

/// Faults of a segment, each in parts per thousand of frames.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub loss: u32,
    pub duplicate: u32,
    pub reorder: u32,
}

#[derive(Default)]
struct Segment {
    faults: Faults,
    in_flight: Vec<(usize, Vec<u8>)>,
    /// Every frame sent on the segment, as sent (what a capture on it sees).
    capture: Vec<Vec<u8>>,
}

struct Endpoint {
    segment: usize,
    inbox: VecDeque<Vec<u8>>,
    /// A device that completes no transmission for now (a stalled host): its sent
    /// buffers stay in its ring, which fills.
    tx_stalled: bool,
}

/// The fabric, shared by everything attached to it.
pub struct Fabric {
    rng: u64,
    segments: Vec<Segment>,
    endpoints: Vec<Endpoint>,
    /// Frames dropped by the faults.
    pub lost: u64,
}

pub type Shared = Rc<RefCell<Fabric>>;

impl Fabric {
    pub fn new(seed: u64) -> Shared {
        Rc::new(RefCell::new(Fabric {
            rng: seed,
            segments: Vec::new(),
            endpoints: Vec::new(),
            lost: 0,
        }))
    }

    /// A new segment; its index.
    pub fn segment(&mut self, faults: Faults) -> usize {
        self.segments.push(Segment {
            faults,
            ..Segment::default()
        });
        self.segments.len() - 1
    }

    pub fn set_faults(&mut self, segment: usize, faults: Faults) {
        self.segments[segment].faults = faults;
    }

    /// Attaches an endpoint to `segment`; its id.
    pub fn attach(&mut self, segment: usize) -> usize {
        self.endpoints.push(Endpoint {
            segment,
            inbox: VecDeque::new(),
            tx_stalled: false,
        });
        self.endpoints.len() - 1
    }

    /// Stalls (or resumes) endpoint `id`'s transmit completions.
    pub fn stall_tx(&mut self, id: usize, stalled: bool) {
        self.endpoints[id].tx_stalled = stalled;
    }

    /// Detaches an endpoint (a node that powered off): nothing more reaches it.
    pub fn detach(&mut self, id: usize) {
        self.endpoints[id].segment = usize::MAX;
        self.endpoints[id].inbox.clear();
    }

    fn chance(&mut self, per_mille: u32) -> bool {
        if per_mille == 0 {
            return false;
        }
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % 1000) < u64::from(per_mille)
    }

    /// Puts a frame on the wire of `from`'s segment, through the segment's faults.
    pub fn transmit(&mut self, from: usize, frame: &[u8]) {
        let seg = self.endpoints[from].segment;
        if seg == usize::MAX {
            return;
        }
        self.segments[seg].capture.push(frame.to_vec());
        let f = self.segments[seg].faults;
        if self.chance(f.loss) {
            self.lost += 1;
            return;
        }
        let copies = if self.chance(f.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let reorder = self.chance(f.reorder);
            let q = &mut self.segments[seg].in_flight;
            if reorder && !q.is_empty() {
                // Overtakes the frame sent just before it.
                let at = q.len() - 1;
                q.insert(at, (from, frame.to_vec()));
            } else {
                q.push((from, frame.to_vec()));
            }
        }
    }

    /// Delivers every frame in flight to the other endpoints of its segment.
    pub fn deliver(&mut self) {
        for seg in 0..self.segments.len() {
            let frames = std::mem::take(&mut self.segments[seg].in_flight);
            for (from, frame) in frames {
                for (id, e) in self.endpoints.iter_mut().enumerate() {
                    if id != from && e.segment == seg && e.inbox.len() < INBOX {
                        e.inbox.push_back(frame.clone());
                    }
                }
            }
        }
    }

    pub fn take(&mut self, id: usize) -> Option<Vec<u8>> {
        self.endpoints[id].inbox.pop_front()
    }

    pub fn has_frames(&self, id: usize) -> bool {
        !self.endpoints[id].inbox.is_empty()
    }

    /// Every frame sent on `segment` so far.
    pub fn capture(&self, segment: usize) -> &[Vec<u8>] {
        &self.segments[segment].capture
    }
}

/// A node's NIC on the fabric. Frames are copied onto and off the wire (the wire is
/// not memory the node owns); the node's buffers come back at once when sent.
pub struct FakePort {
    fabric: Shared,
    id: usize,
    mac: [u8; 6],
    posted: VecDeque<PacketBuf>,
    sent: VecDeque<PacketBuf>,
}

impl FakePort {
    pub fn new(fabric: &Shared, segment: usize, mac: [u8; 6]) -> (Self, usize) {
        let id = fabric.borrow_mut().attach(segment);
        let port = FakePort {
            fabric: fabric.clone(),
            id,
            mac,
            posted: VecDeque::new(),
            sent: VecDeque::new(),
        };
        (port, id)
    }
}

impl NetPort for FakePort {
    fn mac(&self) -> [u8; 6] {
        self.mac
    }
    fn is_broken(&self) -> bool {
        false
    }
    fn rx_has_room(&self) -> bool {
        self.posted.len() < QUEUE_SIZE
    }
    fn tx_has_room(&self) -> bool {
        self.sent.len() < QUEUE_SIZE
    }
    fn post_rx(&mut self, buf: PacketBuf) -> Result<(), Refused> {
        if !self.rx_has_room() {
            return Err((Some(buf), PortError::Full));
        }
        self.posted.push_back(buf);
        Ok(())
    }
    fn recv(&mut self) -> Option<Result<PacketBuf, Refused>> {
        if self.posted.is_empty() || !self.fabric.borrow().has_frames(self.id) {
            return None;
        }
        let frame = self.fabric.borrow_mut().take(self.id)?;
        let mut buf = self.posted.pop_front()?;
        if !buf.set_received(frame.len()) {
            return Some(Err((Some(buf), PortError::Device)));
        }
        buf.frame_mut().copy_from_slice(&frame);
        Some(Ok(buf))
    }
    fn send(&mut self, buf: PacketBuf) -> Result<(), Refused> {
        if !self.tx_has_room() {
            return Err((Some(buf), PortError::Full));
        }
        if buf.frame().is_empty() {
            return Err((Some(buf), PortError::BadBuffer));
        }
        self.fabric.borrow_mut().transmit(self.id, buf.frame());
        self.sent.push_back(buf);
        Ok(())
    }
    fn reclaim_tx(&mut self) -> Option<Result<PacketBuf, PortError>> {
        if self.fabric.borrow().endpoints[self.id].tx_stalled {
            return None;
        }
        self.sent.pop_front().map(Ok)
    }
}
