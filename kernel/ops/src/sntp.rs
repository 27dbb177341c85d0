//! SNTPv4 (RFC 4330): the 48-byte request and reply, the checks that make a reply
//! usable, and a sans-IO [`Client`] that decides when to ask, matches replies to the
//! request, and backs off after failures.
//!
//! Spoofing: a request carries a random 64-bit nonce as its transmit timestamp, which
//! a server copies into the reply's originate timestamp (RFC 4330 section 5 allows a
//! client to put any value there). A reply whose originate timestamp is not the nonce
//! of the outstanding request is rejected and counted, and does not end the wait for
//! the genuine one. An attacker who sees the request (on the same lan segment) can
//! still forge an answer: SNTP has no authentication, which is why the appliance only
//! asks a server on its lan subnet (see docs/kernel.md, "Time").
//!
//! Untrusted input: [`parse_reply`] takes any bytes and never panics.

/// The NTP server port.
pub const PORT: u16 = 123;
/// The length of a request and of a reply without extensions.
pub const PACKET_LEN: usize = 48;
/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const UNIX_EPOCH_NTP: i64 = 2_208_988_800;

/// A good reply resets the interval to this.
pub const POLL_INTERVAL_US: u64 = 64_000_000;
/// A request unanswered for this long has failed.
pub const REPLY_TIMEOUT_US: u64 = 3_000_000;
/// The first retry after a failure; doubled per failure up to [`BACKOFF_MAX_US`].
pub const BACKOFF_MIN_US: u64 = 4_000_000;
pub const BACKOFF_MAX_US: u64 = 256_000_000;
/// Replies whose server is further than this from its reference (root delay / 2 plus
/// root dispersion) are not used.
const MAX_ROOT_DISTANCE_US: i64 = 1_000_000;

/// Why a reply was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SntpError {
    /// Shorter than 48 bytes.
    Short,
    /// Not a server reply (mode 4) of version 3 or 4.
    NotServerReply,
    /// The originate timestamp is not our request's nonce (spoofed, stale or stray).
    OriginMismatch,
    /// Leap indicator 3: the server's clock is not synchronised.
    Unsynchronised,
    /// Stratum 0: a kiss-o'-death with its code (e.g. `RATE`, `DENY`).
    KissOfDeath([u8; 4]),
    /// Stratum above 15.
    Stratum(u8),
    /// The transmit timestamp is zero.
    NoTransmitTime,
    /// The server's root distance is too large to trust.
    RootDistance,
}

impl SntpError {
    pub fn name(self) -> &'static str {
        match self {
            SntpError::Short => "short",
            SntpError::NotServerReply => "not-a-server-reply",
            SntpError::OriginMismatch => "origin-mismatch",
            SntpError::Unsynchronised => "server-unsynchronised",
            SntpError::KissOfDeath(_) => "kiss-of-death",
            SntpError::Stratum(_) => "stratum",
            SntpError::NoTransmitTime => "no-transmit-time",
            SntpError::RootDistance => "root-distance",
        }
    }
}

/// The request: LI 0, version 4, mode 3 (client), `nonce` as transmit timestamp.
pub fn request(nonce: u64) -> [u8; PACKET_LEN] {
    let mut p = [0u8; PACKET_LEN];
    p[0] = 4 << 3 | 3;
    p[40..48].copy_from_slice(&nonce.to_be_bytes());
    p
}

/// The fields of a usable reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub leap: u8,
    pub stratum: u8,
    /// When the server received the request (T2), Unix microseconds.
    pub receive_us: i64,
    /// When the server sent the reply (T3), Unix microseconds.
    pub transmit_us: i64,
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(x)
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(x)
}

/// An NTP timestamp as Unix microseconds. Seconds with the top bit clear are in era 1
/// (from 2036-02-07), as RFC 4330 section 3 says, so this works until 2104.
pub fn ntp_to_unix_us(ts: u64) -> i64 {
    let secs = (ts >> 32) as i64;
    let secs = if secs & 0x8000_0000 == 0 {
        secs + (1 << 32)
    } else {
        secs
    };
    let frac_us = ((ts & 0xffff_ffff) * 1_000_000) >> 32;
    (secs - UNIX_EPOCH_NTP) * 1_000_000 + frac_us as i64
}

