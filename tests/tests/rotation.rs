//! Identity rotation without an outage (issue 16), on real appliances under QEMU: the
//! procedure of docs/gateway.md ("Identity rotation without an outage") typed at the
//! consoles of two gateways while their workload hosts stream numbered datagrams to
//! each other through the tunnel. Built by `tests/src/e2e/network.rs`;
//! `kernel/node/tests/rotation.rs` is the host-simulated version.
//!
//! Needs root (namespaces, TAP devices), hence the `nic` feature: `make test-rotation`
//! runs it. Failure messages name the gateways' console transcripts and decoded defmt
//! logs, which are kept when a test fails.
#![cfg(feature = "nic")]

#[allow(dead_code)]
#[path = "nic/netns.rs"]
mod netns;

#[allow(dead_code)]
#[path = "../src/e2e/mod.rs"]
mod e2e;

use e2e::network::{flows_between, udp_send, udp_sent, Network, UdpCount, SIDES};
use e2e::topology::MARKER;
use std::time::{Duration, Instant};

/// Datagrams each way, one every 3 ms: long enough (12 s at the least) that the whole
/// rotation happens while they flow.
const STREAM: u64 = 4000;

/// Gateway B's identity rotates under continuous traffic both ways: B makes a next key
/// (`identity next`), A pins both (`peer set gw-b fingerprint OLD,NEW`), B rotates (its
/// tunnel rekeys, make before break), A sees B authenticate with the new key (`pin
/// used NEW`) and drops the old pin, B retires the old key. Every datagram arrives,
/// once, in both directions; A's peer entry and B's identity show the new key; the
/// stream's flows are `X` at both gateways.
#[test]
fn rotating_an_identity_under_traffic_loses_nothing() {
    let started = Instant::now();
    let (host_a, host_b) = (SIDES[0].host, SIDES[1].host);
    let mut net = Network::builder("rotation", "rt").build();
    assert!(
        net.ping_until_reply(0, host_b, Duration::from_secs(60))
            .is_some(),
        "no tunnel hostA -> hostB\n{}",
        net.logs()
    );
    let old = net.fingerprints[1].clone();
    let limit = Duration::from_secs(120);
    let (port_ab, port_ba) = (6011, 6012);
    let at_b = UdpCount::listen(&net.hosts[1], host_b, port_ab, STREAM, limit);
    let at_a = UdpCount::listen(&net.hosts[0], host_a, port_ba, STREAM, limit);
    let marked = std::str::from_utf8(MARKER).expect("ASCII marker");
    let streaming = Instant::now();
    let mut from_a = udp_send(&net.hosts[0], host_b, port_ab, STREAM, 0.003, marked);
    let from_b = udp_send(&net.hosts[1], host_a, port_ba, STREAM, 0.003, marked);

    // 1. B makes a next key; the current one keeps serving.
    let out = net.gateways[1].set("identity next");
    let new = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("next identity; fingerprint "))
        .unwrap_or_else(|| panic!("no next fingerprint in {out:?}\n{}", net.logs()))
        .trim()
        .to_string();
    assert_ne!(new, old, "the next key is the current one");
    // 2. A pins both.
    net.gateways[0].set(&format!("peer set gw-b fingerprint {old},{new}"));
    // 3. B rotates: its up tunnel rekeys with the new key.
    let out = net.gateways[1].set("identity rotate");
    assert!(
        out.contains(&format!("handshakes now present {new}")),
        "{out}\n{}",
        net.logs()
    );
    // 4. A sees B authenticate with the new key, then drops the old pin.
    let pin_used = format!("pin used {new}");
    let waited = Instant::now();
    let (peers, seen) = loop {
        let peers = net.gateways[0].cmd("peers");
        if peers.contains(&pin_used) {
            break (peers, waited.elapsed());
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "gateway A never saw B use the new key ({pin_used:?}):\n{peers}\n{}",
            net.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(!peers.contains("last failure"), "{peers}\n{}", net.logs());
    net.gateways[0].set(&format!("peer set gw-b fingerprint {new}"));
    // 5. B forgets the old key.
    let out = net.gateways[1].set("identity retire");
    assert!(out.contains(&old), "{out}\n{}", net.logs());
    // The rotation is worth nothing unless it happened under the stream.
    let rotated = streaming.elapsed();
    assert!(
        from_a.0.try_wait().ok().flatten().is_none(),
        "the stream ended before the rotation did ({rotated:?} after it started)\n{}",
        net.logs()
    );

    let (sent_a, sent_b) = (udp_sent(from_a), udp_sent(from_b));
    let (got_b, got_a) = (at_b.finish(), at_a.finish());
    eprintln!(
        "rotation: A sent {sent_a}, B got {got_b:?}; B sent {sent_b}, A got {got_a:?}; new key in use {seen:?} after the rotate, rotation done {rotated:?} into the stream"
    );
    for (what, sent, got) in [
        ("hostA -> hostB", sent_a, &got_b),
        ("hostB -> hostA", sent_b, &got_a),
    ] {
        assert!(
            sent == STREAM && got.received == sent && got.missing == 0 && got.duplicates == 0,
            "{what}: {sent} sent, {got:?} across the rotation\n{}",
            net.logs()
        );
    }

    // A pins and sees the new key only; B presents it and holds no other.
    let shown = net.gateways[0].cmd("peer show gw-b");
    assert!(
        shown.contains(&pin_used) && !shown.contains(&old) && !shown.contains("last failure"),
        "gateway A's entry for B after the rotation:\n{shown}\n{}",
        net.logs()
    );
    let config = net.gateways[0].cmd("config show");
    assert!(
        config.contains(&format!("fingerprint {new} ")) && !config.contains(&old),
        "gateway A's configuration still pins the old key:\n{config}\n{}",
        net.logs()
    );
    let identity = net.gateways[1].cmd("identity");
    assert!(
        identity.contains(&new) && !identity.contains(&old),
        "gateway B's identity after the rotation:\n{identity}\n{}",
        net.logs()
    );
    // Retired means gone: nothing left to rotate back to.
    let again = net.gateways[1].cmd("identity rotate");
    assert!(again.contains("error: no next key"), "{again}");

    for (i, src, dst, port) in [(0, host_a, host_b, port_ab), (1, host_b, host_a, port_ba)] {
        let flows = net.flows(i);
        let stream = flows_between(&flows, src, dst, "17", "X");
        assert!(
            stream
                .iter()
                .any(|t| t.split(',').nth(4) == Some(&port.to_string())),
            "gateway {i} has no X flow {src} -> {dst}:{port}: {flows:?}\n{}",
            net.logs()
        );
    }
    eprintln!("rotation under traffic: {:?}", started.elapsed());
}
