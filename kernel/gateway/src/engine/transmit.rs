//! Sealing and the output side: `poll_transmit` drains handshake flights, queued frames
//! and fragments, records that overtook a handshake, and packets that waited for a
//! session; ARP requests and the ARP waiting queue.

use core::net::Ipv4Addr;

use smoltcp::wire::EthernetAddress;

use super::lifecycle::rekey;
use super::peers::slot_in;
use super::{write_eth, Destination, Gateway, Transmit, TxItem, Verdict, ETH};
use crate::arp;
use crate::counters::DropReason;
use crate::flowlog::{Direction, Encryption};
use crate::peer::PeerId;
use crate::session::{Session, SessionLayer};
use crate::Instant;

impl<L: SessionLayer> Gateway<L> {
    /// Seals the IPv4 packet at `buf[ip_off..ip_off + ip_len]` for a peer; the record's
    /// range in `buf`.
    pub(super) fn seal(
        &mut self,
        now: Instant,
        id: PeerId,
        buf: &mut [u8],
        ip_off: usize,
        ip_len: usize,
    ) -> Result<core::ops::Range<usize>, DropReason> {
        let start = ip_off
            .checked_sub(Self::HEADROOM)
            .ok_or(DropReason::SealFailed)?;
        let end = ip_off + ip_len + Self::TAILROOM;
        let region = buf.get_mut(start..end).ok_or(DropReason::SealFailed)?;
        let n = self.seal_record(now, id, region, ip_len)?;
        if let Some(slot) = self.slot_mut(id) {
            slot.counters.sealed_packets += 1;
            slot.counters.sealed_bytes += ip_len as u64;
        }
        Ok(start..start + n)
    }

    /// Seals `region[HEADROOM..HEADROOM + len]` with the peer's current session (an
    /// empty record is a keepalive), and starts a rekey when the keys are due for one:
    /// by age, by `rekey_records`, or at the session's AEAD limit.
    fn seal_record(
        &mut self,
        now: Instant,
        id: PeerId,
        region: &mut [u8],
        len: usize,
    ) -> Result<usize, DropReason> {
        let interval = self.cfg.rekey_interval;
        let records = self.cfg.rekey_records;
        let slot = slot_in(&mut self.peers, id).ok_or(DropReason::SealFailed)?;
        if !slot.established() {
            return Err(DropReason::SealFailed);
        }
        let session = slot.current.as_mut().ok_or(DropReason::SealFailed)?;
        let n = session
            .seal_in_place(now, region, len)
            .map_err(|_| DropReason::SealFailed)?;
        slot.last_sent = now;
        slot.sealed_since_rekey += 1;
        let by_count = records > 0 && slot.sealed_since_rekey >= records;
        if session.rekey_due() || by_count || now.saturating_since(slot.keyed_at) >= interval {
            rekey(&mut self.layer, slot, now);
        }
        Ok(n)
    }

    /// An authenticated keepalive for an up peer that we have sent nothing to for
    /// `keepalive_interval`, or whose keepalive found us silent: an empty record, which
    /// the peer absorbs.
    fn keepalive(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let every = self.cfg.keepalive_interval;
        let due = self.peers.iter().position(|p| {
            p.as_ref().is_some_and(|s| {
                s.established() && (s.keepalive_owed || now.saturating_since(s.last_sent) >= every)
            })
        })?;
        if let Some(s) = self.slot_mut(PeerId(due as u16)) {
            s.keepalive_owed = false;
        }
        let id = PeerId(due as u16);
        let to = self.slot(id)?.endpoint?;
        let region = buf.get_mut(..Self::HEADROOM + Self::TAILROOM)?;
        match self.seal_record(now, id, region, 0) {
            Ok(n) => {
                if let Some(s) = self.slot_mut(id) {
                    s.counters.keepalives_sent += 1;
                }
                self.counters.wan.tx(n);
                Some(Transmit {
                    destination: Destination::Peer(to),
                    len: n,
                })
            }
            Err(_) => {
                // Not sealable now (usage limit): try again after another interval.
                if let Some(s) = self.slot_mut(id) {
                    s.last_sent = now;
                }
                None
            }
        }
    }

