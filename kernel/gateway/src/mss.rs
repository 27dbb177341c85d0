//! TCP MSS clamping on SYN segments, with the TCP checksum updated incrementally
//! (RFC 1624), so the rest of the segment is not re-summed.
//!
//! Input is untrusted: malformed options end the scan; nothing panics.

use smoltcp::wire::{IpProtocol, TcpPacket};

/// Lowers the MSS option of a TCP SYN inside the IPv4 packet `ip` to at most `max_mss`.
/// Returns true if the packet was changed.
pub fn clamp(ip: &mut [u8], max_mss: u16) -> bool {
    let Some(pkt) = crate::ipv4::checked(&mut *ip) else {
        return false;
    };
    if pkt.next_header() != IpProtocol::Tcp || pkt.frag_offset() != 0 {
        return false;
    }
    let hl = usize::from(pkt.header_len());
    let total = usize::from(pkt.total_len());
    let Some(seg) = ip.get_mut(hl..total) else {
        return false;
    };
    let Ok(tcp) = TcpPacket::new_checked(&mut *seg) else {
        return false;
    };
    if !tcp.syn() {
        return false;
    }
    let thl = usize::from(tcp.header_len());
    // Options: bytes 20..thl of the segment.
    let mut i = 20;
    while i < thl {
        let kind = seg[i];
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                let Some(&len) = seg.get(i + 1) else { break };
                let len = usize::from(len);
                if len < 2 || i + len > thl {
                    break;
                }
                if kind == 2 && len == 4 {
                    let old = u16::from_be_bytes([seg[i + 2], seg[i + 3]]);
                    if old <= max_mss {
                        return false;
                    }
                    seg[i + 2..i + 4].copy_from_slice(&max_mss.to_be_bytes());
                    // The MSS value is 16-bit aligned iff i is even.
                    let (o, n) = if i % 2 == 0 {
                        (old, max_mss)
                    } else {
                        (old.swap_bytes(), max_mss.swap_bytes())
                    };
                    let ck = u16::from_be_bytes([seg[16], seg[17]]);
                    let new_ck = checksum_update(ck, o, n);
                    seg[16..18].copy_from_slice(&new_ck.to_be_bytes());
                    return true;
                }
                i += len;
            }
        }
    }
    false
}

/// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
pub fn checksum_update(hc: u16, old: u16, new: u16) -> u16 {
    let mut sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        IpAddress, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpControl, TcpRepr, TcpSeqNumber,
    };

    fn syn(mss: Option<u16>, with_ws: bool) -> alloc::vec::Vec<u8> {
        let src = Ipv4Address::new(10, 1, 0, 5);
        let dst = Ipv4Address::new(10, 2, 0, 9);
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            control: TcpControl::Syn,
            seq_number: TcpSeqNumber(1234),
            ack_number: None,
            window_len: 64240,
            window_scale: if with_ws { Some(7) } else { None },
            max_seg_size: mss,
            sack_permitted: true,
            sack_ranges: [None, None, None],
            timestamp: None,
            payload: &[],
        };
        let ip = Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        let mut buf = alloc::vec![0u8; ip.buffer_len() + tcp.buffer_len()];
        let caps = ChecksumCapabilities::default();
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.emit(&mut p, &caps);
        let mut t = TcpPacket::new_unchecked(p.payload_mut());
        tcp.emit(&mut t, &IpAddress::Ipv4(src), &IpAddress::Ipv4(dst), &caps);
        buf
    }

    fn mss_of(buf: &[u8]) -> (Option<u16>, bool) {
        let p = Ipv4Packet::new_checked(buf).unwrap();
        let t = TcpPacket::new_checked(p.payload()).unwrap();
        let ok = t.verify_checksum(
            &IpAddress::Ipv4(p.src_addr()),
            &IpAddress::Ipv4(p.dst_addr()),
        );
        let r = TcpRepr::parse(
            &t,
            &IpAddress::Ipv4(p.src_addr()),
            &IpAddress::Ipv4(p.dst_addr()),
            &ChecksumCapabilities::default(),
        );
        (r.ok().and_then(|r| r.max_seg_size), ok)
    }

    #[test]
    fn clamps_and_keeps_checksum_valid() {
        for ws in [false, true] {
            let mut b = syn(Some(1460), ws);
            assert!(clamp(&mut b, 1395));
            assert_eq!(mss_of(&b), (Some(1395), true));
        }
    }

    #[test]
    fn leaves_small_or_absent_mss_and_non_syn() {
        let mut b = syn(Some(1200), false);
        let orig = b.clone();
        assert!(!clamp(&mut b, 1395));
        assert_eq!(b, orig);
        let mut b = syn(None, false);
        assert!(!clamp(&mut b, 1395));
        assert!(!clamp(&mut [0u8; 3], 1395));
        let mut garbage = syn(Some(1460), false);
        garbage[20 + 12] = 0xf0; // data offset 60 > segment
        assert!(!clamp(&mut garbage, 1395));
    }

    #[test]
    fn incremental_update_matches_recompute() {
        // Example from RFC 1624 section 4's spirit: ones'-complement sums agree.
        let hc = 0xdd2f;
        let a = checksum_update(hc, 0x5555, 0x3285);
        let b = checksum_update(checksum_update(hc, 0x5555, 0x1234), 0x1234, 0x3285);
        assert_eq!(a, b);
    }
}
