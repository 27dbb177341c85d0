//! The bounded flow table behind the flow logs.
//!
//! Fixed capacity, chosen at construction: the table is a vector of `heapless` maps of
//! [`SHARD`] flows each, allocated once (so no large value ever sits on the stack). A
//! flow and its reply map to the same shard; inserting into a full shard evicts that
//! shard's least recently seen flow, whose final tuple is kept for the next export (and
//! counted). Updating a flow never allocates. Counters in tuples are since the flow's
//! previous tuple.

use core::net::Ipv4Addr;
use core::time::Duration;

use alloc::vec::Vec;

use heapless::{Deque, IndexMap};

use crate::hash::BuildWordHasher;

use crate::flowlog::{Direction, Encryption, FlowState, FlowTuple};
use crate::Instant;

/// A flow's 5-tuple, oriented as its first packet went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
}

impl core::hash::Hash for FlowKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        // Two words instead of five fields.
        state.write_u64(u64::from(self.src.to_bits()) << 32 | u64::from(self.dst.to_bits()));
        state.write_u64(
            u64::from(self.src_port) << 24
                | u64::from(self.dst_port) << 8
                | u64::from(self.protocol),
        );
    }
}

impl FlowKey {
    fn reversed(&self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            protocol: self.protocol,
        }
    }
}

/// What the data path tells the table about one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowEvent {
    /// The packet's own 5-tuple (as it travels).
    pub key: FlowKey,
    /// Which side sent it: lan workloads send `Outbound`.
    pub direction: Direction,
    /// Its encryption value.
    pub encryption: Encryption,
    /// True if the packet was dropped by enforcement.
    pub denied: bool,
    /// IP length.
    pub bytes: usize,
    /// TCP FIN or RST seen.
    pub fin: bool,
    pub rst: bool,
}

#[derive(Clone, Copy, Debug)]
struct Flow {
    direction: Direction,
    encryption: Encryption,
    denied: bool,
    begun: bool,
    first_seen: Instant,
    last_seen: Instant,
    packets_sent: u64,
    bytes_sent: u64,
    packets_received: u64,
    bytes_received: u64,
    fin_sent: bool,
    fin_received: bool,
    reset: bool,
}

/// Flow table statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Flows created.
    pub created: u64,
    /// Flows evicted because the table was full.
    pub evicted: u64,
    /// Final tuples of evicted flows lost because the eviction backlog was full too.
    pub evicted_unreported: u64,
}

/// Capacity of the backlog of tuples of evicted flows.
const EVICTED_BACKLOG: usize = 64;

/// Flows per shard.
pub const SHARD: usize = 16;

type Shard = IndexMap<FlowKey, Flow, BuildWordHasher, SHARD>;

/// A bounded flow table.
#[derive(Debug)]
pub struct FlowTable {
    shards: Vec<Shard>,
    evicted: Deque<FlowTuple, EVICTED_BACKLOG>,
    idle_timeout: Duration,
    stats: FlowStats,
}

impl FlowTable {
    /// An empty table for at least `capacity` flows (rounded up to whole shards);
    /// flows idle for `idle_timeout` end.
    pub fn new(capacity: usize, idle_timeout: Duration) -> Self {
        let n = capacity.div_ceil(SHARD).max(1);
        let mut shards = Vec::with_capacity(n);
        for _ in 0..n {
            shards.push(IndexMap::new());
        }
        Self {
            shards,
            evicted: Deque::new(),
            idle_timeout,
            stats: FlowStats::default(),
        }
    }

    /// How many flows fit.
    pub fn capacity(&self) -> usize {
        self.shards.len() * SHARD
    }

