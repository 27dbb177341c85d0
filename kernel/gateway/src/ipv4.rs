//! The one gate for untrusted IPv4: smoltcp's `new_checked` plus what it leaves out.

use smoltcp::wire::Ipv4Packet;

/// A view of an IPv4 packet after every length check: smoltcp's (buffer holds the
/// header and `total_len`, header within total) plus version 4 and a header of at
/// least 20 bytes (smoltcp accepts an IHL below 5, whose "payload" overlaps the header).
pub fn checked<T: AsRef<[u8]>>(buffer: T) -> Option<Ipv4Packet<T>> {
    let p = Ipv4Packet::new_checked(buffer).ok()?;
    (p.version() == 4 && p.header_len() >= 20).then_some(p)
}

/// The RFC 1071 sum of an IPv4 header (an even number of bytes, at most 60), folded.
/// Written for the header sizes the data path sees on every packet: a straight sum of
/// 16-bit words that the compiler unrolls, instead of a general-purpose loop.
pub fn header_sum(hdr: &[u8]) -> u16 {
    let mut sum: u32 = hdr
        .chunks_exact(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Whether a checked packet's header checksum verifies.
pub fn checksum_ok<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> bool {
    let hl = usize::from(p.header_len());
    p.as_ref()
        .get(..hl)
        .is_some_and(|h| header_sum(h) == 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_sum_agrees_with_smoltcp() {
        // A header from RFC 1071's style of example, with and without options, and
        // every single-bit corruption of it.
        let mut b = [0u8; 24];
        b[..20].copy_from_slice(&[
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0x00,
            0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ]);
        for hl in [20usize, 24] {
            b[0] = 0x40 | (hl / 4) as u8;
            b[2..4].copy_from_slice(&(hl as u16).to_be_bytes());
            let mut p = Ipv4Packet::new_unchecked(&mut b[..hl]);
            p.fill_checksum();
            let p = checked(&b[..hl]).unwrap();
            assert!(checksum_ok(&p) && p.verify_checksum());
            for bit in 0..hl * 8 {
                let mut c = b;
                c[bit / 8] ^= 1 << (bit % 8);
                let Some(q) = checked(&c[..hl]) else { continue };
                assert_eq!(checksum_ok(&q), q.verify_checksum(), "bit {bit}");
                assert!(!checksum_ok(&q), "bit {bit}");
            }
        }
        // Carries that need folding twice.
        let ones = [0xffu8; 20];
        assert_eq!(header_sum(&ones), 0xffff);
    }

    #[test]
    fn refuses_short_headers_and_other_versions() {
        let mut b = [0u8; 40];
        b[0] = 0x45;
        b[2..4].copy_from_slice(&40u16.to_be_bytes());
        assert!(checked(&b[..]).is_some());
        // IHL 0 and 4 (a "payload" overlapping the header), IHL 1, version 6: smoltcp's
        // length checks alone accept each of them, so only our extra checks refuse them.
        for first in [0x40, 0x44, 0x41, 0x65] {
            b[0] = first;
            assert!(
                Ipv4Packet::new_checked(&b[..]).is_ok(),
                "{first:#x}: smoltcp alone lets it through"
            );
            assert!(checked(&b[..]).is_none(), "{first:#x}");
        }
    }
}
