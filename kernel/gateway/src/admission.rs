//! Admission of datagrams from addresses that are no peer's endpoint.
//!
//! Such a datagram may be a peer that moved (NAT, DHCP) — or anyone at all, with any
//! source address. Each one costs work (a cookie computed, a record tried against the
//! peers' sessions), so they are admitted by token buckets: one per source address
//! (a bounded table; the least recently seen source gives its entry up) and one for all
//! sources together, which bounds the work whatever the number of forged sources.
//! Nothing here allocates after construction; no input panics.

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::Instant;

/// Sources tracked at once.
pub const SOURCES: usize = 64;
/// Datagrams one source may send in a burst, and per second after it. A handshake
/// takes about eight (two hellos, the client's flight, retransmissions).
pub const PER_SOURCE_BURST: u32 = 16;
pub const PER_SOURCE_RATE: u32 = 8;
/// The same for all unknown sources together.
pub const TOTAL_BURST: u32 = 128;
pub const TOTAL_RATE: u32 = 64;

/// Tokens in millionths, refilled by elapsed microseconds times the rate.
const ONE: u64 = 1_000_000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: u64,
    at: Instant,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Self {
        Bucket {
            tokens: u64::from(burst) * ONE,
            at: now,
        }
    }

    /// Refills for the time since it was last used, then takes a token if it can.
    fn take(&mut self, now: Instant, burst: u32, rate: u32) -> bool {
        let elapsed = now.saturating_since(self.at).as_micros();
        let refill = u64::try_from(elapsed)
            .unwrap_or(u64::MAX)
            .saturating_mul(u64::from(rate));
        self.tokens = self
            .tokens
            .saturating_add(refill)
            .min(u64::from(burst) * ONE);
        self.at = now.max(self.at);
        if self.tokens >= ONE {
            self.tokens -= ONE;
            true
        } else {
            false
        }
    }
}

/// Per-source and total token buckets for unknown sources.
#[derive(Debug)]
pub struct SourceLimiter {
    sources: Vec<(Ipv4Addr, Bucket)>,
    total: Option<Bucket>,
    /// Datagrams refused.
    pub refused: u64,
}

impl Default for SourceLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl SourceLimiter {
    pub fn new() -> Self {
        SourceLimiter {
            sources: Vec::with_capacity(SOURCES),
            total: None,
            refused: 0,
        }
    }

    /// Whether a datagram from `source` may be looked at now. The source's own
    /// bucket is charged first, so that a flood from one source does not drain the
    /// total for the others.
    pub fn admit(&mut self, now: Instant, source: Ipv4Addr) -> bool {
        let i = match self.sources.iter().position(|(a, _)| *a == source) {
            Some(i) => i,
            None if self.sources.len() < SOURCES => {
                self.sources
                    .push((source, Bucket::full(PER_SOURCE_BURST, now)));
                self.sources.len() - 1
            }
            None => {
                // The least recently seen source gives its entry up. (A forger cycling
                // through addresses meets the total bucket instead.)
                let oldest = self
                    .sources
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, (_, b))| b.at)
                    .map_or(0, |(i, _)| i);
                self.sources[oldest] = (source, Bucket::full(PER_SOURCE_BURST, now));
                oldest
            }
        };
        let own = self.sources[i]
            .1
            .take(now, PER_SOURCE_BURST, PER_SOURCE_RATE);
        let total = self
            .total
            .get_or_insert(Bucket::full(TOTAL_BURST, now))
            .take(now, TOTAL_BURST, TOTAL_RATE);
        let ok = own && total;
        if !ok {
            self.refused += 1;
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    #[test]
    fn one_source_gets_its_burst_then_its_rate() {
        let mut l = SourceLimiter::new();
        let a = Ipv4Addr::new(198, 51, 100, 1);
        let t = Instant::from_millis(1_000);
        let admitted = (0..100).filter(|_| l.admit(t, a)).count();
        assert_eq!(admitted, PER_SOURCE_BURST as usize);
        // Another source is not held back by the first one's flood.
        assert!(l.admit(t, Ipv4Addr::new(198, 51, 100, 2)));
        // One second later: the rate's worth.
        let t1 = t + Duration::from_secs(1);
        let again = (0..100).filter(|_| l.admit(t1, a)).count();
        assert_eq!(again, PER_SOURCE_RATE as usize);
        assert_eq!(l.refused, 200 - 16 - 8);
    }

    #[test]
    fn forged_sources_meet_the_total_and_the_table_stays_bounded() {
        let mut l = SourceLimiter::new();
        let t = Instant::from_millis(1_000);
        let admitted = (0..10_000u32)
            .filter(|i| l.admit(t, Ipv4Addr::from(0x0a00_0000 + i)))
            .count();
        assert_eq!(admitted, TOTAL_BURST as usize);
        assert!(l.sources.len() <= SOURCES);
        assert_eq!(l.sources.capacity(), SOURCES);
    }
}
