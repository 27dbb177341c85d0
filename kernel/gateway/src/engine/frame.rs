//! The whole wan side in the caller's buffer: whole Ethernet frames in, whole Ethernet
//! frames out, each in the buffer it arrived in.
//!
//! - [`Gateway::process_lan_frame`]: a lan frame becomes a wan frame (record sealed in
//!   place, outer IPv4 + UDP + Ethernet written in the headroom before it), a clear wan
//!   frame, or a lan frame (ARP answer, ICMP fragmentation-needed).
//! - [`Gateway::process_wan_frame`]: a wan frame (outer Ethernet, IPv4 and UDP checked,
//!   the UDP checksum verified when present, the peer's endpoint taken from the outer
//!   headers) is opened in place and leaves as a lan frame in the same buffer.
//! - [`Gateway::poll_frame`]: the engine's own output, as whole frames.
//!
//! A verdict names a range of the caller's buffer, so the caller keeps the buffer and
//! hands exactly that range to the other NIC: no copy, no allocation per packet.
//!
//! Buffer layout (both directions): a lan frame starts at [`Gateway::FRAME_OFFSET`],
//! so its IPv4 packet sits at `HEADROOM + OUTER_LEN` and the sealed record at
//! `OUTER_LEN`, the outer headers at 0. A wan frame received at 0 opens into the same
//! place. Buffers hold [`Gateway::frame_buffer_len`] bytes.
//!
//! The wan next hop: the caller owns the wan IP stack (address, router, ARP, DHCP),
//! so it answers, through [`WanNeighbours`], which MAC a packet for a wan address goes
//! to. When it does not know yet, the verdict falls back to the datagram or packet
//! form ([`FrameVerdict::ToPeer`], [`FrameVerdict::ToWanClear`]) for the caller's IP
//! stack to route (resolving the next hop as it does): never a drop.

use core::net::{Ipv4Addr, SocketAddrV4};
use core::ops::Range;

use smoltcp::wire::{EthernetAddress, EthernetFrame, EthernetProtocol};

use super::{Destination, Gateway, Verdict, ETH};
use crate::counters::DropReason;
use crate::outer::{self, Outer, WanFrame, OUTER_LEN};
use crate::session::SessionLayer;
use vnetcrypt_types::Instant;

/// The caller's view of the wan link: our MAC and the next hop's.
pub trait WanNeighbours {
    /// Our wan interface's MAC (the outer source, and the only unicast MAC whose frames
    /// we take).
    fn our_mac(&self) -> EthernetAddress;
    /// The MAC of the next hop toward wan address `dst` (`dst` itself on-link, else the
    /// router), if known now.
    fn next_hop_mac(&mut self, now: Instant, dst: Ipv4Addr) -> Option<EthernetAddress>;
}

/// What to do with a frame, as ranges of the caller's buffer (which the caller keeps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameVerdict {
    /// Send `buf[range]` on wan as it is: a whole Ethernet frame.
    ToWan(Range<usize>),
    /// Send `buf[range]` on lan as it is: a whole Ethernet frame.
    ToLan(Range<usize>),
    /// The next hop toward `to` is not known (or the buffer has no headroom): send
    /// `buf[datagram]` as a UDP payload through the caller's IP stack.
    ToPeer {
        to: SocketAddrV4,
        datagram: Range<usize>,
    },
    /// As `ToPeer`, for a plaintext IPv4 packet at `buf[packet]`.
    ToWanClear { packet: Range<usize> },
    /// Not the data plane's (ARP, broadcasts, other traffic to our wan address): for
    /// the caller's IP stack. The buffer is untouched.
    Host,
    /// Consumed: queued or absorbed; [`Gateway::poll_frame`] may have output now.
    Consumed,
    /// Dropped and counted.
    Dropped(DropReason),
}

/// A [`Verdict`] with its slice turned into a range of the buffer.
enum Ranged {
    ToPeer(SocketAddrV4, Range<usize>),
    ToWanClear(Range<usize>),
    ToLan(Range<usize>),
    Consumed,
    Dropped(DropReason),
}

/// `base..base + len` is the caller's buffer, which every slice of a verdict lies in.
fn ranged(base: usize, len: usize, v: Verdict<'_>) -> Ranged {
    // The slices always come from the buffer; checked anyway, so that a broken
    // invariant is a counted drop rather than a wrong range.
    let range = |s: &[u8]| {
        let start = (s.as_ptr() as usize).checked_sub(base)?;
        (start + s.len() <= len).then_some(start..start + s.len())
    };
    let lost = Ranged::Dropped(DropReason::MalformedPacket);
    match v {
        Verdict::ToPeer { to, datagram } => range(datagram).map_or(lost, |r| Ranged::ToPeer(to, r)),
        Verdict::ToWanClear { packet } => range(packet).map_or(lost, Ranged::ToWanClear),
        Verdict::ToLan { frame } => range(frame).map_or(lost, Ranged::ToLan),
        Verdict::Consumed => Ranged::Consumed,
        Verdict::Dropped(r) => Ranged::Dropped(r),
    }
}

impl<L: SessionLayer> Gateway<L> {
    /// Where a lan frame goes in a buffer so that the whole wan frame is built in place.
    pub const FRAME_OFFSET: usize = Self::HEADROOM + OUTER_LEN - ETH;

