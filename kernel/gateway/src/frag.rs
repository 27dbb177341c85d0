//! IPv4 fragmentation (RFC 791) of packets too big for the tunnel that may be
//! fragmented. Fragments are written one at a time into a caller's scratch buffer; the
//! receiving host reassembles. Header options are copied into every fragment.

use smoltcp::wire::Ipv4Packet;

/// Why a packet was not fragmented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragError {
    /// Not a valid IPv4 packet.
    Malformed,
    /// DF is set: the sender must get ICMP fragmentation-needed instead.
    DontFragment,
    /// `max_len` leaves no room for 8 bytes of data after the header.
    MtuTooSmall,
    /// The scratch buffer is smaller than `max_len`.
    ScratchTooSmall,
}

/// Splits `packet` into fragments of at most `max_len` bytes, calling `emit` with each
/// (in order). `emit` returns false to stop early. Returns the number of fragments
/// emitted.
pub fn fragment(
    packet: &[u8],
    max_len: usize,
    scratch: &mut [u8],
    mut emit: impl FnMut(&[u8]) -> bool,
) -> Result<usize, FragError> {
    let ip = crate::ipv4::checked(packet).ok_or(FragError::Malformed)?;
    if ip.dont_frag() {
        return Err(FragError::DontFragment);
    }
    let hl = usize::from(ip.header_len());
    let total = usize::from(ip.total_len());
    if max_len < hl + 8 {
        return Err(FragError::MtuTooSmall);
    }
    if scratch.len() < max_len {
        return Err(FragError::ScratchTooSmall);
    }
    let chunk = (max_len - hl) / 8 * 8;
    let base = usize::from(ip.frag_offset()); // bytes
    let orig_mf = ip.more_frags();
    let data = &packet[hl..total];
    let mut n = 0;
    let mut off = 0;
    // At least one piece, even for a packet without payload.
    while off < data.len() || n == 0 {
        let end = (off + chunk).min(data.len());
        let last = end == data.len();
        let len = hl + end - off;
        let out = &mut scratch[..len];
        out[..hl].copy_from_slice(&packet[..hl]);
        out[hl..].copy_from_slice(&data[off..end]);
        let mut f = Ipv4Packet::new_unchecked(&mut *out);
        f.set_total_len(len as u16);
        f.set_more_frags(!last || orig_mf);
        f.set_frag_offset((base + off) as u16);
        f.fill_checksum();
        n += 1;
        if !emit(out) {
            break;
        }
        off = end;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{IpProtocol, Ipv4Repr};

    fn packet(payload_len: usize, df: bool) -> Vec<u8> {
        let repr = Ipv4Repr {
            src_addr: "10.1.0.5".parse().unwrap(),
            dst_addr: "10.2.0.9".parse().unwrap(),
            next_header: IpProtocol::Udp,
            payload_len,
            hop_limit: 64,
        };
        let mut b = alloc::vec![0u8; 20 + payload_len];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        repr.emit(&mut p, &ChecksumCapabilities::default());
        p.set_ident(0x4242);
        p.set_dont_frag(df);
        for (i, x) in p.payload_mut().iter_mut().enumerate() {
            *x = i as u8;
        }
        p.fill_checksum();
        b
    }

    #[test]
    fn splits_and_reassembles() {
        let orig = packet(1480, false);
        let mut scratch = [0u8; 1500];
        let mut frags: Vec<Vec<u8>> = Vec::new();
        let n = fragment(&orig, 1435, &mut scratch, |f| {
            frags.push(f.to_vec());
            true
        })
        .unwrap();
        assert_eq!(n, 2);
        let mut data = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            let p = Ipv4Packet::new_checked(&f[..]).unwrap();
            assert!(p.verify_checksum());
            assert!(f.len() <= 1435);
            assert_eq!(p.ident(), 0x4242);
            assert_eq!(p.more_frags(), i == 0);
            assert_eq!(usize::from(p.frag_offset()), data.len());
            data.extend_from_slice(p.payload());
        }
        assert_eq!(data, orig[20..]);
        // Offsets are multiples of 8: the first fragment's payload is 1408 bytes.
        assert_eq!(frags[0].len(), 20 + 1408);
    }

    #[test]
    fn refuses_df_tiny_mtu_and_garbage() {
        let mut s = [0u8; 1500];
        assert_eq!(
            fragment(&packet(100, true), 60, &mut s, |_| true),
            Err(FragError::DontFragment)
        );
        assert_eq!(
            fragment(&packet(100, false), 27, &mut s, |_| true),
            Err(FragError::MtuTooSmall)
        );
        assert_eq!(
            fragment(&[0x45, 0], 60, &mut s, |_| true),
            Err(FragError::Malformed)
        );
    }

    #[test]
    fn a_packet_without_payload_is_one_piece() {
        let orig = packet(0, false);
        let mut s = [0u8; 64];
        let mut pieces = Vec::new();
        assert_eq!(
            fragment(&orig, 40, &mut s, |f| {
                pieces.push(f.to_vec());
                true
            }),
            Ok(1)
        );
        assert_eq!(pieces, [orig]);
    }

    #[test]
    fn refragmenting_a_fragment_keeps_offsets_and_mf() {
        let orig = packet(64, false);
        let mut s = [0u8; 1500];
        let mut first = Vec::new();
        fragment(&orig, 20 + 48, &mut s, |f| {
            if first.is_empty() {
                first = f.to_vec();
            }
            true
        })
        .unwrap();
        let mut sub = Vec::new();
        fragment(&first, 20 + 16, &mut s, |f| {
            sub.push(f.to_vec());
            true
        })
        .unwrap();
        assert_eq!(sub.len(), 3);
        for (i, f) in sub.iter().enumerate() {
            let p = Ipv4Packet::new_checked(&f[..]).unwrap();
            assert_eq!(usize::from(p.frag_offset()), i * 16);
            assert!(
                p.more_frags(),
                "every piece of a non-last fragment keeps MF"
            );
        }
    }
}
