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

    /// The Internet checksum recomputed from scratch (RFC 1071): the ones' complement of
    /// the ones' complement sum of big-endian 16-bit words, an odd last byte padded.
    fn full_checksum(bytes: &[u8]) -> u16 {
        let mut sum: u32 = bytes
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// The TCP checksum of the segment in IPv4 packet `ip`, recomputed over the pseudo
    /// header and the whole segment with its checksum field taken as zero.
    fn tcp_checksum_recomputed(ip: &[u8]) -> u16 {
        let hl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let seg = &ip[hl..total];
        let mut v = alloc::vec::Vec::new();
        v.extend_from_slice(&ip[12..20]); // source and destination
        v.extend_from_slice(&[0, 6]); // zero, protocol TCP
        v.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        v.extend_from_slice(seg);
        let ck = 12 + 16;
        v[ck..ck + 2].copy_from_slice(&[0, 0]);
        full_checksum(&v)
    }

    #[test]
    fn clamped_checksum_equals_a_full_recomputation() {
        for ws in [false, true] {
            let mut b = syn(Some(1460), ws);
            assert!(clamp(&mut b, 1395));
            let stored = u16::from_be_bytes([b[20 + 16], b[20 + 17]]);
            assert_eq!(stored, tcp_checksum_recomputed(&b), "ws {ws}");
        }
    }

    /// A SYN built byte by byte, its MSS option behind a NOP so the value starts at an odd
    /// offset in the segment (straddling two 16-bit words of the checksum).
    #[test]
    fn clamps_an_mss_at_an_odd_offset() {
        #[rustfmt::skip]
        let mut b: alloc::vec::Vec<u8> = alloc::vec![
            // IPv4: version 4, IHL 5, total 48, TTL 64, TCP, 10.1.0.5 -> 10.2.0.9
            0x45, 0, 0, 48, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 1, 0, 5, 10, 2, 0, 9,
            // TCP: 40000 -> 80, seq 1234, ack 0, data offset 7 (28 bytes), SYN, window 64240
            0x9c, 0x40, 0, 80, 0, 0, 0x04, 0xd2, 0, 0, 0, 0, 0x70, 0x02, 0xfa, 0xf0,
            0, 0, 0, 0, // checksum (filled in below), urgent pointer
            1, 2, 4, 0x05, 0xb4, 1, 1, 0, // NOP, MSS 1460, NOP, NOP, end
        ];
        let ck = tcp_checksum_recomputed(&b);
        b[36..38].copy_from_slice(&ck.to_be_bytes());
        assert!(clamp(&mut b, 1395));
        assert_eq!(&b[43..45], &1395u16.to_be_bytes());
        let stored = u16::from_be_bytes([b[36], b[37]]);
        assert_eq!(stored, tcp_checksum_recomputed(&b));
        assert_eq!(mss_of(&b), (Some(1395), true));
    }

    #[test]
    fn incremental_update_matches_recompute() {
        // Words of a made-up header; each is replaced in turn by values including the
        // ones' complement edge cases, and the RFC 1624 update must give the checksum a
        // full recomputation over the changed words gives.
        let words = [
            0x4500u16, 0x0030, 0x1c46, 0x4000, 0x4006, 0xb1e6, 0xac10, 0x0a63,
        ];
        let bytes = |w: &[u16]| {
            w.iter()
                .flat_map(|x| x.to_be_bytes())
                .collect::<alloc::vec::Vec<u8>>()
        };
        let hc = full_checksum(&bytes(&words));
        for k in 0..words.len() {
            for new in [0x0000, 0x0001, 0x5555, 0x8000, 0xfffe, 0xffff, words[k]] {
                let mut changed = words;
                changed[k] = new;
                let want = full_checksum(&bytes(&changed));
                assert_eq!(
                    checksum_update(hc, words[k], new),
                    want,
                    "word {k} -> {new:#06x}"
                );
            }
        }
    }
}
