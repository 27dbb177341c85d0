//! Three appliances in a full mesh, and nodes driven by their own deadlines
//! (`Node::poll_at`) instead of a fixed tick.

mod sim;

use sim::fabric::Faults;
use sim::{host_ip, Sim};

#[test]
fn three_nodes_in_a_full_mesh_carry_traffic_between_every_pair() {
    let mut sim = Sim::new(
        21,
        Faults {
            loss: 10,
            duplicate: 10,
            reorder: 30,
        },
    );
    let nodes: Vec<usize> = (1..=3).map(|n| sim.add_node(n)).collect();
    for &a in &nodes {
        for &b in &nodes {
            if a != b {
                sim.peer(a, b);
            }
        }
        sim.set(a, "enforcement drop");
    }
    for &a in &nodes {
        for &b in &nodes {
            if a == b {
                continue;
            }
            let dst = host_ip(sim.nodes[b].n);
            let marker = format!("from {a} to {b}");
            let delivered = sim.run_until(10_000, |s| {
                s.hosts[a].send_udp(dst, marker.as_bytes());
                s.hosts[b]
                    .received
                    .iter()
                    .any(|(_, d)| d == marker.as_bytes())
            });
            assert!(delivered, "{marker}:\n{}", sim.cmd(a, "peers"));
        }
    }
    for &a in &nodes {
        assert!(sim.tunnels_up(a, 2), "{}", sim.cmd(a, "sessions"));
    }
}

/// Advances the clock straight to the earliest deadline of any node (at most `cap_ms`
/// ahead), as a sleeping main loop would, then runs one step.
fn sleep_to_next_deadline(sim: &mut Sim, cap_ms: u64) {
    let now = sim.now_us();
    let next = (0..sim.nodes.len())
        .filter_map(|i| sim.node(i).poll_at())
        .min()
        .unwrap_or(u64::MAX);
    sim.clock.set(next.clamp(now, now + cap_ms * 1000));
    sim.step();
}

#[test]
fn an_idle_tunnel_stays_up_when_nodes_only_wake_at_their_deadlines() {
    let mut sim = Sim::new(22, Faults::default());
    let a = sim.add_node(1);
    let b = sim.add_node(2);
    sim.peer(a, b);
    sim.peer(b, a);
    sim.hosts[a].send_udp(host_ip(2), b"start");
    assert!(sim.run_until(5_000, |s| s.tunnels_up(a, 1) && s.tunnels_up(b, 1)));
    sim.run_for(100);

    // Five idle minutes. Keepalives and liveness must fall on deadlines the nodes
    // report; a deadline they forgot would let the tunnel be declared dead.
    let start = sim.now_us();
    let mut wakeups = 0;
    while sim.now_us() < start + 300_000_000 {
        sleep_to_next_deadline(&mut sim, 60_000);
        wakeups += 1;
    }
    assert!(
        wakeups < 30_000,
        "an idle node sleeps between deadlines ({wakeups} wake-ups in 300 s)"
    );
    assert!(sim.tunnels_up(a, 1), "{}", sim.cmd(a, "peers"));
    assert!(sim.tunnels_up(b, 1), "{}", sim.cmd(b, "peers"));
    let peers = sim.cmd(a, "peers");
    assert!(peers.contains("up"), "{peers}");
    // Traffic flows at once, without a new handshake.
    let handshakes = sim.cmd(a, "peer show gw2");
    sim.hosts[a].send_udp(host_ip(2), b"after the idle time");
    assert!(sim.run_until(100, |s| s.hosts[b]
        .received
        .iter()
        .any(|(_, d)| d == b"after the idle time")));
    assert_eq!(
        sim.cmd(a, "peer show gw2").lines().last(),
        handshakes.lines().last()
    );
}
