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
    // The limiter on arbitrary request times (mostly forward, sometimes backwards):
    // never panics, never answers more than the burst plus what the elapsed time
    // earned, and always answers again once a token's worth of time has passed.
    const BURST: u32 = 4;
    const PER_SECOND: u64 = 1000; // one token per millisecond
    let mut limiter = ArpLimiter::new(BURST, PER_SECOND);
    let (mut now, mut latest, mut answered) = (0u64, 0u64, 0u64);
    for chunk in data.chunks(3).take(256) {
        let mut b = [0u8; 3];
        b[..chunk.len()].copy_from_slice(chunk);
        let step = u64::from(u16::from_le_bytes([b[0], b[1]])); // up to 65 ms
        now = if b[2] & 1 == 0 { now + step } else { now.saturating_sub(step) };
        let allowed = limiter.allow(now);
        if now >= latest + 1_000_000 / PER_SECOND {
            assert!(allowed, "a token's worth of quiet must refill");
        }
        latest = latest.max(now);
        answered += u64::from(allowed);
        assert!(answered <= u64::from(BURST) + latest * PER_SECOND / 1_000_000);
    }
});