/// Unix microseconds as an NTP timestamp (the inverse of [`ntp_to_unix_us`], to the
/// microsecond; for tests and test servers).
pub fn unix_us_to_ntp(us: i64) -> u64 {
    let secs = us.div_euclid(1_000_000) + UNIX_EPOCH_NTP;
    let frac = ((us.rem_euclid(1_000_000) as u64) << 32).div_ceil(1_000_000);
    ((secs as u64 & 0xffff_ffff) << 32) | frac
}

/// A 16.16 fixed-point duration in microseconds.
fn short_us(x: u32) -> i64 {
    ((u64::from(x) * 1_000_000) >> 16) as i64
}

/// Checks a reply to the request that carried `nonce`.
pub fn parse_reply(b: &[u8], nonce: u64) -> Result<Reply, SntpError> {
    if b.len() < PACKET_LEN {
        return Err(SntpError::Short);
    }
    let (leap, version, mode) = (b[0] >> 6, (b[0] >> 3) & 7, b[0] & 7);
    if mode != 4 || !(3..=4).contains(&version) {
        return Err(SntpError::NotServerReply);
    }
    // Nothing else about a reply is believed before it is shown to answer our request.
    if be64(b, 24) != nonce {
        return Err(SntpError::OriginMismatch);
    }
    let stratum = b[1];
    if stratum == 0 {
        let mut code = [0u8; 4];
        code.copy_from_slice(&b[12..16]);
        return Err(SntpError::KissOfDeath(code));
    }
    if leap == 3 {
        return Err(SntpError::Unsynchronised);
    }
    if stratum > 15 {
        return Err(SntpError::Stratum(stratum));
    }
    let transmit = be64(b, 40);
    if transmit == 0 {
        return Err(SntpError::NoTransmitTime);
    }
    if short_us(be32(b, 4)) / 2 + short_us(be32(b, 8)) > MAX_ROOT_DISTANCE_US {
        return Err(SntpError::RootDistance);
    }
    Ok(Reply {
        leap,
        stratum,
        receive_us: ntp_to_unix_us(be64(b, 32)),
        transmit_us: ntp_to_unix_us(transmit),
    })
}

/// One measurement of our clock against the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Add this to our clock to get the server's.
    pub offset_us: i64,
    /// The round trip, less the server's processing time.
    pub delay_us: i64,
    pub stratum: u8,
}

/// RFC 4330 section 5: offset `((T2 - T1) + (T3 - T4)) / 2`, delay
/// `(T4 - T1) - (T3 - T2)`, with T1 and T4 our clock at send and receipt.
pub fn sample(reply: &Reply, t1_us: i64, t4_us: i64) -> Sample {
    let (t2, t3) = (reply.receive_us, reply.transmit_us);
    Sample {
        offset_us: ((t2.saturating_sub(t1_us)) / 2).saturating_add(t3.saturating_sub(t4_us) / 2),
        delay_us: (t4_us.saturating_sub(t1_us)).saturating_sub(t3.saturating_sub(t2)),
        stratum: reply.stratum,
    }
}

/// What the client has done, for the console and the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub requests: u64,
    pub good_replies: u64,
    /// Replies rejected (any [`SntpError`]), spoofed ones included.
    pub rejected: u64,
    pub timeouts: u64,
}

/// An outstanding request.
#[derive(Debug, Clone, Copy)]
struct Pending {
    nonce: u64,
    /// Our wall clock when it left (T1).
    t1_us: i64,
    /// Uptime when it left.
    sent_at: u64,
}

/// The SNTP client's schedule and bookkeeping; the caller does the I/O:
/// [`Client::poll_request`] when due, [`Client::handle_reply`] for each datagram from
/// the server's address and port, [`Client::handle_timeout`] at [`Client::poll_at`].
#[derive(Debug, Clone)]
pub struct Client {
    pending: Option<Pending>,
    next_at: u64,
    backoff_us: u64,
    pub stats: ClientStats,
    pub last_error: Option<SntpError>,
}

impl Client {
    /// A client whose first request is due at uptime `now`.
    pub fn new(now: u64) -> Self {
        Self {
            pending: None,
            next_at: now,
            backoff_us: BACKOFF_MIN_US,
            stats: ClientStats::default(),
            last_error: None,
        }
    }

