//! The SNTP client's I/O and the `time` view.
//!
//! Only a server on the lan subnet is asked (the configuration refuses others): SNTP
//! is unauthenticated, and whoever can answer for the server sets our clock. Replies
//! must come from the server's address and port 123 and carry our request's random
//! nonce as originate timestamp; everything else is counted and ignored.

use super::Ops;
use crate::net::Interfaces;
use crate::platform::Platform;
use core::fmt::{self, Write};
use vnetcrypt_console::config::Config;
use vnetcrypt_ops::sntp::{Client, PACKET_LEN, PORT};
use vnetcrypt_ops::wallclock::{write_iso8601, Correction, Source};

/// Backwards steps larger than this are logged as a warning (any step is logged).
const BACKWARD_STEP_WARN_US: i64 = 1_000_000;

impl Ops {
    /// Follows `cfg.ntp`, takes replies, ends late requests and sends the next one.
    pub(super) fn poll_sntp(
        &mut self,
        net: &mut Interfaces,
        cfg: &Config,
        p: &dyn Platform,
    ) -> bool {
        let now = p.now_us();
        match (cfg.ntp, &self.sntp) {
            (None, None) => return false,
            (None, Some(_)) => {
                self.sntp = None;
                self.clock.reset();
                p.log(format_args!("time: sntp off, back to the rtc"));
                return false;
            }
            (Some(server), Some((s, _))) if *s == server => {}
            (Some(server), _) => self.sntp = Some((server, Client::new(now))),
        }
        let Some((server, client)) = self.sntp.as_mut() else {
            return false;
        };
        let mut buf = [0u8; PACKET_LEN + 16];
        while let Some((n, from)) = net.sntp_recv(&mut buf) {
            if *from.ip() != *server || from.port() != PORT {
                client.stats.rejected += 1;
                continue;
            }
            let wall = self.clock.unix_us(now);
            match client.handle_reply(now, wall, &buf[..n]) {
                Ok(s) => match self.clock.apply(now, s.offset_us, s.delay_us, s.stratum) {
                    Correction::Stepped(by) if by <= -BACKWARD_STEP_WARN_US => p.log(format_args!(
                        "time: WARNING clock stepped BACK by {} ms (sntp {server}, stratum {})",
                        -by / 1000,
                        s.stratum
                    )),
                    Correction::Stepped(by) => p.log(format_args!(
                        "time: clock stepped by {} ms (sntp {server}, stratum {})",
                        by / 1000,
                        s.stratum
                    )),
                    Correction::Slewing(_) => {}
                },
                Err(e) => p.log(format_args!("time: sntp reply rejected: {}", e.name())),
            }
        }
        client.handle_timeout(now);
        if client.poll_at() > now {
            return false;
        }
        let mut nonce = [0u8; 8];
        if p.fill_random(&mut nonce).is_err() {
            // A predictable nonce would let anyone who guesses it set our clock.
            self.sntp_blocked = Some("no random source for request nonces");
            client.postpone(now);
            return false;
        }
        self.sntp_blocked = None;
        let wall = self.clock.unix_us(now);
        let Some(request) = client.poll_request(now, wall, u64::from_le_bytes(nonce)) else {
            return false;
        };
        net.sntp_send(*server, &request)
    }

    /// `time`: the wall clock, its source, the last sync and the SNTP client's counts.
    pub fn write_time(&self, now: u64, w: &mut dyn Write) -> fmt::Result {
        w.write_str("time ")?;
        write_iso8601(w, self.clock.unix_us(now) / 1000)?;
        let source = match self.clock.source() {
            Source::None => "none (no rtc; counting from boot)",
            Source::Rtc => "rtc (read at boot)",
            Source::Sntp => "sntp",
        };
        writeln!(w, "\nsource {source}")?;
        let Some((server, c)) = &self.sntp else {
            return writeln!(w, "ntp off");
        };
        write!(w, "ntp server {server}")?;
        if let Some(s) = self.clock.last_sync {
            writeln!(
                w,
                ", stratum {}\nlast sync {} s ago, offset {} us, delay {} us",
                s.stratum,
                now.saturating_sub(s.at) / 1_000_000,
                s.offset_us,
                s.delay_us
            )?;
        } else {
            writeln!(w, "\nlast sync never")?;
        }
        if let Some(why) = self.sntp_blocked {
            writeln!(w, "sntp stopped: {why}")?;
        }
        if let Some(e) = c.last_error {
            writeln!(w, "last error {}", e.name())?;
        }
        let s = c.stats;
        writeln!(
            w,
            "sntp requests {} replies {} rejected {} timeouts {}; steps {} (backwards {}); next poll in {} s",
            s.requests,
            s.good_replies,
            s.rejected,
            s.timeouts,
            self.clock.steps,
            self.clock.backward_steps,
            c.poll_at().saturating_sub(now) / 1_000_000
        )
    }

    /// The SNTP numbers for the metrics.
    pub(super) fn time_stats(&self, now: u64) -> vnetcrypt_ops::metrics::TimeStats {
        let stats = self.sntp.as_ref().map(|(_, c)| c.stats).unwrap_or_default();
        vnetcrypt_ops::metrics::TimeStats {
            synced: self.clock.source() == Source::Sntp,
            last_offset_us: self
                .clock
                .last_sync
                .map(|s| (s.offset_us, now.saturating_sub(s.at))),
            requests: stats.requests,
            good_replies: stats.good_replies,
            rejected: stats.rejected,
            timeouts: stats.timeouts,
            steps: self.clock.steps,
            backward_steps: self.clock.backward_steps,
        }
    }
}
