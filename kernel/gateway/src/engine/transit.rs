//! Transit (hub-and-spoke): a packet opened from peer A for peer B's prefixes is
//! re-sealed to B when both have transit on; it never touches lan and never goes
//! clear. Anti-spoof applied before (the source is A's); B applies its own on arrival
//! (it must list the other spokes' prefixes under the hub peer).
//!
//! Flow log at the hub: one flow per relayed 5-tuple, direction `I` (it came from a
//! tunnel), encryption `X` (both legs sealed); replies count as received on the same
//! flow. Refused transit is logged `X` with state `D`; a relay whose next leg is not
//! up is logged `NX_NOT_ACCEPTED` with state `D`.

use super::{Gateway, Verdict};
use crate::counters::DropReason;
use crate::flowlog::{Direction, Encryption};
use crate::mss;
use crate::peer::{PeerError, PeerId};
use crate::policy::{self, Relay};
use crate::session::SessionLayer;
use crate::Instant;

impl<L: SessionLayer> Gateway<L> {
    /// Turns transit on or off for a peer, keeping its sessions.
    pub fn set_peer_transit(&mut self, id: PeerId, on: bool) -> Result<(), PeerError> {
        let s = self.slot_mut(id).ok_or(PeerError::Unknown)?;
        s.cfg.transit = on;
        Ok(())
    }

    /// Relays the opened packet at `buf[ip_off..ip_off + ip_len]` (checked; `tcp` if it
    /// carries TCP) from `from` (whose source it is) to `to`, whose prefixes hold its
    /// destination.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn relay<'b>(
        &mut self,
        now: Instant,
        from: PeerId,
        to: PeerId,
        buf: &'b mut [u8],
        ip_off: usize,
        ip_len: usize,
        tcp: bool,
    ) -> Verdict<'b> {
        let transit = |id| self.slot(id).is_some_and(|s| s.cfg.transit);
        let (from_on, to_on) = (transit(from), transit(to));
        let Some((state, endpoint)) = self.slot(to).map(|s| (s.peer_state(), s.endpoint)) else {
            return self.drop_for(DropReason::NoRoute, Some(from));
        };
        let packet = ip_off..ip_off + ip_len;
        match policy::relay(from_on, to_on, state) {
            Relay::Refuse => {
                self.record_flow(
                    now,
                    &buf[packet],
                    Direction::Inbound,
                    Encryption::Encrypted,
                    true,
                );
                self.drop_for(DropReason::TransitRefused, Some(from))
            }
            Relay::NoTunnel { start } => {
                if start {
                    self.start_handshake(now, to);
                }
                self.record_flow(
                    now,
                    &buf[packet],
                    Direction::Inbound,
                    Encryption::NotAccepted,
                    true,
                );
                self.drop_for(DropReason::TransitNoTunnel, Some(to))
            }
            Relay::Seal => {
                // The peer's current endpoint (configured or learned); an up tunnel
                // always has one.
                let Some(endpoint) = endpoint else {
                    return self.drop_for(DropReason::TransitNoTunnel, Some(to));
                };
                // Both legs share our wan MTU, and the spoke clamped TCP to its own
                // tunnel: only a spoke with a larger wan MTU sends what does not fit.
                if ip_len > self.tunnel_mtu() {
                    return self.drop_for(DropReason::TooBigDf, Some(from));
                }
                if tcp && mss::clamp(&mut buf[packet.clone()], self.clamped_mss()) {
                    self.counters.mss_clamped += 1;
                }
                self.record_flow(
                    now,
                    &buf[packet],
                    Direction::Inbound,
                    Encryption::Encrypted,
                    false,
                );
                match self.seal(now, to, buf, ip_off, ip_len) {
                    Ok(r) => {
                        self.counters.relayed += 1;
                        self.counters.wan.tx(r.len());
                        Verdict::ToPeer {
                            to: endpoint,
                            datagram: &mut buf[r],
                        }
                    }
                    Err(reason) => self.drop_for(reason, Some(to)),
                }
            }
        }
    }
}