    /// Statistics.
    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    /// Flows currently tracked.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.len()).sum()
    }

    /// True when no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.is_empty())
    }

    /// The shard of a flow: symmetric, so that replies land with their flow.
    fn shard_of(&self, k: &FlowKey) -> usize {
        let x = (k.src.to_bits() ^ k.dst.to_bits())
            ^ (u32::from(k.src_port ^ k.dst_port) << 8)
            ^ u32::from(k.protocol);
        let h = u64::from(x).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        // h · n / 2^32 spreads h over 0..n without a division (Lemire's reduction).
        ((h * self.shards.len() as u64) >> 32) as usize
    }

    /// Accounts one packet.
    pub fn record(&mut self, now: Instant, ev: &FlowEvent) {
        let i = self.shard_of(&ev.key);
        // The common case first: one lookup for a known flow, two for a reply.
        if let Some(f) = self.shards[i].get_mut(&ev.key) {
            account(f, true, now, ev);
            return;
        }
        if let Some(f) = self.shards[i].get_mut(&ev.key.reversed()) {
            account(f, false, now, ev);
            return;
        }
        if self.shards[i].len() == SHARD {
            self.evict_oldest(i, now);
        }
        let mut fresh = Flow {
            direction: ev.direction,
            encryption: ev.encryption,
            denied: ev.denied,
            begun: false,
            first_seen: now,
            last_seen: now,
            packets_sent: 0,
            bytes_sent: 0,
            packets_received: 0,
            bytes_received: 0,
            fin_sent: false,
            fin_received: false,
            reset: false,
        };
        account(&mut fresh, true, now, ev);
        self.stats.created += 1;
        if self.shards[i].insert(ev.key, fresh).is_err() {
            // Unreachable after an eviction; counted rather than trusted.
            self.stats.evicted_unreported += 1;
        }
    }

    fn evict_oldest(&mut self, shard: usize, now: Instant) {
        let oldest = self.shards[shard]
            .iter()
            .min_by_key(|(_, f)| f.last_seen)
            .map(|(k, _)| *k);
        if let Some(key) = oldest {
            if let Some(mut flow) = self.shards[shard].swap_remove(&key) {
                self.stats.evicted += 1;
                let state = if flow.denied {
                    FlowState::Deny
                } else {
                    FlowState::End
                };
                let t = tuple(&key, &mut flow, state, now, 0);
                if self.evicted.push_back(t).is_err() {
                    self.stats.evicted_unreported += 1;
                }
            }
        }
    }

    /// Produces the tuples due at `now` (begin, continue, end, deny) and forgets ended
    /// flows. `epoch_ms` is the Unix time in milliseconds of `Instant::ZERO`.
    pub fn export(&mut self, now: Instant, epoch_ms: u64, mut out: impl FnMut(FlowTuple)) {
        while let Some(mut t) = self.evicted.pop_front() {
            t.time_ms += epoch_ms;
            out(t);
        }
        let idle = self.idle_timeout;
        for shard in &mut self.shards {
            shard.retain(|key, flow| {
                if !flow.begun && !flow.denied {
                    flow.begun = true;
                    // Begin tuples carry no counters (a copy is zeroed); the traffic shows in C/E.
                    let mut zero = *flow;
                    let mut b = tuple(key, &mut zero, FlowState::Begin, flow.first_seen, epoch_ms);
                    b.packets_sent = 0;
                    b.bytes_sent = 0;
                    b.packets_received = 0;
                    b.bytes_received = 0;
                    out(b);
                }
                let ended = flow.reset
                    || (flow.fin_sent && flow.fin_received)
                    || now.saturating_since(flow.last_seen) >= idle;
                let has_traffic = flow.packets_sent + flow.packets_received > 0;
                let state = if flow.denied {
                    FlowState::Deny
                } else if ended {
                    FlowState::End
                } else {
                    FlowState::Continue
                };
                if has_traffic || state == FlowState::End {
                    out(tuple(key, flow, state, now, epoch_ms));
                }
                !ended
            });
        }
    }

    /// Current flows, for the console (`flows`), as continue/deny tuples of the counters
    /// accumulated since the last export; does not change the table.
    pub fn snapshot(&self, now: Instant, epoch_ms: u64) -> impl Iterator<Item = FlowTuple> + '_ {
        self.shards
            .iter()
            .flat_map(|s| s.iter())
            .map(move |(k, f)| {
                let mut f = *f;
                let state = if f.denied {
                    FlowState::Deny
                } else {
                    FlowState::Continue
                };
                tuple(k, &mut f, state, now, epoch_ms)
            })
    }
}

fn account(flow: &mut Flow, forward: bool, now: Instant, ev: &FlowEvent) {
    flow.last_seen = now;
    flow.encryption = ev.encryption;
    flow.denied = ev.denied;
    if forward {
        flow.packets_sent += 1;
        flow.bytes_sent += ev.bytes as u64;
        flow.fin_sent |= ev.fin;
    } else {
        flow.packets_received += 1;
        flow.bytes_received += ev.bytes as u64;
        flow.fin_received |= ev.fin;
    }
    flow.reset |= ev.rst;
}

