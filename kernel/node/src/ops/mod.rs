//! Operations: the wall clock (RTC, then SNTP) that flow-record timestamps follow, the
//! SNTP client that disciplines it, and the Prometheus metrics endpoint on lan.
//!
//! The pure parts (HTTP parser, exposition writer, SNTP codec and clock discipline)
//! are `vnetcrypt-ops`; here they meet the NICs (`net::ops` owns the sockets), the
//! gateway engine and the platform's randomness.

mod metrics;
mod time;

use crate::datapath::Datapath;
use crate::net::Interfaces;
use crate::platform::Platform;
use core::net::Ipv4Addr;
use vnetcrypt_console::config::Config;
use vnetcrypt_ops::metrics::{HandshakeLatency, HANDSHAKE_BUCKETS_US};
use vnetcrypt_ops::sntp::Client;
use vnetcrypt_ops::wallclock::WallClock;

pub use metrics::HandshakeWatch;

pub struct Ops {
    pub clock: WallClock,
    /// The SNTP client and the server it asks.
    sntp: Option<(Ipv4Addr, Client)>,
    /// Why SNTP is not running although configured (for `time`).
    sntp_blocked: Option<&'static str>,
    handshakes: HandshakeWatch,
    latency: HandshakeLatency,
}

impl Ops {
    pub fn new(p: &dyn Platform) -> Self {
        Self {
            clock: WallClock::new(crate::datapath::rtc_unix_us(p), p.now_us()),
            sntp: None,
            sntp_blocked: None,
            handshakes: HandshakeWatch::default(),
            latency: HandshakeLatency::new(HANDSHAKE_BUCKETS_US),
        }
    }

    /// Runs what is due: the sockets follow the configuration, SNTP asks and listens,
    /// handshakes are timed (while metrics are on), the data plane's wall clock is
    /// updated and metrics requests are answered. Returns whether anything was sent.
    pub fn poll(
        &mut self,
        net: &mut Interfaces,
        dp: &mut Datapath,
        cfg: &Config,
        p: &dyn Platform,
    ) -> bool {
        let now = p.now_us();
        net.apply_ops(cfg);
        let sent = self.poll_sntp(net, cfg, p);
        dp.set_epoch_ms(self.clock.epoch_ms(now));
        if cfg.metrics.is_none() {
            return sent;
        }
        if let Some(gw) = dp.engine() {
            self.handshakes.observe(gw, now, &mut self.latency);
        }
        let served = net.serve_metrics(now, &mut |net| metrics::render(self, net, dp, cfg, now));
        sent || served
    }

    /// When [`Self::poll`] is next due with nothing received (uptime microseconds).
    pub fn poll_at(&self, net: &Interfaces) -> Option<u64> {
        let sntp = self.sntp.as_ref().map(|(_, c)| c.poll_at());
        [sntp, net.ops_deadline()].into_iter().flatten().min()
    }
}
