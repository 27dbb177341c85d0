//! The NIC's frame screen on arbitrary bytes: nothing may panic, and whatever it
//! passes on as IPv4 has a header smoltcp accepts, a valid checksum and fits the MTU.
#![no_main]

use core::net::Ipv4Addr;
use libfuzzer_sys::fuzz_target;
use smoltcp::wire::{EthernetAddress, EthernetFrame, EthernetProtocol, Ipv4Packet};
use vnetcrypt_underlay::{screen, ArpLimiter, Identity, Verdict};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (ctl, frame) = (data[0], &data[1..]);
    let me = Identity {
        mac: EthernetAddress([0x52, 0x54, 0, 0, 0, 2]),
        address: (ctl & 1 == 0).then(|| (Ipv4Addr::new(10, 0, 0, 2), ctl >> 3)),
        mtu: if ctl & 2 == 0 { 1500 } else { 576 },
        dhcp: ctl & 4 != 0,
    };
    let verdict = screen(frame, &me);
    if matches!(verdict, Verdict::Stack | Verdict::Transit) {
        assert!(frame.len() <= usize::from(me.mtu) + 14);
        let eth = EthernetFrame::new_checked(frame).expect("passed frames are Ethernet");
        if eth.ethertype() == EthernetProtocol::Ipv4 {
            let ip = Ipv4Packet::new_checked(eth.payload()).expect("passed IPv4 parses");
            assert_eq!(ip.version(), 4);
            assert!(ip.header_len() >= 20);
            assert!(ip.verify_checksum());
        }
    }
    // The limiter on arbitrary timestamps: never panics, never answers more than the
    // burst at one instant.
    let mut limiter = ArpLimiter::new(4, 1000);
    let mut at_once = 0;
    for chunk in data.chunks(8).take(64) {
        let mut t = [0u8; 8];
        t[..chunk.len()].copy_from_slice(chunk);
        if limiter.allow(u64::from_le_bytes(t) & 0xff) {
            at_once += 1;
        }
    }
    assert!(at_once <= 4 + 1);
});
