//! The kernel's wan glue end to end: a lan frame sealed in place, wrapped in outer
//! Ethernet/IPv4/UDP headers in place, sorted on arrival, opened by the other gateway.

mod common;

use common::pair::Pair;
use smoltcp::wire::EthernetAddress;
use vnetcrypt_gateway::outer::{classify, encapsulate, Outer, WanFrame, OUTER_LEN};
use vnetcrypt_gateway::Verdict;

#[test]
fn sealed_wrapped_sorted_opened_all_in_place() {
    let mut pair = Pair::new(81);
    let (a_wan, b_wan) = (pair.a.config().wan_endpoint, pair.b.config().wan_endpoint);
    let frame = pair.frame(1400, 4242);
    let off = vnetcrypt_gateway::Gateway::<common::double::TestLayer>::HEADROOM + OUTER_LEN - 14;
    let mut buf = vec![0u8; off + frame.len() + 64];
    buf[off..off + frame.len()].copy_from_slice(&frame);
    let now = pair.now;
    let base = buf.as_ptr() as usize;
    let (rec, to) = match pair.a.handle_lan_frame(now, &mut buf, off, frame.len()) {
        Verdict::ToPeer { to, datagram } => {
            let s = datagram.as_ptr() as usize - base;
            (s..s + datagram.len(), to)
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(to, b_wan);
    let o = Outer {
        src: a_wan,
        dst: b_wan,
        src_mac: EthernetAddress([2, 0, 0, 0, 9, 1]),
        dst_mac: EthernetAddress([2, 0, 0, 0, 9, 2]),
        ident: 1,
        udp_checksum: true,
    };
    let wire = encapsulate(&mut buf, rec.clone(), &o).expect("room for outer headers");
    assert_eq!(wire.len(), rec.len() + OUTER_LEN);
    assert!(wire.len() <= 14 + 1500, "fits the wan MTU");
    let (from, payload) = match classify(&buf[wire.clone()], b_wan) {
        WanFrame::Dtls { from, payload } => (from, payload),
        other => panic!("{other:?}"),
    };
    assert_eq!(from, a_wan);
    let (p0, plen) = (wire.start + payload.start, payload.len());
    match pair.b.handle_wan_datagram(now, from, &mut buf, p0, plen) {
        Verdict::ToLan { frame: out } => assert_eq!(&out[14..], &frame[14..]),
        other => panic!("{other:?}"),
    }
}
