//! A routed prefix behind a lan router, Kubernetes style: node 1's lan has a
//! "k8s node" (10.1.0.20) that owns the pod range 10.244.1.0/24 (one pod address,
//! 10.244.1.5, lives on it). Gateway 1 routes the pod range to it (`route add`), and
//! gateway 2 lists the pod range among gateway 1's prefixes. Pings and transfers cross
//! both ways; without the route a pod destination is `no-route`; a lan host that claims
//! a pod address is `lan-spoofed`.

mod sim;

use sim::fabric::Faults;
use sim::{host_ip, Sim};
use std::net::Ipv4Addr;

const K8S_NODE: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 20);
const K8S_MAC: [u8; 6] = [2, 0, 0, 1, 1, 20];
const POD: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 5);

/// Two peered gateways, a k8s node on gateway 1's lan; the route only if `route`.
fn setup(seed: u64, route: bool) -> (Sim, usize, usize, usize) {
    let mut sim = Sim::new(seed, Faults::default());
    let a = sim.add_node(1);
    let b = sim.add_node(2);
    sim.peer(a, b);
    sim.peer(b, a);
    sim.set(b, "peer set gw1 prefix 10.1.0.0/24,10.244.1.0/24");
    let k8s = sim.add_lan_host(a, K8S_MAC, K8S_NODE);
    sim.lan_hosts[k8s].add_address(POD, 32);
    if route {
        sim.set(a, "route add 10.244.1.0/24 via 10.1.0.20");
    }
    (sim, a, b, k8s)
}

