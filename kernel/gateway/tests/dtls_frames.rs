//! The frame path over the real DTLS engine: two gateways exchange only whole wan
//! Ethernet frames (handshake and records), in place, with no byte copied on the
//! established path; jumbo frames and DF.
#![cfg(feature = "dtls")]

mod common;

use std::time::Duration;

use common::dtls_net::Net;
use common::frame_cases as cases;
use common::frames::FramePair;
use vnetcrypt_gateway::dtls::DtlsLayer;

fn established(seed: u64, wan_mtu: usize, lan_mtu: usize) -> FramePair<DtlsLayer> {
    let mut net = Net::new(seed, Duration::from_secs(3600));
    net.reconfigure(|c| {
        c.wan_mtu = wan_mtu;
        c.lan_mtu = lan_mtu;
    });
    let now = net.now;
    let [a, b] = net.sides;
    let mut p = FramePair::new([a.gw, b.gw], now);
    p.establish();
    p
}

#[test]
fn dtls_handshake_and_records_as_whole_frames_copy_free() {
    let mut p = established(11, 1500, 1500);
    cases::wire_frames_are_whole(&p);
    cases::established_path_copies_nothing(&mut p, &[64, 576, 1400]);
    cases::wan_frames_are_checked(&mut p);
}

#[test]
fn dtls_single_bit_flips_never_open() {
    let mut p = established(14, 1500, 1500);
    cases::single_bit_flips_never_open(&mut p, 14);
}

#[test]
fn dtls_lan_jumbo_over_a_standard_wan() {
    let mut p = established(12, 1500, 9000);
    cases::too_big_is_answered_or_fragmented(&mut p, 9000);
}

#[test]
fn dtls_jumbo_wan() {
    let mut p = established(13, 9000, 9000);
    cases::established_path_copies_nothing(&mut p, &[64, 1400, 8000]);
    cases::too_big_is_answered_or_fragmented(&mut p, 9000);
}

#[test]
fn dtls_no_content_type_is_counted_not_absorbed() {
    use common::frames::host_ip;
    use common::pkt;
    use vnetcrypt_gateway::outer::OUTER_LEN;
    use vnetcrypt_gateway::{DropReason, FrameVerdict};

    let mut p = established(15, 1500, 1500);
    let ip = pkt::udp(host_ip(0), host_ip(1), 7, 8, b"typed", false);
    assert!(matches!(
        p.lan_now(0, &FramePair::<DtlsLayer>::lan_frame(0, &ip)),
        FrameVerdict::ToWan(_)
    ));
    let (_, mut f) = p.wire.pop_back().unwrap();
    for bogus in [0u8, 7, 19, 24, 0xff] {
        f[OUTER_LEN] = bogus;
        assert_eq!(
            p.wan_now(1, &f),
            FrameVerdict::Dropped(DropReason::OpenFailed),
            "content type {bogus}"
        );
    }
    assert_eq!(p.sides[1].gw.counters().dropped(DropReason::OpenFailed), 5);
}
