//! Hub-and-spoke on three nodes: node 1 is the hub, nodes 2 and 3 pin only the hub and
//! list each other's prefix under it. With transit on at the hub for both spokes, their
//! hosts talk through the hub; with transit off for one, `transit-refused`.

mod sim;

use sim::fabric::Faults;
use sim::{host_ip, wan_ip, Sim, DTLS_PORT};

fn peer_with(sim: &mut Sim, a: usize, b: usize, prefixes: &str, extra: &str) {
    let fp = sim.fingerprint(b);
    let n = sim.nodes[b].n;
    sim.set(
        a,
        &format!(
            "peer add gw{n} endpoint {}:{DTLS_PORT} fingerprint {fp} prefix {prefixes}{extra}",
            wan_ip(n)
        ),
    );
}

#[test]
fn spokes_reach_each_other_through_a_transit_hub_only_while_transit_is_on() {
    let mut sim = Sim::new(
        61,
        Faults {
            loss: 10,
            duplicate: 10,
            reorder: 30,
        },
    );
    let hub = sim.add_node(1);
    let s2 = sim.add_node(2);
    let s3 = sim.add_node(3);
    peer_with(&mut sim, hub, s2, "10.2.0.0/24", " transit on");
    peer_with(&mut sim, hub, s3, "10.3.0.0/24", "");
    sim.set(hub, "peer set gw3 transit on");
    peer_with(&mut sim, s2, hub, "10.1.0.0/24,10.3.0.0/24", "");
    peer_with(&mut sim, s3, hub, "10.1.0.0/24,10.2.0.0/24", "");
    for (from, to) in [(s2, s3), (s3, s2)] {
        let marker = format!("from {from} to {to}");
        let dst = host_ip(sim.nodes[to].n);
        let ok = sim.run_until(10_000, |s| {
            s.hosts[from].send_udp(dst, marker.as_bytes());
            s.hosts[to]
                .received
                .iter()
                .any(|(_, d)| d == marker.as_bytes())
        });
        assert!(ok, "{marker}:\n{}", sim.cmd(hub, "counters"));
    }
    // The hub relayed, and spoke 2 never spoke to spoke 3 directly (it has no pin).
    let counters = sim.cmd(hub, "counters");
    assert!(!counters.contains("transit: relayed 0"), "{counters}");
    assert!(sim.cmd(s2, "peers").matches("peer ").count() == 1);
    let config = sim.cmd(hub, "config show");
    assert!(config.contains(" transit on\n"), "{config}");
    assert_eq!(config.matches("transit on").count(), 2, "{config}");
    assert!(sim.cmd(hub, "peer show gw2").contains("transit on"));
    // Transit off for spoke 3: spoke 2's traffic stops at the hub, counted.
    sim.set(hub, "peer set gw3 transit off");
    let dst = host_ip(3);
    for _ in 0..5 {
        sim.hosts[s2].send_udp(dst, b"after transit off");
        sim.run_for(50);
    }
    assert!(!sim.hosts[s3]
        .received
        .iter()
        .any(|(_, d)| d == b"after transit off"));
    let counters = sim.cmd(hub, "counters");
    assert!(counters.contains("transit-refused: "), "{counters}");
    // The tunnels stayed up through the change.
    assert!(sim.tunnels_up(hub, 2), "{}", sim.cmd(hub, "sessions"));
}
