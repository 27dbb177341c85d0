//! lan → wan: ARP, enforcement, MSS clamping, DF/fragmentation, sealing.

use smoltcp::wire::{
    ArpOperation, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, IpProtocol,
};

use super::peers::slot_in;
use super::{Gateway, TxItem, Verdict, ETH, SLOT};
use crate::arp;
use crate::counters::DropReason;
use crate::flowlog::{Direction, Encryption};
use crate::frag;
use crate::icmp;
use crate::mss;
use crate::peer::PeerId;
use crate::policy::{self, Outbound, PeerFacts};
use crate::route::LanHop;
use crate::session::SessionLayer;
use crate::Instant;

impl<L: SessionLayer> Gateway<L> {
    /// Handles an Ethernet frame from lan at `buf[frame_off..frame_off + frame_len]`.
    /// For sealing in place, `frame_off >= HEADROOM` and `TAILROOM` bytes must follow.
    pub fn handle_lan_frame<'b>(
        &mut self,
        now: Instant,
        buf: &'b mut [u8],
        frame_off: usize,
        frame_len: usize,
    ) -> Verdict<'b> {
        self.counters.lan.rx(frame_len);
        let Some(frame) = frame_off
            .checked_add(frame_len)
            .and_then(|end| buf.get(frame_off..end))
        else {
            return self.drop_for(DropReason::MalformedFrame, None);
        };
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return self.drop_for(DropReason::MalformedFrame, None);
        };
        let dst = eth.dst_addr();
        let to_us = dst == self.cfg.lan_mac;
        match eth.ethertype() {
            EthernetProtocol::Arp if to_us || dst.is_broadcast() => {
                self.lan_arp(now, buf, frame_off, frame_len)
            }
            EthernetProtocol::Ipv4 if to_us => self.lan_ipv4(now, buf, frame_off, frame_len),
            EthernetProtocol::Arp | EthernetProtocol::Ipv4 => {
                self.drop_for(DropReason::NotOurMac, None)
            }
            _ => self.drop_for(DropReason::UnsupportedEtherType, None),
        }
    }

    fn lan_arp<'b>(
        &mut self,
        now: Instant,
        buf: &'b mut [u8],
        off: usize,
        len: usize,
    ) -> Verdict<'b> {
        let Some(ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_protocol_addr: tpa,
            ..
        }) = arp::parse(&buf[off + ETH..off + len])
        else {
            return self.drop_for(DropReason::MalformedFrame, None);
        };
        // Only on-link addresses have MACs here; a routed address is its router's.
        if self.on_link(spa) && spa != self.cfg.lan_ip && sha.is_unicast() {
            self.neighbours.learn(now, spa, sha);
            self.arp_resolved(spa, sha);
        }
        if operation != ArpOperation::Request {
            return Verdict::Consumed;
        }
        let ours = tpa == self.cfg.lan_ip;
        let proxied = self.cfg.proxy_arp && self.owners.contains(tpa) && !self.lan.contains(tpa);
        if !(ours || proxied) {
            return Verdict::Consumed;
        }
        let reply = arp::reply(self.cfg.lan_mac, tpa, sha, spa);
        match arp::emit(&mut buf[off..], sha, &reply) {
            Some(n) => {
                self.counters.arp_replies += 1;
                self.counters.lan.tx(n);
                Verdict::ToLan {
                    frame: &mut buf[off..off + n],
                }
            }
            None => self.drop_for(DropReason::MalformedFrame, None),
        }
    }

    fn lan_ipv4<'b>(
        &mut self,
        now: Instant,
        buf: &'b mut [u8],
        off: usize,
        len: usize,
    ) -> Verdict<'b> {
        let ip_off = off + ETH;
        let Some(p) = crate::ipv4::checked(&buf[ip_off..off + len]) else {
            return self.drop_for(DropReason::MalformedPacket, None);
        };
        if !crate::ipv4::checksum_ok(&p) {
            return self.drop_for(DropReason::MalformedPacket, None);
        }
        let ip_len = usize::from(p.total_len());
        let (src, dst, df) = (p.src_addr(), p.dst_addr(), p.dont_frag());
        let tcp = p.next_header() == IpProtocol::Tcp;
        if dst == self.cfg.lan_ip {
            return self.drop_for(DropReason::ToAppliance, None);
        }
        if let Some(LanHop::Via(via)) = self.lan.lookup(src).copied() {
            // A routed source speaks only through its router.
            let from = EthernetAddress::from_bytes(&buf[off + 6..off + 12]);
            match self.neighbours.lookup(now, via) {
                Some(mac) if mac == from => {
                    // Refreshed before it expires: a router's own traffic would not
                    // tell us its MAC again, and a lapse would drop its packets.
                    if self.neighbours.stale(now, via) {
                        self.arp_request(now, via);
                    }
                }
                known => {
                    if known.is_none() {
                        self.arp_request(now, via);
                    }
                    return self.drop_for(DropReason::LanSpoofed, None);
                }
            }
        }
        if self.lan.contains(dst) {
            // Our own protected set: its hosts reach each other on lan (or through
            // their router), never through us and never across wan. (Relaying back onto
            // lan without decrementing TTL could loop with a misconfigured router.)
            return self.drop_for(DropReason::LanToLan, None);
        }
        let global = self.cfg.enforcement;
        let peer = self.owners.lookup(dst).copied();
        let fallback_after = self.cfg.fallback_after;
        let facts = peer.and_then(|id| self.slot(id)).map(|s| PeerFacts {
            enforcement: s.enforcement(global),
            state: s.peer_state(),
            fallback_due: s.fallback_due(now, fallback_after),
        });
        // (Whether D is private only matters when no peer owns it.)
        let dst_private = peer.is_none() && self.cfg.private.contains(dst);
        let mut decision = policy::outbound(facts, dst_private, global);
        // Packets that waited for the session go first: keep the flow in order.
        if decision == Outbound::Seal
            && peer
                .and_then(|id| self.slot(id))
                .is_some_and(|s| !s.waiting.is_empty())
        {
            decision = Outbound::Wait { start: false };
        }
        match (decision, peer) {
            (Outbound::Seal, Some(id)) | (Outbound::Wait { .. }, Some(id)) => {
                if tcp && mss::clamp(&mut buf[ip_off..ip_off + ip_len], self.clamped_mss()) {
                    self.counters.mss_clamped += 1;
                }
                let waiting = matches!(decision, Outbound::Wait { .. });
                if let Outbound::Wait { start: true } = decision {
                    self.start_handshake(now, id);
                }
                let mtu = self.tunnel_mtu();
                if ip_len > mtu {
                    if df {
                        return self.frag_needed(buf, off, ip_len, mtu, Some(id));
                    }
                    return self.fragment_to(now, id, waiting, buf, ip_off, ip_len);
                }
                // Packets waiting for a session sit in slots of SLOT bytes (per peer:
                // jumbo slots would cost every peer 32 × 9 KB): a larger one is
                // fragmented to fit, or, with DF, dropped and counted; it only happens
                // while a handshake runs, and the sender retransmits.
                if waiting && ip_len > SLOT {
                    if df {
                        return self.drop_for(DropReason::SessionQueueFull, Some(id));
                    }
                    return self.fragment_to(now, id, waiting, buf, ip_off, ip_len);
                }
                if waiting {
                    return self.enqueue_waiting(now, id, buf, ip_off, ip_len);
                }
                let to = match self.slot(id).and_then(|s| s.endpoint) {
                    Some(to) => to,
                    None => return self.drop_for(DropReason::SealFailed, Some(id)),
                };
                self.record_flow(
                    now,
                    &buf[ip_off..ip_off + ip_len],
                    Direction::Outbound,
                    Encryption::Encrypted,
                    false,
                );
                match self.seal(now, id, buf, ip_off, ip_len) {
                    Ok(r) => {
                        self.counters.wan.tx(r.len());
                        Verdict::ToPeer {
                            to,
                            datagram: &mut buf[r],
                        }
                    }
                    Err(reason) => self.drop_for(reason, Some(id)),
                }
            }
            (Outbound::Clear(enc), _) => {
                // The same MTU rules as the tunnel's, at the wan MTU.
                let mtu = self.cfg.wan_mtu;
                if ip_len > mtu && df {
                    return self.frag_needed(buf, off, ip_len, mtu, peer);
                }
                self.record_flow(
                    now,
                    &buf[ip_off..ip_off + ip_len],
                    Direction::Outbound,
                    enc,
                    false,
                );
                if ip_len > mtu {
                    return self.fragment_clear(buf, ip_off, ip_len, peer);
                }
                self.counters.wan.tx(ip_len);
                Verdict::ToWanClear {
                    packet: &mut buf[ip_off..ip_off + ip_len],
                }
            }
            (Outbound::Drop(reason, enc), _) => {
                self.record_flow(
                    now,
                    &buf[ip_off..ip_off + ip_len],
                    Direction::Outbound,
                    enc,
                    true,
                );
                self.drop_for(reason, peer)
            }
            // Seal/Wait without a peer cannot be decided by the policy; never silent.
            (Outbound::Seal | Outbound::Wait { .. }, None) => {
                self.drop_for(DropReason::SealFailed, None)
            }
        }
    }

    fn enqueue_waiting<'b>(
        &mut self,
        _now: Instant,
        id: PeerId,
        buf: &'b mut [u8],
        ip_off: usize,
        ip_len: usize,
    ) -> Verdict<'b> {
        let Some(slot) = self.slot_mut(id) else {
            return self.drop_for(DropReason::SealFailed, None);
        };
        match slot.waiting.push(_now, &buf[ip_off..ip_off + ip_len]) {
            Ok(()) => Verdict::Consumed,
            Err(_) => self.drop_for(DropReason::SessionQueueFull, Some(id)),
        }
    }

    fn frag_needed<'b>(
        &mut self,
        buf: &'b mut [u8],
        off: usize,
        ip_len: usize,
        mtu: usize,
        id: Option<PeerId>,
    ) -> Verdict<'b> {
        self.counters.drop(DropReason::TooBigDf);
        if let Some(s) = id.and_then(|id| self.slot_mut(id)) {
            s.counters.drops += 1;
        }
        let mtu = u16::try_from(mtu).unwrap_or(u16::MAX);
        match icmp::frag_needed_in_place(buf, off, ip_len, self.cfg.lan_mac, self.cfg.lan_ip, mtu) {
            Some(n) => {
                self.counters.icmp_frag_needed += 1;
                self.counters.lan.tx(n);
                Verdict::ToLan {
                    frame: &mut buf[off..off + n],
                }
            }
            None => Verdict::Dropped(DropReason::TooBigDf),
        }
    }

    /// Fragments a plaintext packet for wan into the output queue.
    fn fragment_clear<'b>(
        &mut self,
        buf: &'b mut [u8],
        ip_off: usize,
        ip_len: usize,
        peer: Option<PeerId>,
    ) -> Verdict<'b> {
        let mtu = self.cfg.wan_mtu;
        let packet = &buf[ip_off..ip_off + ip_len];
        let mut scratch = core::mem::take(&mut self.scratch);
        let mut refused = false;
        let tx = &mut self.tx;
        let mut copied = 0;
        let result = frag::fragment(packet, mtu, &mut scratch, |f| {
            copied += f.len() as u64;
            refused = tx.push(TxItem::WanClear, f).is_err();
            !refused
        });
        self.counters.bytes_copied += copied;
        self.scratch = scratch;
        match result {
            Ok(n) => {
                self.counters.fragments_out += (n - usize::from(refused)) as u64;
                if refused {
                    return self.drop_for(DropReason::TxQueueFull, peer);
                }
                Verdict::Consumed
            }
            Err(_) => self.drop_for(DropReason::TooBigClear, peer),
        }
    }

    fn fragment_to<'b>(
        &mut self,
        now: Instant,
        id: PeerId,
        waiting: bool,
        buf: &'b mut [u8],
        ip_off: usize,
        ip_len: usize,
    ) -> Verdict<'b> {
        let mtu = if waiting {
            self.tunnel_mtu().min(SLOT)
        } else {
            self.tunnel_mtu()
        };
        let packet = &buf[ip_off..ip_off + ip_len];
        if !waiting {
            self.record_flow(
                now,
                packet,
                Direction::Outbound,
                Encryption::Encrypted,
                false,
            );
        }
        let mut scratch = core::mem::take(&mut self.scratch);
        let mut refused = false;
        let tx = &mut self.tx;
        let slot = match slot_in(&mut self.peers, id) {
            Some(s) => s,
            None => {
                self.scratch = scratch;
                return self.drop_for(DropReason::SealFailed, None);
            }
        };
        let mut copied = 0;
        let result = frag::fragment(packet, mtu, &mut scratch, |f| {
            copied += f.len() as u64;
            let r = if waiting {
                slot.waiting.push(now, f)
            } else {
                tx.push(TxItem::Seal(id), f)
            };
            refused = r.is_err();
            !refused
        });
        self.counters.bytes_copied += copied;
        self.scratch = scratch;
        match result {
            Ok(n) => {
                self.counters.fragments_out += (n - usize::from(refused)) as u64;
                if refused {
                    let reason = if waiting {
                        DropReason::SessionQueueFull
                    } else {
                        DropReason::TxQueueFull
                    };
                    return self.drop_for(reason, Some(id));
                }
                Verdict::Consumed
            }
            Err(_) => self.drop_for(DropReason::MalformedPacket, Some(id)),
        }
    }
}
