//! The gateway's own packet transformations on arbitrary bytes: MSS clamping,
//! fragmentation (whose fragments must reassemble to the original payload), ICMP
//! fragmentation-needed built in place, ARP parsing. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smoltcp::wire::{EthernetAddress, Ipv4Packet};
use vnetcrypt_gateway::{arp, frag, icmp, mss, outer};

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let (ctl, bytes) = (data[0], &data[1..]);

    let mut m = bytes.to_vec();
    let _ = mss::clamp(&mut m, 536 + u16::from(ctl) * 4);

    let mtu = 28 + usize::from(ctl) * 6;
    let mut scratch = vec![0u8; 1600];
    let mut payload = Vec::new();
    let mut last_more = true;
    let r = frag::fragment(bytes, mtu, &mut scratch, |f| {
        assert!(f.len() <= mtu);
        let p = Ipv4Packet::new_checked(f).expect("fragments are valid IPv4");
        assert!(p.verify_checksum());
        payload.extend_from_slice(p.payload());
        last_more = p.more_frags();
        true
    });
    if r.is_ok() {
        let p = Ipv4Packet::new_checked(bytes).unwrap();
        assert_eq!(&payload[..], p.payload(), "fragments reassemble");
        assert_eq!(last_more, p.more_frags());
    }

    let mut b = vec![0u8; 64 + bytes.len()];
    b[64..].copy_from_slice(bytes);
    let n = bytes.len().saturating_sub(14);
    if let Some(len) = icmp::frag_needed_in_place(
        &mut b,
        64,
        n,
        EthernetAddress([2, 0, 0, 0, 0, 1]),
        "10.0.0.1".parse().unwrap(),
        1435,
    ) {
        assert!(len <= 14 + 20 + 8 + 60 + 8);
    }
    let _ = arp::parse(bytes);
    if let outer::WanFrame::Dtls { payload, .. } | outer::WanFrame::Clear { packet: payload } =
        outer::classify(bytes, "10.0.0.1:4433".parse().unwrap())
    {
        assert!(payload.end <= bytes.len() && payload.start <= payload.end);
    }
});
