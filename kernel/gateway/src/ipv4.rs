//! The one gate for untrusted IPv4: smoltcp's `new_checked` plus what it leaves out.

use smoltcp::wire::Ipv4Packet;

/// A view of an IPv4 packet after every length check: smoltcp's (buffer holds the
/// header and `total_len`, header within total) plus version 4 and a header of at
/// least 20 bytes (smoltcp accepts an IHL below 5, whose "payload" overlaps the header).
pub fn checked<T: AsRef<[u8]>>(buffer: T) -> Option<Ipv4Packet<T>> {
    let p = Ipv4Packet::new_checked(buffer).ok()?;
    (p.version() == 4 && p.header_len() >= 20).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

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