fn drops(sim: &mut Sim, i: usize, reason: &str) -> u64 {
    let out = sim.cmd(i, "counters");
    let prefix = format!("{reason}: ");
    out.lines()
        .find_map(|l| l.trim().strip_prefix(&prefix)?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_pod_range_behind_a_lan_router_pings_and_transfers_both_ways() {
    let (mut sim, a, b, k8s) = setup(41, true);
    // Ping a pod from behind gateway 2.
    let answered = sim.run_until(5_000, |s| {
        s.hosts[b].ping(POD, 1);
        !s.hosts[b].echo_replies.is_empty()
    });
    assert!(
        answered,
        "{}\n{}",
        sim.cmd(a, "counters"),
        sim.cmd(a, "routes")
    );
    // Transfers both ways, 50 datagrams each.
    for i in 0..50u32 {
        let m = format!("to-pod {i:03}");
        assert!(sim.hosts[b].send_udp(POD, m.as_bytes()));
        sim.run_for(2);
    }
    sim.run_for(50);
    let got = &sim.lan_hosts[k8s].received;
    let to_pod = got.iter().filter(|(_, d)| d.starts_with(b"to-pod")).count();
    assert_eq!(to_pod, 50, "{}", sim.cmd(a, "counters"));
    assert!(got.iter().all(|(from, _)| *from.ip() == host_ip(2)));
    let from_pod = sim.run_until(5_000, |s| {
        let sent = s.lan_hosts[k8s].send_udp_from(POD, host_ip(2), b"from-pod first");
        assert!(sent);
        !s.hosts[b].received.is_empty()
    });
    assert!(from_pod, "{}", sim.cmd(a, "counters"));
    for i in 0..50u32 {
        let m = format!("from-pod {i:03}");
        assert!(sim.lan_hosts[k8s].send_udp_from(POD, host_ip(2), m.as_bytes()));
        sim.run_for(2);
    }
    sim.run_for(50);
    let back: Vec<_> = sim.hosts[b]
        .received
        .iter()
        .filter(|(_, d)| d.starts_with(b"from-pod 0"))
        .collect();
    assert_eq!(back.len(), 50, "{}", sim.cmd(a, "counters"));
    assert!(back.iter().all(|(from, _)| *from.ip() == POD));
    // The operator's view.
    let routes = sim.cmd(a, "route show");
    assert!(
        routes.contains("route 10.244.1.0/24 via 10.1.0.20  resolved 02:00:00:01:01:14"),
        "{routes}"
    );
    assert_eq!(sim.cmd(a, "routes"), routes);
    let config = sim.cmd(a, "config show");
    assert!(
        config.contains("route add 10.244.1.0/24 via 10.1.0.20\n"),
        "{config}"
    );
    assert_eq!(drops(&mut sim, a, "no-route"), 0);
    assert_eq!(drops(&mut sim, a, "lan-spoofed"), 0);
    let flows = sim.cmd(a, "flows");
    assert!(flows.contains("10.244.1.5"), "{flows}");
}

#[test]
fn without_a_route_a_pod_is_no_route_and_routes_change_without_dropping_the_tunnel() {
    let (mut sim, a, b, k8s) = setup(42, false);
    sim.hosts[b].send_udp(host_ip(1), b"tunnel up");
    assert!(sim.run_until(5_000, |s| !s.hosts[a].received.is_empty()));
    sim.hosts[b].send_udp(POD, b"no route yet");
    sim.run_for(200);
    assert!(sim.lan_hosts[k8s].received.is_empty());
    assert_eq!(
        drops(&mut sim, a, "no-route"),
        1,
        "{}",
        sim.cmd(a, "counters")
    );
    assert!(sim.cmd(a, "routes").contains("no routes"));
    let handshakes = |sim: &mut Sim| {
        let out = sim.cmd(a, "peer show gw2");
        out.lines()
            .find(|l| l.contains("handshakes"))
            .map(str::to_string)
    };
    let before = handshakes(&mut sim);
    // Added at run time: the tunnel stays, the pod is reached.
    sim.set(a, "route add 10.244.1.0/24 via 10.1.0.20");
    sim.hosts[b].send_udp(POD, b"routed now");
    assert!(sim.run_until(2_000, |s| !s.lan_hosts[k8s].received.is_empty()));
    assert_eq!(handshakes(&mut sim), before);
    sim.set(a, "route remove 10.244.1.0/24");
    sim.hosts[b].send_udp(POD, b"removed");
    sim.run_for(200);
    assert_eq!(sim.lan_hosts[k8s].received.len(), 1);
    assert_eq!(drops(&mut sim, a, "no-route"), 2);
    // Refused with a clear error, config unchanged.
    let out = sim.cmd(a, "route add 10.244.1.0/24 via 10.9.0.1");
    assert!(out.contains("not inside the lan on-link prefix"), "{out}");
    let out = sim.cmd(a, "route add 10.2.0.0/25 via 10.1.0.20");
    assert!(out.contains("overlaps a peer's prefix"), "{out}");
    assert!(sim.cmd(a, "routes").contains("no routes"));
}

#[test]
fn a_lan_host_claiming_a_pod_address_is_dropped() {
    let (mut sim, a, b, k8s) = setup(43, true);
    // The real pod reaches host 2 (the k8s node's MAC is learned on the way).
    let ok = sim.run_until(5_000, |s| {
        s.lan_hosts[k8s].send_udp_from(POD, host_ip(2), b"real pod");
        !s.hosts[b].received.is_empty()
    });
    assert!(ok, "{}", sim.cmd(a, "counters"));
    sim.run_for(100);
    // Workload 10.1.0.10 (not the route's next hop) claims the pod address.
    sim.hosts[a].add_address(POD, 32);
    for _ in 0..5 {
        sim.hosts[a].send_udp_from(POD, host_ip(2), b"forged pod");
        sim.run_for(20);
    }
    assert!(
        sim.hosts[b]
            .received
            .iter()
            .all(|(_, d)| d.as_slice() == b"real pod"),
        "{:?}",
        sim.hosts[b].received
    );
    assert!(
        drops(&mut sim, a, "lan-spoofed") >= 5,
        "{}",
        sim.cmd(a, "counters")
    );
}