    /// When the client next needs the caller (uptime microseconds).
    pub fn poll_at(&self) -> u64 {
        match self.pending {
            Some(p) => p.sent_at + REPLY_TIMEOUT_US,
            None => self.next_at,
        }
    }

    /// The request to send now, if one is due. `nonce` must be unpredictable (random);
    /// `wall_us` is our wall clock now (T1).
    pub fn poll_request(&mut self, now: u64, wall_us: i64, nonce: u64) -> Option<[u8; PACKET_LEN]> {
        if self.pending.is_some() || now < self.next_at {
            return None;
        }
        self.pending = Some(Pending {
            nonce,
            t1_us: wall_us,
            sent_at: now,
        });
        self.stats.requests += 1;
        Some(request(nonce))
    }

    /// A datagram from the server. `Ok` with a sample to apply, `Err` when it was not
    /// usable. A reply that does not answer the outstanding request (or comes when none
    /// is outstanding) changes nothing but the rejected count.
    pub fn handle_reply(
        &mut self,
        now: u64,
        wall_us: i64,
        bytes: &[u8],
    ) -> Result<Sample, SntpError> {
        let Some(p) = self.pending else {
            self.stats.rejected += 1;
            return Err(SntpError::OriginMismatch);
        };
        match parse_reply(bytes, p.nonce) {
            Ok(reply) => {
                self.pending = None;
                self.stats.good_replies += 1;
                self.last_error = None;
                self.backoff_us = BACKOFF_MIN_US;
                self.next_at = now + POLL_INTERVAL_US;
                Ok(sample(&reply, p.t1_us, wall_us))
            }
            Err(e) => {
                self.stats.rejected += 1;
                if !matches!(
                    e,
                    SntpError::OriginMismatch | SntpError::Short | SntpError::NotServerReply
                ) {
                    // The server answered us, but we cannot use its time: wait longer.
                    self.pending = None;
                    self.last_error = Some(e);
                    self.fail(now);
                }
                Err(e)
            }
        }
    }

    /// Ends an outstanding request that was not answered in time.
    pub fn handle_timeout(&mut self, now: u64) {
        if let Some(p) = self.pending {
            if now >= p.sent_at + REPLY_TIMEOUT_US {
                self.pending = None;
                self.stats.timeouts += 1;
                self.fail(now);
            }
        }
    }

    /// A request that was due could not be made (no random nonce, say): try again
    /// later, with the backoff of a failure, so that the caller is not asked every poll.
    pub fn postpone(&mut self, now: u64) {
        if self.pending.is_none() && now >= self.next_at {
            self.fail(now);
        }
    }