    /// Writes the next transmission into `buf` (of at least [`Gateway::buffer_len`]
    /// bytes): handshake flights, queued frames and fragments, then packets that waited
    /// for a session now established.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((to, n)) = self.poll_stranger(now, buf) {
            self.counters.wan.tx(n);
            return Some(Transmit {
                destination: Destination::Peer(to),
                len: n,
            });
        }
        for i in 0..self.peers.len() {
            let Some(slot) = self.peers[i].as_mut() else {
                continue;
            };
            // A session exists only toward an address: one we called, or the one the
            // peer's handshake came from.
            if let Some(to) = slot.endpoint {
                for s in [slot.current.as_mut(), slot.pending.as_mut()]
                    .into_iter()
                    .flatten()
                {
                    if let Some(n) = s.poll_transmit(now, buf) {
                        self.counters.wan.tx(n);
                        return Some(Transmit {
                            destination: Destination::Peer(to),
                            len: n,
                        });
                    }
                }
            }
            // Records that overtook a handshake, opened now that it has keys.
            let h = Self::HEADROOM + ETH;
            let mut late = None;
            for s in [slot.current.as_mut(), slot.pending.as_mut()]
                .into_iter()
                .flatten()
            {
                if let Some(n) = s.poll_received(&mut buf[h..]) {
                    late = Some(n);
                    break;
                }
            }
            if let Some(n) = late {
                let id = PeerId(i as u16);
                if let Some(s) = self.slot_mut(id) {
                    s.counters.opened_packets += 1;
                    s.counters.opened_bytes += n as u64;
                }
                let base = buf.as_ptr() as usize;
                let out = match self.forward_inner(now, id, buf, h, n) {
                    Verdict::ToLan { frame } => Some((
                        Destination::Lan,
                        frame.as_ptr() as usize - base,
                        frame.len(),
                    )),
                    // Relayed to another peer (transit).
                    Verdict::ToPeer { to, datagram } => Some((
                        Destination::Peer(to),
                        datagram.as_ptr() as usize - base,
                        datagram.len(),
                    )),
                    _ => None,
                };
                self.counters.bytes_copied += n as u64;
                if let Some((destination, start, len)) = out {
                    buf.copy_within(start..start + len, 0);
                    self.counters.bytes_copied += len as u64;
                    return Some(Transmit { destination, len });
                }
                // Parked for ARP or dropped (counted): look for more.
                return self.poll_transmit(now, buf);
            }
            // A handshake the peer started is established and its last flight is out:
            // only now may records sealed with it follow that flight.
            if slot.pending.as_ref().is_some_and(|s| s.is_established()) && !slot.pending_drained {
                slot.pending_drained = true;
                // The handshake's own duration (two round trips for DTLS with a
                // cookie) bounds how long its last flight takes to arrive.
                let took = now.saturating_since(slot.pending_started);
                let grace = took.clamp(core::time::Duration::from_millis(1), self.cfg.switch_grace);
                slot.pending_switch_at = Some(now + grace);
                self.update_peer(now, PeerId(i as u16));
            }
        }
        while let Some((item, _)) = self.tx.front() {
            match item {
                TxItem::Lan | TxItem::WanClear => {
                    let (_, n) = self.tx.pop_into(buf, 0)?;
                    if n == 0 {
                        self.counters.drop(DropReason::TxQueueFull);
                        continue;
                    }
                    let destination = if item == TxItem::Lan {
                        self.counters.lan.tx(n);
                        Destination::Lan
                    } else {
                        self.counters.wan.tx(n);
                        Destination::WanClear
                    };
                    return Some(Transmit {
                        destination,
                        len: n,
                    });
                }
                TxItem::Reply(_) | TxItem::ReplyTo(_) => {
                    let (_, n) = self.tx.pop_into(buf, 0)?;
                    let to = match item {
                        TxItem::Reply(id) => self.slot(id).and_then(|s| s.endpoint),
                        TxItem::ReplyTo(to) => Some(to),
                        _ => None,
                    };
                    let Some(to) = to else {
                        continue;
                    };
                    self.counters.wan.tx(n);
                    return Some(Transmit {
                        destination: Destination::Peer(to),
                        len: n,
                    });
                }
                TxItem::Seal(id) => {
                    let (_, n) = self.tx.pop_into(buf, Self::HEADROOM)?;
                    if let Some(t) = self.seal_polled(now, id, buf, n) {
                        return Some(t);
                    }
                }
            }
        }
        for i in 0..self.peers.len() {
            let id = PeerId(i as u16);
            let ready = self
                .slot(id)
                .is_some_and(|s| s.established() && !s.waiting.is_empty());
            if !ready {
                continue;
            }
            let Some((_, n)) = self
                .slot_mut(id)
                .and_then(|s| s.waiting.pop_into(buf, Self::HEADROOM))
            else {
                continue;
            };
            if n > 0 {
                let h = Self::HEADROOM;
                self.record_flow(
                    now,
                    &buf[h..h + n],
                    Direction::Outbound,
                    Encryption::Encrypted,
                    false,
                );
            }
            if let Some(t) = self.seal_polled(now, id, buf, n) {
                return Some(t);
            }
        }
        self.keepalive(now, buf)
    }

    pub(super) fn seal_polled(
        &mut self,
        now: Instant,
        id: PeerId,
        buf: &mut [u8],
        n: usize,
    ) -> Option<Transmit> {
        if n == 0 {
            self.drop_for(DropReason::TxQueueFull, Some(id));
            return None;
        }
        let Some(to) = self.slot(id)?.endpoint else {
            self.drop_for(DropReason::SealFailed, Some(id));
            return None;
        };
        match self.seal(now, id, buf, Self::HEADROOM, n) {
            Ok(r) => {
                debug_assert_eq!(r.start, 0);
                self.counters.wan.tx(r.len());
                Some(Transmit {
                    destination: Destination::Peer(to),
                    len: r.len(),
                })
            }
            Err(reason) => {
                self.drop_for(reason, Some(id));
                None
            }
        }
    }

    /// Asks lan who has `ip`, at most once per ARP timeout.
    pub(super) fn arp_request(&mut self, now: Instant, ip: Ipv4Addr) {
        if let Some(t) = self.arp_asked.get(&ip) {
            if now.saturating_since(*t) < self.cfg.arp_timeout {
                return;
            }
        }
        if self.arp_asked.len() == self.arp_asked.capacity() {
            self.arp_asked.clear();
        }
        let _ = self.arp_asked.insert(ip, now);
        let req = arp::request(self.cfg.lan_mac, self.cfg.lan_ip, ip);
        let pushed = self.tx.push_with(TxItem::Lan, arp::ARP_FRAME_LEN, |b| {
            let _ = arp::emit(b, EthernetAddress::BROADCAST, &req);
        });
        match pushed {
            Ok(()) => self.counters.arp_requests += 1,
            Err(_) => self.counters.drop(DropReason::TxQueueFull),
        }
    }

    pub(super) fn expire_arp(&mut self, now: Instant) {
        let timeout = self.cfg.arp_timeout;
        let counters = &mut self.counters;
        self.arp_wait.retain(
            |w, _| now.saturating_since(w.since) < timeout,
            |_, _| counters.drop(DropReason::ArpUnresolved),
        );
    }

    /// Moves packets waiting for `ip`'s MAC to the output queue.
    pub(super) fn arp_resolved(&mut self, ip: Ipv4Addr, mac: EthernetAddress) {
        let our = self.cfg.lan_mac;
        let tx = &mut self.tx;
        let counters = &mut self.counters;
        self.arp_wait.retain(
            |w, _| w.next_hop != ip,
            |_, pkt| {
                let r = tx.push_with(TxItem::Lan, ETH + pkt.len(), |b| {
                    write_eth(&mut b[..ETH], mac, our);
                    b[ETH..].copy_from_slice(pkt);
                });
                if r.is_err() {
                    counters.drop(DropReason::TxQueueFull);
                }
            },
        );
    }
}
