//! Identity rotation without an outage, two appliances with the real DTLS engine and
//! continuous traffic both ways: B makes a next key, A pins both, B rotates (every
//! tunnel rekeys, make before break), A drops the old pin: not one datagram lost. And
//! a peer that pins only the old key fails B's next handshake, saying why.

mod sim;

use sim::fabric::Faults;
use sim::{host_ip, Sim};

/// A datagram of the stream: its direction and sequence number.
fn payload(dir: u8, seq: u32) -> Vec<u8> {
    let mut p = vec![dir];
    p.extend_from_slice(&seq.to_be_bytes());
    p.resize(200, dir);
    p
}

/// Both hosts send one datagram every `every` steps for `steps` steps, numbered on
/// from `*seq`.
fn stream(sim: &mut Sim, seq: &mut u32, steps: u32, every: u32) {
    for i in 0..steps {
        if i % every == 0 {
            assert!(sim.hosts[0].send_udp(host_ip(2), &payload(0, *seq)));
            assert!(sim.hosts[1].send_udp(host_ip(1), &payload(1, *seq)));
            *seq += 1;
        }
        sim.step();
    }
}

/// The sequence numbers host `i` received in direction `dir`.
fn received(sim: &Sim, i: usize, dir: u8) -> Vec<u32> {
    sim.hosts[i]
        .received
        .iter()
        .filter(|(_, d)| d.len() == 200 && d[0] == dir)
        .map(|(_, d)| u32::from_be_bytes(d[1..5].try_into().unwrap()))
        .collect()
}

fn pair(seed: u64) -> Sim {
    let mut sim = Sim::new(seed, Faults::default());
    let a = sim.add_node(1);
    let b = sim.add_node(2);
    sim.peer(a, b);
    sim.peer(b, a);
    sim
}

fn bring_up(sim: &mut Sim) {
    sim.hosts[0].send_udp(host_ip(2), b"hello");
    let up = sim.run_until(30_000, |s| s.tunnels_up(0, 1) && s.tunnels_up(1, 1));
    assert!(up, "tunnel up within 30 s:\n{}", sim.cmd(0, "peers"));
}

/// `identity next` on node `i`: the new fingerprint.
fn next_key(sim: &mut Sim, i: usize) -> String {
    let out = sim.set(i, "identity next");
    out.lines()
        .find_map(|l| l.strip_prefix("next identity; fingerprint "))
        .expect("a next key")
        .trim()
        .to_string()
}

#[test]
fn rotation_under_continuous_traffic_loses_nothing() {
    let mut sim = pair(21);
    bring_up(&mut sim);
    let old = sim.fingerprint(1);
    let mut seq = 0;
    stream(&mut sim, &mut seq, 500, 5);
    let new = next_key(&mut sim, 1);
    assert_eq!(sim.fingerprint(1), old, "the current key still serves");
    stream(&mut sim, &mut seq, 500, 5);
    sim.set(0, &format!("peer set gw2 fingerprint {old},{new}"));
    stream(&mut sim, &mut seq, 500, 5);
    let out = sim.set(1, "identity rotate");
    assert!(out.contains("1 tunnel(s) rekeying"), "{out}");
    assert_eq!(sim.fingerprint(1), new);
    // The rekey's handshake authenticates B with the new key; A says so.
    stream(&mut sim, &mut seq, 3_000, 5);
    let peers = sim.cmd(0, "peers");
    assert!(peers.contains(&format!("pin used {new}")), "{peers}");
    assert!(!peers.contains("last failure"), "{peers}");
    // Past the overlap of the replaced session: A forgets the old pin.
    stream(&mut sim, &mut seq, 12_000, 5);
    sim.set(0, &format!("peer set gw2 fingerprint {new}"));
    stream(&mut sim, &mut seq, 3_000, 5);
    sim.run_for(200);
    let want: Vec<u32> = (0..seq).collect();
    for (to, dir, what) in [(1, 0, "A to B"), (0, 1, "B to A")] {
        let got = received(&sim, to, dir);
        let lost: Vec<u32> = want.iter().filter(|s| !got.contains(s)).copied().collect();
        assert!(lost.is_empty(), "{what}: lost {lost:?} of {seq}");
        assert_eq!(got, want, "{what}: every datagram, once, in order");
    }
    for i in [0, 1] {
        assert!(sim.tunnels_up(i, 1), "{}", sim.cmd(i, "peers"));
        let peers = sim.cmd(i, &format!("peer show gw{}", 2 - i));
        assert!(!peers.contains("last failure"), "{peers}");
    }
    // B retires the old key; nothing changes for the tunnel.
    sim.set(1, "identity retire");
    stream(&mut sim, &mut seq, 500, 5);
    sim.run_for(200);
    assert_eq!(received(&sim, 1, 0).len() as u32, seq);
}

#[test]
fn a_peer_that_pins_only_the_old_key_fails_the_next_handshake_with_the_reason() {
    let mut sim = pair(22);
    bring_up(&mut sim);
    next_key(&mut sim, 1);
    // A never pins the new key.
    sim.set(1, "identity rotate");
    sim.run_for(15_000);
    let peers = sim.cmd(0, "peers");
    assert!(
        peers.contains("last failure: pin mismatch (the peer's key does not match"),
        "{peers}"
    );
}

#[test]
fn endpoint_none_keeps_the_tunnel_and_the_peer_that_calls_is_learned() {
    let mut sim = pair(23);
    // B will not call A: it knows no endpoint for it.
    sim.set(1, "peer set gw1 endpoint none");
    let cfg = sim.cmd(1, "config show");
    assert!(cfg.contains("peer add gw1 fingerprint"), "{cfg}");
    bring_up(&mut sim);
    let peers = sim.cmd(1, "peers");
    assert!(
        peers.contains("learned from handshake (configured none)"),
        "{peers}"
    );
    assert!(peers.contains("endpoint moved 1 times"), "{peers}");
    // The move is an event (what the engine counted, from authenticated input).
    let events = sim.cmd(1, "events");
    assert!(
        events.contains(&format!(
            "ENDPOINT_MOVED  peer gw1: endpoint moved from none to {}:",
            sim::wan_ip(1)
        )),
        "{events}"
    );
    // A clears B's endpoint while the tunnel runs: it keeps going.
    sim.set(0, "peer set gw2 endpoint none");
    let mut seq = 0;
    stream(&mut sim, &mut seq, 1_000, 5);
    sim.run_for(200);
    assert_eq!(received(&sim, 1, 0).len() as u32, seq);
    assert_eq!(received(&sim, 0, 1).len() as u32, seq);
    // A's configuration change is no move.
    let events = sim.cmd(0, "events");
    assert!(!events.contains("ENDPOINT_MOVED"), "{events}");
    assert!(
        events.contains("configuration changed: peer add gw2 fingerprint"),
        "{events}"
    );
}