    fn fail(&mut self, now: u64) {
        self.next_at = now + self.backoff_us;
        self.backoff_us = (self.backoff_us * 2).min(BACKOFF_MAX_US);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: u64 = 0x0123_4567_89ab_cdef;
    /// 2026-11-30T00:00:00Z.
    const T: i64 = 1_796_083_200_000_000;

    fn reply(nonce: u64, t2: i64, t3: i64) -> [u8; 48] {
        let mut p = [0u8; 48];
        p[0] = 4 << 3 | 4;
        p[1] = 2;
        p[12..16].copy_from_slice(b"GPS\0");
        p[24..32].copy_from_slice(&nonce.to_be_bytes());
        p[32..40].copy_from_slice(&unix_us_to_ntp(t2).to_be_bytes());
        p[40..48].copy_from_slice(&unix_us_to_ntp(t3).to_be_bytes());
        p
    }

    #[test]
    fn request_bytes() {
        let r = request(NONCE);
        assert_eq!(r[0], 0x23);
        assert!(r[1..40].iter().all(|&b| b == 0));
        assert_eq!(&r[40..], &NONCE.to_be_bytes());
    }

    #[test]
    fn timestamps_both_ways_and_across_2036() {
        // 1970 in NTP seconds; 2036-02-07T06:28:16Z is the start of era 1.
        assert_eq!(ntp_to_unix_us(2_208_988_800u64 << 32), 0);
        assert_eq!(ntp_to_unix_us(0), 2_085_978_496_000_000);
        for us in [T, T + 1, T + 999_999, 2_085_978_496_000_000 + 5_500_000] {
            assert_eq!(ntp_to_unix_us(unix_us_to_ntp(us)), us);
        }
    }

    #[test]
    fn offset_and_delay() {
        // Our clock is 10 s behind; 40 ms round trip, 2 ms at the server.
        let r = parse_reply(&reply(NONCE, T + 10_019_000, T + 10_021_000), NONCE).unwrap();
        let s = sample(&r, T, T + 40_000);
        assert_eq!(s.offset_us, 10_000_000);
        assert_eq!(s.delay_us, 38_000);
    }

    #[test]
    fn replies_that_are_refused() {
        let good = reply(NONCE, T, T);
        assert!(parse_reply(&good, NONCE).is_ok());
        assert_eq!(parse_reply(&good[..47], NONCE), Err(SntpError::Short));
        assert_eq!(
            parse_reply(&good, NONCE ^ 1),
            Err(SntpError::OriginMismatch)
        );
        let with = |f: &dyn Fn(&mut [u8; 48])| {
            let mut p = good;
            f(&mut p);
            parse_reply(&p, NONCE)
        };
        assert_eq!(with(&|p| p[0] = 4 << 3 | 3), Err(SntpError::NotServerReply));
        assert_eq!(with(&|p| p[0] = 2 << 3 | 4), Err(SntpError::NotServerReply));
        assert_eq!(with(&|p| p[0] |= 0xc0), Err(SntpError::Unsynchronised));
        assert_eq!(
            with(&|p| {
                p[1] = 0;
                p[12..16].copy_from_slice(b"RATE");
            }),
            Err(SntpError::KissOfDeath(*b"RATE"))
        );
        assert_eq!(with(&|p| p[1] = 16), Err(SntpError::Stratum(16)));
        assert_eq!(with(&|p| p[40..48].fill(0)), Err(SntpError::NoTransmitTime));
        assert_eq!(
            with(&|p| p[8..12].copy_from_slice(&(2u32 << 16).to_be_bytes())),
            Err(SntpError::RootDistance)
        );
    }

    #[test]
    fn a_forged_reply_does_not_end_the_wait() {
        let mut c = Client::new(0);
        assert!(c.poll_request(0, T, NONCE).is_some());
        assert!(c.poll_request(1, T, 7).is_none(), "one request at a time");
        assert_eq!(
            c.handle_reply(1000, T, &reply(0xbad, T + 5_000_000, T + 5_000_000)),
            Err(SntpError::OriginMismatch)
        );
        let s = c.handle_reply(2000, T + 2000, &reply(NONCE, T, T)).unwrap();
        assert_eq!(s.offset_us, -1000);
        assert_eq!(c.stats.rejected, 1);
        assert_eq!(c.stats.good_replies, 1);
        assert_eq!(c.poll_at(), 2000 + POLL_INTERVAL_US);
        // A late duplicate of the good reply: nothing outstanding, rejected.
        assert!(c.handle_reply(3000, T, &reply(NONCE, T, T)).is_err());
    }

    #[test]
    fn failures_back_off_and_a_good_reply_resets() {
        let mut c = Client::new(0);
        let mut now = 0;
        let mut waits = std::vec::Vec::new();
        for i in 0..8 {
            assert!(c.poll_request(now, T, i).is_some());
            now += REPLY_TIMEOUT_US;
            c.handle_timeout(now);
            waits.push((c.poll_at() - now) / 1_000_000);
            now = c.poll_at();
        }
        assert_eq!(waits, [4, 8, 16, 32, 64, 128, 256, 256]);
        assert_eq!(c.stats.timeouts, 8);
        // A kiss-o'-death backs off too (after a reset by a good reply).
        assert!(c.poll_request(now, T, 99).is_some());
        assert!(c.handle_reply(now, T, &reply(99, T, T)).is_ok());
        now = c.poll_at();
        assert!(c.poll_request(now, T, 100).is_some());
        let mut kod = reply(100, T, T);
        kod[1] = 0;
        assert!(matches!(
            c.handle_reply(now, T, &kod),
            Err(SntpError::KissOfDeath(_))
        ));
        assert_eq!(c.poll_at(), now + BACKOFF_MIN_US);
        // A due request that could not be made is postponed, not asked for again now.
        let mut d = Client::new(10);
        d.postpone(10);
        assert_eq!(d.poll_at(), 10 + BACKOFF_MIN_US);
        d.postpone(11);
        assert_eq!(d.poll_at(), 10 + BACKOFF_MIN_US, "not yet due: unchanged");
    }
}