fn tuple(key: &FlowKey, f: &mut Flow, state: FlowState, at: Instant, epoch_ms: u64) -> FlowTuple {
    let t = FlowTuple {
        time_ms: epoch_ms + at.as_millis(),
        src: key.src,
        dst: key.dst,
        src_port: key.src_port,
        dst_port: key.dst_port,
        protocol: key.protocol,
        direction: f.direction,
        state,
        encryption: f.encryption,
        packets_sent: f.packets_sent,
        bytes_sent: f.bytes_sent,
        packets_received: f.packets_received,
        bytes_received: f.bytes_received,
    };
    f.packets_sent = 0;
    f.bytes_sent = 0;
    f.packets_received = 0;
    f.bytes_received = 0;
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn key(sport: u16) -> FlowKey {
        FlowKey {
            src: Ipv4Addr::new(10, 1, 0, 5),
            dst: Ipv4Addr::new(10, 2, 0, 9),
            src_port: sport,
            dst_port: 80,
            protocol: 6,
        }
    }

    fn ev(key: FlowKey, direction: Direction) -> FlowEvent {
        FlowEvent {
            key,
            direction,
            encryption: Encryption::Encrypted,
            denied: false,
            bytes: 100,
            fin: false,
            rst: false,
        }
    }

    fn export(t: &mut FlowTable, ms: u64) -> Vec<FlowTuple> {
        let mut v = Vec::new();
        t.export(Instant::from_millis(ms), 1_000_000, |x| v.push(x));
        v
    }

    #[test]
    fn begin_continue_end_with_both_directions() {
        let mut t = FlowTable::new(64, Duration::from_secs(60));
        let k = key(1000);
        t.record(Instant::from_millis(1), &ev(k, Direction::Outbound));
        t.record(
            Instant::from_millis(2),
            &ev(k.reversed(), Direction::Inbound),
        );
        t.record(Instant::from_millis(3), &ev(k, Direction::Outbound));
        let v = export(&mut t, 10);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].state, FlowState::Begin);
        assert_eq!(v[0].time_ms, 1_000_001);
        assert_eq!((v[0].packets_sent, v[0].packets_received), (0, 0));
        assert_eq!(v[1].state, FlowState::Continue);
        assert_eq!(v[1].direction, Direction::Outbound);
        assert_eq!((v[1].src, v[1].src_port), (k.src, 1000));
        assert_eq!((v[1].packets_sent, v[1].bytes_sent), (2, 200));
        assert_eq!((v[1].packets_received, v[1].bytes_received), (1, 100));
        // Nothing new: no tuple. Then FIN both ways ends the flow.
        assert!(export(&mut t, 20).is_empty());
        let mut fin = ev(k, Direction::Outbound);
        fin.fin = true;
        t.record(Instant::from_millis(21), &fin);
        let mut fin_back = ev(k.reversed(), Direction::Inbound);
        fin_back.fin = true;
        t.record(Instant::from_millis(22), &fin_back);
        let v = export(&mut t, 30);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].state, FlowState::End);
        assert_eq!((v[0].packets_sent, v[0].packets_received), (1, 1));
        assert!(t.is_empty());
    }

    #[test]
    fn idle_flows_end_and_denied_flows_say_d() {
        let mut t = FlowTable::new(64, Duration::from_secs(5));
        let mut d = ev(key(1), Direction::Outbound);
        d.denied = true;
        d.encryption = Encryption::NotAccepted;
        t.record(Instant::from_millis(0), &d);
        t.record(Instant::from_millis(0), &ev(key(2), Direction::Inbound));
        let v = export(&mut t, 1000);
        let deny: Vec<_> = v.iter().filter(|x| x.src_port == 1).collect();
        assert_eq!(deny.len(), 1);
        assert_eq!(deny[0].state, FlowState::Deny);
        assert_eq!(deny[0].encryption, Encryption::NotAccepted);
        assert_eq!(deny[0].packets_sent, 1);
        // Idle: the accepted flow ends (E); the denied one, with nothing new, just goes.
        let v = export(&mut t, 6000);
        assert_eq!(v.len(), 1);
        assert!(v[0].src_port == 2 && v[0].state == FlowState::End);
        assert!(t.is_empty());
    }

    #[test]
    fn full_table_evicts_oldest_and_counts() {
        // One shard: the least recently seen flow of the table makes room.
        let mut t = FlowTable::new(SHARD, Duration::from_secs(60));
        assert_eq!(t.capacity(), SHARD);
        for i in 0..SHARD as u16 {
            t.record(
                Instant::from_millis(u64::from(i)),
                &ev(key(i), Direction::Outbound),
            );
        }
        // Touch flow 0 so that flow 1 is the oldest; a reply does not evict.
        t.record(Instant::from_millis(100), &ev(key(0), Direction::Outbound));
        t.record(
            Instant::from_millis(101),
            &ev(key(5).reversed(), Direction::Inbound),
        );
        assert_eq!(t.stats().evicted, 0);
        t.record(
            Instant::from_millis(102),
            &ev(key(999), Direction::Outbound),
        );
        assert_eq!(t.len(), SHARD);
        assert_eq!(t.stats().evicted, 1);
        assert_eq!(t.stats().created, SHARD as u64 + 1);
        let v = export(&mut t, 200);
        assert_eq!(v[0].src_port, 1);
        assert_eq!(v[0].state, FlowState::End);
        assert_eq!(v[0].packets_sent, 1);
    }

    #[test]
    fn replies_share_their_flows_shard_and_capacity_rounds_up() {
        let mut t = FlowTable::new(1000, Duration::from_secs(60));
        assert_eq!(t.capacity(), 1008);
        for i in 0..500u16 {
            let k = FlowKey {
                src: Ipv4Addr::new(10, 1, (i >> 8) as u8, i as u8),
                dst: Ipv4Addr::new(10, 2, 0, 9),
                src_port: 1000 + i,
                dst_port: 443,
                protocol: 6,
            };
            assert_eq!(t.shard_of(&k), t.shard_of(&k.reversed()));
            t.record(Instant::from_millis(1), &ev(k, Direction::Outbound));
            t.record(
                Instant::from_millis(2),
                &ev(k.reversed(), Direction::Inbound),
            );
        }
        assert_eq!(t.len(), 500 - t.stats().evicted as usize);
        let v = export(&mut t, 10);
        let c: Vec<_> = v
            .iter()
            .filter(|x| x.state == FlowState::Continue)
            .collect();
        assert!(c
            .iter()
            .all(|x| x.packets_sent == 1 && x.packets_received == 1));
    }
}
