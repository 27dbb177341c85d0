//! A token bucket for ARP requests addressed to the interface: a flood must not
//! starve pings and the console, yet a host that asks now and then is always answered.

/// Requests answered at once, and per second sustained, by default.
pub const ARP_BURST: u32 = 32;
pub const ARP_PER_SECOND: u64 = 200;

#[derive(Debug, Clone)]
pub struct ArpLimiter {
    burst: u32,
    per_second: u64,
    tokens: u32,
    /// When tokens were last added, in microseconds of uptime.
    last_us: u64,
}

impl Default for ArpLimiter {
    fn default() -> Self {
        Self::new(ARP_BURST, ARP_PER_SECOND)
    }
}

impl ArpLimiter {
    pub fn new(burst: u32, per_second: u64) -> Self {
        Self {
            burst,
            per_second,
            tokens: burst,
            last_us: 0,
        }
    }

    /// Whether a request arriving at `now_us` may be answered (and takes a token).
    /// Time going backwards earns nothing.
    pub fn allow(&mut self, now_us: u64) -> bool {
        let elapsed = now_us.saturating_sub(self.last_us);
        let earned = elapsed.saturating_mul(self.per_second) / 1_000_000;
        if earned > 0 {
            let total = u64::from(self.tokens).saturating_add(earned);
            self.tokens = total.min(u64::from(self.burst)) as u32;
            self.last_us = now_us;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let mut l = ArpLimiter::new(4, 100); // one token per 10 ms
        let t0 = 1_000_000;
        assert_eq!((0..10).filter(|_| l.allow(t0)).count(), 4);
        assert!(!l.allow(t0 + 9_999));
        assert!(l.allow(t0 + 10_000));
        assert!(!l.allow(t0 + 10_000));
        // A long quiet spell refills to the burst, no more.
        assert_eq!((0..10).filter(|_| l.allow(t0 + 60_000_000)).count(), 4);
    }

    #[test]
    fn a_flood_gets_the_rate_and_no_more() {
        let mut l = ArpLimiter::default();
        // 10 000 requests spread over one second: burst + about 200 answered.
        let answered = (0..10_000u64)
            .filter(|i| l.allow(5_000_000 + i * 100))
            .count();
        assert!(
            (200..=ARP_BURST as usize + 201).contains(&answered),
            "{answered}"
        );
    }

    #[test]
    fn time_going_backwards_earns_nothing() {
        let mut l = ArpLimiter::new(1, 1000);
        assert!(l.allow(10_000_000));
        assert!(!l.allow(5_000_000));
        assert!(!l.allow(0));
    }
}