    /// The buffer size for the frame path: the largest frame either way (lan and wan
    /// MTU) plus room for the record and outer headers around it.
    pub fn frame_buffer_len(&self) -> usize {
        Self::HEADROOM + OUTER_LEN + self.slot.max(self.cfg.lan_mtu) + Self::TAILROOM
    }

    /// Handles the lan frame at `buf[off..off + len]` (best at [`Self::FRAME_OFFSET`]).
    pub fn process_lan_frame(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        off: usize,
        len: usize,
        wan: &mut impl WanNeighbours,
    ) -> FrameVerdict {
        let (base, buf_len) = (buf.as_ptr() as usize, buf.len());
        let v = ranged(base, buf_len, self.handle_lan_frame(now, buf, off, len));
        self.frame_out(now, buf, v, wan)
    }

    /// Handles the wan frame at `buf[off..off + len]` (best at 0, so that what opens
    /// lands where a lan frame would be).
    pub fn process_wan_frame(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        off: usize,
        len: usize,
        wan: &mut impl WanNeighbours,
    ) -> FrameVerdict {
        let Some(frame) = off.checked_add(len).and_then(|end| buf.get(off..end)) else {
            return self.frame_drop(DropReason::MalformedFrame);
        };
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return self.frame_drop(DropReason::MalformedFrame);
        };
        let dst = eth.dst_addr();
        if dst != wan.our_mac() {
            // Broadcasts and multicasts are the IP stack's (ARP, DHCP); unicast to
            // another MAC is not for us at all (a flooding switch, a promiscuous tap).
            if dst.is_unicast() {
                return self.frame_drop(DropReason::NotOurMac);
            }
            return FrameVerdict::Host;
        }
        if eth.ethertype() != EthernetProtocol::Ipv4 {
            return FrameVerdict::Host;
        }
        let (base, buf_len) = (buf.as_ptr() as usize, buf.len());
        let v = match outer::classify(frame, self.cfg.wan_endpoint) {
            WanFrame::Dtls { from, payload } => ranged(
                base,
                buf_len,
                self.handle_wan_datagram(now, from, buf, off + payload.start, payload.len()),
            ),
            WanFrame::Clear { packet } => ranged(
                base,
                buf_len,
                self.handle_wan_packet(now, buf, off + packet.start, packet.len()),
            ),
            WanFrame::Invalid => {
                self.counters.wan.rx(len);
                return self.frame_drop(DropReason::MalformedPacket);
            }
            WanFrame::Arp | WanFrame::Other => return FrameVerdict::Host,
        };
        self.frame_out(now, buf, v, wan)
    }

    /// The engine's next transmission as a whole frame in `buf` (of at least
    /// [`Self::frame_buffer_len`] bytes): handshake flights and queued packets.
    pub fn poll_frame(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        wan: &mut impl WanNeighbours,
    ) -> Option<FrameVerdict> {
        let t = self.poll_transmit(now, buf.get_mut(OUTER_LEN..)?)?;
        let r = OUTER_LEN..OUTER_LEN + t.len;
        let v = match t.destination {
            Destination::Peer(to) => Ranged::ToPeer(to, r),
            Destination::WanClear => Ranged::ToWanClear(r),
            Destination::Lan => Ranged::ToLan(r),
        };
        Some(self.frame_out(now, buf, v, wan))
    }

    /// Gives what goes to wan its outer headers, in place.
    fn frame_out(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        v: Ranged,
        wan: &mut impl WanNeighbours,
    ) -> FrameVerdict {
        match v {
            Ranged::ToPeer(to, datagram) => {
                let framed = wan.next_hop_mac(now, *to.ip()).and_then(|mac| {
                    let o = Outer {
                        src: self.cfg.wan_endpoint,
                        dst: to,
                        src_mac: wan.our_mac(),
                        dst_mac: mac,
                        ident: self.next_ident(),
                        // The record's own tag protects it end to end; a UDP checksum
                        // would be a second pass over every byte for nothing.
                        udp_checksum: false,
                    };
                    outer::encapsulate(buf, datagram.clone(), &o)
                });
                match framed {
                    Some(f) => FrameVerdict::ToWan(f),
                    None => {
                        self.counters.wan_unframed += 1;
                        FrameVerdict::ToPeer { to, datagram }
                    }
                }
            }
            Ranged::ToWanClear(packet) => {
                let dst = buf
                    .get(packet.start + 16..packet.start + 20)
                    .and_then(|d| <[u8; 4]>::try_from(d).ok())
                    .map(Ipv4Addr::from);
                let framed = dst
                    .and_then(|d| wan.next_hop_mac(now, d))
                    .and_then(|mac| outer::frame_clear(buf, packet.clone(), wan.our_mac(), mac));
                match framed {
                    Some(f) => FrameVerdict::ToWan(f),
                    None => {
                        self.counters.wan_unframed += 1;
                        FrameVerdict::ToWanClear { packet }
                    }
                }
            }
            Ranged::ToLan(r) => FrameVerdict::ToLan(r),
            Ranged::Consumed => FrameVerdict::Consumed,
            Ranged::Dropped(r) => FrameVerdict::Dropped(r),
        }
    }

    fn frame_drop(&mut self, reason: DropReason) -> FrameVerdict {
        self.counters.drop(reason);
        FrameVerdict::Dropped(reason)
    }

    fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }
}
