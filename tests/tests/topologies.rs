//! Real networks (issue 14): three gateways under QEMU, each with its own workload host
//! in a network namespace, on a fabric bridge where `tshark` listens; some with
//! namespaces routing prefixes behind their lan (a Kubernetes node's pod prefix, a load
//! balancer's VIP) or with a NAT namespace (`iptables` MASQUERADE) between their wan
//! and the fabric. Built by `tests/src/e2e/network.rs`. One boot of a network serves
//! several assertions, to keep `make test` short.
//!
//! Needs root (namespaces, TAP devices), hence the `nic` feature: `make
//! test-topologies` runs them. Failure messages name the gateways' console
//! transcripts and decoded defmt logs, which are kept when a test fails.
#![cfg(feature = "nic")]

#[allow(dead_code)]
#[path = "nic/netns.rs"]
mod netns;

#[allow(dead_code)]
#[path = "../src/e2e/mod.rs"]
mod e2e;

use e2e::capture;
use e2e::network::{
    peer_name, ping, udp_send, udp_send_from, udp_sent, Collector, Network, Pin, RouterSpec,
    Transfer, UdpCount, NAT_GATEWAY_WAN, SIDES,
};
use e2e::topology::Side;
use e2e::topology::{DTLS_PORT, FABRIC_ADDR, MARKER};
use netns::run;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The builder's network of three, C behind a NAT namespace: every link works, every
/// gateway pins the two others, and dropping it leaves nothing behind.
#[test]
fn network_of_three_comes_up_and_goes_away() {
    let (names, taps) = {
        let mut net = Network::builder("three-smoke", "n3")
            .gateways(3)
            .behind_nat(2)
            .build();
        for i in 0..3 {
            let fp = net.fingerprints[i].clone();
            let gw = &mut net.gateways[i];
            assert!(gw.cmd("identity").contains(&fp), "{}", gw.logs());
            let shown = gw.cmd("config show");
            for j in (0..3).filter(|&j| j != i) {
                let pin = format!(
                    "peer add {} endpoint {}:4444 fingerprint {} prefix {}",
                    peer_name(j),
                    SIDES[j].wan,
                    net.fingerprints[j],
                    SIDES[j].net
                );
                assert!(
                    shown.contains(&pin),
                    "gateway {i} lacks {pin:?}:\n{shown}\n{}",
                    gw.logs()
                );
            }
        }
        for (i, (host, side)) in net.hosts.iter().zip(SIDES).enumerate() {
            assert_eq!(
                ping(host, side.lan, 2, "0.2"),
                2,
                "host {i} -> its lan\n{}",
                net.logs()
            );
        }
        for side in &SIDES[..2] {
            assert_eq!(
                ping(&net.fabric, side.wan, 2, "0.2"),
                2,
                "fabric -> {}\n{}",
                side.wan,
                net.logs()
            );
        }
        let nat = net.nat.as_ref().expect("a NAT namespace");
        assert_eq!(
            ping(&nat.ns, NAT_GATEWAY_WAN, 2, "0.2"),
            2,
            "NAT -> C's wan\n{}",
            net.logs()
        );
        assert_eq!(
            ping(&nat.ns, SIDES[0].wan, 2, "0.2"),
            2,
            "NAT -> fabric\n{}",
            net.logs()
        );
        let rules = String::from_utf8_lossy(&nat.ns.exec(&["iptables", "-t", "nat", "-S"]).stdout)
            .into_owned();
        assert!(rules.contains("MASQUERADE"), "no masquerade rule:\n{rules}");
        // Through the NAT (today's matching by endpoint: the masquerade keeps C's port
        // while it is free, so C calling A matches A's configured endpoint for C).
        assert!(
            net.ping_until_reply(2, SIDES[0].host, Duration::from_secs(60))
                .is_some(),
            "no reply hostC -> hostA through C's NAT\n{}",
            net.logs()
        );
        let ports = net.nat.as_ref().expect("NAT").public_ports();
        assert!(
            ports.contains(&4444),
            "C's public ports {ports:?}\n{}",
            net.logs()
        );
        let nat = net.nat.as_ref().expect("NAT");
        let mut names: Vec<String> = net.hosts.iter().map(|h| h.name.clone()).collect();
        names.push(net.fabric.name.clone());
        names.push(nat.ns.name.clone());
        (names, net.lan_taps.clone())
    };
    let links = String::from_utf8_lossy(&run(&["ip", "-o", "link"]).stdout).into_owned();
    for t in &taps {
        assert!(!links.contains(t.as_str()), "TAP {t} left behind:\n{links}");
    }
    let spaces = String::from_utf8_lossy(&run(&["ip", "netns", "list"]).stdout).into_owned();
    for ns in &names {
        assert!(
            !spaces.contains(ns.as_str()),
            "namespace {ns} left behind:\n{spaces}"
        );
    }
    let qemus: Vec<String> = e2e::gateway::command_lines()
        .into_iter()
        .filter(|l| l.contains("qemu-system") && taps.iter().any(|t| l.contains(t.as_str())))
        .collect();
    assert!(qemus.is_empty(), "QEMU left behind: {qemus:?}");
}

/// Per transfer between two hosts of a mesh.
const SIZE: usize = 512 << 10;

/// Every IPv4 packet of a fabric capture is DTLS between two of `wans` on the DTLS port
/// (`flexible`: an address whose port may be any, a NAT's public one), and the payload
/// marker is nowhere; returns the application-data records per (source, destination).
fn assert_only_dtls(
    file: &std::path::Path,
    wans: &[&str],
    flexible: Option<&str>,
    net: &Network,
) -> BTreeMap<(String, String), usize> {
    let packets = capture::packets(file, DTLS_PORT);
    let port = DTLS_PORT.to_string();
    let port_ok = |addr: &str, p: &str| p == port || flexible == Some(addr);
    let bad: Vec<_> = packets
        .iter()
        // The fabric namespace's own stack (IGMP of the bridge, the capture's probes)
        // is the observer, not a gateway.
        .filter(|p| p.src != FABRIC_ADDR)
        .filter(|p| {
            !(wans.contains(&p.src.as_str())
                && wans.contains(&p.dst.as_str())
                && p.proto == "17"
                && port_ok(&p.src, &p.sport)
                && port_ok(&p.dst, &p.dport)
                && !p.dtls.is_empty())
        })
        // The NAT answers a record for a mapping it forgot with an ICMP error quoting
        // it (tshark shows the outer and the quoted header, comma-separated): still
        // only DTLS between the gateways, from the NAT's own address.
        .filter(|p| {
            let outer_src = p.src.split(',').next();
            !(flexible.is_some()
                && outer_src == flexible
                && p.proto.starts_with("1,17")
                && p.src.split(',').all(|a| wans.contains(&a))
                && p.dst.split(',').all(|a| wans.contains(&a))
                && !p.dtls.is_empty())
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} packets on the fabric are not DTLS between gateways, e.g. {:?}\ncapture {}\n{}",
        bad.len(),
        packets.len(),
        &bad[..bad.len().min(5)],
        file.display(),
        net.logs()
    );
    assert!(
        !capture::contains(file, MARKER),
        "the payload marker crossed the fabric in the clear (capture {})\n{}",
        file.display(),
        net.logs()
    );
    let mut records = BTreeMap::new();
    for p in packets
        .iter()
        .filter(|p| p.dtls.split(',').any(|t| t == "23"))
    {
        *records.entry((p.src.clone(), p.dst.clone())).or_insert(0) += 1;
    }
    records
}

/// Flow tuples of gateway `i` from host `src` to host `dst` with `protocol`, by their
/// encryption value.
fn encryptions(net: &mut Network, i: usize, src: &str, dst: &str, protocol: &str) -> Vec<String> {
    net.flows(i)
        .iter()
        .filter_map(|t| {
            let f: Vec<&str> = t.split(',').collect();
            (f[1] == src && f[2] == dst && f[5] == protocol).then(|| f[8].to_string())
        })
        .collect()
}

/// Issue 14: three gateways in a full mesh. Every pair opens a tunnel and carries a
/// checksummed transfer and pings both ways; every gateway logs them `X`; the fabric
/// carries only DTLS, directly between each pair, never the payload. Then per-peer
/// enforcement on the same boot: under global DropUnencrypted, A allows C unencrypted;
/// with B and C stopped, A's traffic for C's prefix falls back to the clear
/// (`NX_FALLBACK`, seen on the fabric) while traffic for B's prefix is never clear
/// (dropped, `NX_NOT_ACCEPTED`).
#[test]
fn mesh_of_three_then_per_peer_enforcement() {
    let started = Instant::now();
    let mut net = Network::builder("mesh", "me").gateways(3).build();
    let wans: Vec<&str> = SIDES.iter().map(|s| s.wan).collect();
    let cap = net.capture_fabric("mesh");
    let pairs = [(0, 1), (1, 2), (2, 0)];
    for (k, &(i, j)) in pairs.iter().enumerate() {
        let (from, to) = (SIDES[i], SIDES[j]);
        assert!(
            net.ping_until_reply(i, to.host, Duration::from_secs(60))
                .is_some(),
            "no reply {} -> {} through the mesh\n{}",
            from.host,
            to.host,
            net.logs()
        );
        assert_eq!(
            net.ping(j, from.host, 3, "0.2"),
            3,
            "ping {} -> {}\n{}",
            to.host,
            from.host,
            net.logs()
        );
        net.transfer(&net.hosts[i], &net.hosts[j], to.host, SIZE, 5100 + k as u16);
    }
    let file = cap.stop();
    let records = assert_only_dtls(&file, &wans, None, &net);
    for &(i, j) in &pairs {
        let (from, to) = (SIDES[i], SIDES[j]);
        // Directly between the pair, not relayed: the transfer's records went from
        // i's wan to j's.
        let n = records
            .get(&(from.wan.to_string(), to.wan.to_string()))
            .copied()
            .unwrap_or(0);
        assert!(
            n >= SIZE / 1395,
            "only {n} DTLS data records {} -> {} for a {SIZE}-byte transfer: {records:?}\n{}",
            from.wan,
            to.wan,
            net.logs()
        );
        for (gw, proto) in [(i, "6"), (j, "6"), (i, "1"), (j, "1")] {
            let seen = encryptions(&mut net, gw, from.host, to.host, proto);
            assert!(
                !seen.is_empty() && seen.iter().all(|e| e == "X"),
                "gateway {gw}: flows {} -> {} protocol {proto} are {seen:?}, not all X\n{}",
                from.host,
                to.host,
                net.logs()
            );
        }
    }
    eprintln!(
        "topologies mesh: three pairs up and checked after {:?}",
        started.elapsed()
    );

    // Per-peer enforcement: C allowed unencrypted on A, B by the global drop.
    for line in [
        "peer set gw-c enforcement allow",
        &format!("interface wan gateway {FABRIC_ADDR}"),
        "keepalive interval 1",
        "dead-peer after 3",
        "fallback after 10",
    ] {
        net.gateways[0].set(line);
    }
    net.gateways[1].stop();
    net.gateways[2].stop();
    let cap = net.capture_fabric("enforcement");
    let (host_a, host_b, host_c) = (SIDES[0].host, SIDES[1].host, SIDES[2].host);
    let stopped = Instant::now();
    loop {
        net.ping(0, host_c, 1, "1");
        net.ping(0, host_b, 1, "1");
        if encryptions(&mut net, 0, host_a, host_c, "1")
            .iter()
            .any(|e| e == "NX_FALLBACK")
        {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(90),
            "no ICMP flow hostA -> hostC NX_FALLBACK on A 90 s after C stopped:\n{}\n{}",
            net.flows(0).join("\n"),
            net.logs()
        );
    }
    // Now that the fallback is due: the same marked datagrams to both.
    let clear_marker = "VNETCRYPT-ALLOWED-IN-THE-CLEAR";
    udp_sent(udp_send(&net.hosts[0], host_c, 6100, 5, 0.1, clear_marker));
    let marked = std::str::from_utf8(MARKER).expect("ASCII marker");
    udp_sent(udp_send(&net.hosts[0], host_b, 6100, 5, 0.1, marked));
    let file = cap.stop();
    let packets = capture::packets(&file, DTLS_PORT);
    let to_c = packets.iter().filter(|p| p.dst == host_c).count();
    assert!(
        to_c >= 5 && capture::contains(&file, clear_marker.as_bytes()),
        "A's traffic for C (allowed unencrypted) is not on the fabric in the clear ({to_c} packets; capture {})\n{}",
        file.display(),
        net.logs()
    );
    let to_b: Vec<_> = packets
        .iter()
        .filter(|p| p.src.starts_with("10.2.0.") || p.dst.starts_with("10.2.0."))
        .collect();
    assert!(
        to_b.is_empty() && !capture::contains(&file, MARKER),
        "traffic for B's prefix crossed the fabric in the clear: {:?} (capture {})\n{}",
        &to_b[..to_b.len().min(5)],
        file.display(),
        net.logs()
    );
    for proto in ["1", "17"] {
        let seen = encryptions(&mut net, 0, host_a, host_b, proto);
        assert!(
            !seen.is_empty() && seen.iter().all(|e| e == "X" || e == "NX_NOT_ACCEPTED"),
            "flows hostA -> hostB protocol {proto} on A: {seen:?} (only X before B stopped, NX_NOT_ACCEPTED after)\n{}",
            net.logs()
        );
        assert!(
            seen.iter().any(|e| e == "NX_NOT_ACCEPTED"),
            "no flow hostA -> hostB protocol {proto} NX_NOT_ACCEPTED on A with B stopped: {seen:?}\n{}",
            net.logs()
        );
    }
    let udp_c = encryptions(&mut net, 0, host_a, host_c, "17");
    assert!(
        udp_c.iter().any(|e| e == "NX_FALLBACK"),
        "the UDP flow hostA -> hostC is {udp_c:?}, not NX_FALLBACK\n{}",
        net.logs()
    );
    eprintln!("topologies mesh + enforcement: {:?}", started.elapsed());
}

/// A gateway's `rekeys` count for `peer` (its `counters` view).
fn rekeys(net: &mut Network, i: usize, peer: &str) -> u64 {
    let text = net.gateways[i].cmd("counters");
    text.lines()
        .find(|l| l.trim_start().starts_with(&format!("peer {peer} ")))
        .and_then(|l| l.split("rekeys ").nth(1))
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rekeys count for {peer} on gateway {i}:\n{text}"))
}

/// Datagrams each way of the rekey stream: 3 ms apart, about 15 s, so both gateways
/// (rekeying every 1000 records) rekey under it (4 to 6 times in all, measured).
const STREAM: u64 = 5000;

/// Issue 14: rekey under continuous traffic loses nothing, and flow records reach a
/// collector behind a peer through the tunnel. Two gateways rekeying every 1000 records;
/// hostA and hostB stream numbered datagrams to each other at the same time; each host
/// counts what it sent and received: every datagram arrives, once, in both directions,
/// while both gateways rekey several times. Gateway A exports its flow records to a
/// collector in hostB's namespace (behind B): they arrive and name the stream's flow,
/// `X`; the fabric carries only DTLS (no clear flow-record JSON, no payload marker).
#[test]
fn rekey_under_traffic_loses_nothing_and_flow_records_cross_the_tunnel() {
    let started = Instant::now();
    let (host_a, host_b) = (SIDES[0].host, SIDES[1].host);
    let collector_port = 5140;
    let mut net = Network::builder("rekey-export", "rk")
        .statements(0, "rekey records 1000\n")
        .statements(
            0,
            &format!("collector {host_b}:{collector_port} interval 2\n"),
        )
        .statements(1, "rekey records 1000\n")
        .build();
    assert!(
        net.ping_until_reply(0, host_b, Duration::from_secs(60))
            .is_some(),
        "no tunnel hostA -> hostB\n{}",
        net.logs()
    );
    let cap = net.capture_fabric("rekey");
    let before = [rekeys(&mut net, 0, "gw-b"), rekeys(&mut net, 1, "gw-a")];
    let limit = Duration::from_secs(120);
    let (port_ab, port_ba) = (6001, 6002);
    // The collector stops at the first record of the A -> B stream.
    let stream_tuple = format!("{host_a},{host_b},");
    let stream_ports = format!(",{port_ab},17,O,");
    let collector = Collector::listen(
        &net.hosts[1],
        host_b,
        collector_port,
        net.logs.path().join("collected.jsonl"),
        &stream_ports,
        limit,
    );
    let at_b = UdpCount::listen(&net.hosts[1], host_b, port_ab, STREAM, limit);
    let at_a = UdpCount::listen(&net.hosts[0], host_a, port_ba, STREAM, limit);
    let marked = std::str::from_utf8(MARKER).expect("ASCII marker");
    let from_a = udp_send(&net.hosts[0], host_b, port_ab, STREAM, 0.003, marked);
    let from_b = udp_send(&net.hosts[1], host_a, port_ba, STREAM, 0.003, marked);
    let (sent_a, sent_b) = (udp_sent(from_a), udp_sent(from_b));
    let (got_b, got_a) = (at_b.finish(), at_a.finish());
    let after = [rekeys(&mut net, 0, "gw-b"), rekeys(&mut net, 1, "gw-a")];
    eprintln!(
        "topologies rekey: A sent {sent_a}, B got {got_b:?}; B sent {sent_b}, A got {got_a:?}; rekeys {before:?} -> {after:?}"
    );
    for (what, sent, got) in [
        ("hostA -> hostB", sent_a, &got_b),
        ("hostB -> hostA", sent_b, &got_a),
    ] {
        assert!(
            sent == STREAM && got.received == sent && got.missing == 0 && got.duplicates == 0,
            "{what}: {sent} sent, {got:?} across the rekeys\n{}",
            net.logs()
        );
    }
    // Each gateway counts the rekeys it started; either may start them (whichever
    // reaches the record limit first), so the session's rekeys are the sum.
    let rekeyed = after.iter().sum::<u64>() - before.iter().sum::<u64>();
    assert!(
        rekeyed >= 2,
        "the tunnel rekeyed {rekeyed} times during the stream (rekey records 1000, {STREAM} datagrams each way; {before:?} -> {after:?})\n{}",
        net.logs()
    );
    let collected = collector.finish();
    let tuples: Vec<&str> = collected
        .split('"')
        .filter(|s| s.contains(&stream_tuple) && s.split(',').count() == 13)
        .collect();
    assert!(
        collected.contains("\"flowRecords\"")
            && tuples.iter().any(|t| t.contains(&stream_ports) && t.split(',').nth(8) == Some("X")),
        "the collector behind B got no record of the A -> B stream marked X; tuples {tuples:?}; collected:\n{collected}\n{}",
        net.logs()
    );
    let file = cap.stop();
    assert_only_dtls(&file, &[SIDES[0].wan, SIDES[1].wan], None, &net);
    assert!(
        !capture::contains(&file, b"flowRecords"),
        "flow-record JSON crossed the fabric in the clear (capture {})\n{}",
        file.display(),
        net.logs()
    );
    eprintln!("topologies rekey + export: {:?}", started.elapsed());
}

/// A Kubernetes node behind gateway A's lan, routing its pod prefix; and a load
/// balancer's router in front of a VIP range.
const NODE: RouterSpec = RouterSpec {
    gateway: 0,
    lan_addr: "10.1.0.2",
    prefix: "10.244.1.0/24",
    addr: "10.244.1.10",
};
const BALANCER: RouterSpec = RouterSpec {
    gateway: 0,
    lan_addr: "10.1.0.3",
    prefix: "10.1.100.0/24",
    addr: "10.1.100.5",
};

/// Issue 14, routes on lan: gateway A protects its lan subnet plus two prefixes routed
/// behind lan routers (`route add 10.244.1.0/24 via 10.1.0.2`, a node's pod prefix, and
/// `route add 10.1.100.0/24 via 10.1.0.3`, a VIP range); B's peer entry for A names all
/// three. hostB reaches the pod IP and the VIP through the tunnel (pings answered,
/// checksummed transfers), the pod reaches hostB from its own address; flows `X` at
/// both gateways; the fabric carries only DTLS and never the payload.
#[test]
fn pod_prefix_and_vip_behind_lan_routers() {
    let started = Instant::now();
    let mut net = Network::builder("routed", "ro")
        .router(NODE)
        .router(BALANCER)
        .build();
    let host_b = SIDES[1].host;
    let routes = net.gateways[0].cmd("routes");
    for r in [&NODE, &BALANCER] {
        assert!(
            routes.contains(r.prefix) && routes.contains(r.lan_addr),
            "gateway A does not show the route to {} via {}:\n{routes}\n{}",
            r.prefix,
            r.lan_addr,
            net.logs()
        );
    }
    let cap = net.capture_fabric("routed");
    for (k, r) in [&NODE, &BALANCER].into_iter().enumerate() {
        assert!(
            net.ping_until_reply(1, r.addr, Duration::from_secs(60))
                .is_some(),
            "no reply hostB -> {} (behind {} on A's lan)\n{}",
            r.addr,
            r.lan_addr,
            net.logs()
        );
        assert_eq!(
            net.ping(1, r.addr, 3, "0.2"),
            3,
            "hostB -> {}\n{}",
            r.addr,
            net.logs()
        );
        let router = &net.routers[k].ns;
        net.transfer(&net.hosts[1], router, r.addr, SIZE, 5200 + k as u16);
    }
    // The pod opens a flow itself, from its own address (UDP: the gateway keeps ICMP
    // flows without ports, so the pod's echo requests would join hostB's flow).
    let at_b = UdpCount::listen(&net.hosts[1], host_b, 6300, 20, Duration::from_secs(60));
    let from_pod = udp_send_from(&net.routers[0].ns, NODE.addr, host_b, 6300, 20, 0.05, "pod");
    let sent = udp_sent(from_pod);
    let got = at_b.finish();
    assert!(
        sent == 20 && got.received == 20,
        "pod -> hostB: {sent} sent, {got:?}\n{}",
        net.logs()
    );
    let file = cap.stop();
    let records = assert_only_dtls(&file, &[SIDES[0].wan, SIDES[1].wan], None, &net);
    assert!(
        records.values().sum::<usize>() >= 2 * SIZE / 1395,
        "too few DTLS data records for two transfers: {records:?}\n{}",
        net.logs()
    );
    for r in [&NODE, &BALANCER] {
        for (gw, proto) in [(0, "6"), (1, "6"), (0, "1"), (1, "1")] {
            let seen = encryptions(&mut net, gw, host_b, r.addr, proto);
            assert!(
                !seen.is_empty() && seen.iter().all(|e| e == "X"),
                "gateway {gw}: flows hostB -> {} protocol {proto} are {seen:?}, not all X\n{}",
                r.addr,
                net.logs()
            );
        }
    }
    for gw in [0, 1] {
        let seen = encryptions(&mut net, gw, NODE.addr, host_b, "17");
        assert!(
            !seen.is_empty() && seen.iter().all(|e| e == "X"),
            "gateway {gw}: the pod's flow to hostB is {seen:?}, not X\n{}",
            net.logs()
        );
    }
    eprintln!("topologies routed: {:?}", started.elapsed());
}

/// Issue 14, transit: hub A pins spokes B and C with `transit on`; each spoke pins only
/// the hub, with the other spoke's prefix in the hub's entry. hostB and hostC reach each
/// other (pings both ways, a checksummed transfer) through the hub; the fabric shows
/// DTLS between each spoke and the hub only — never between the spokes, never clear;
/// the hub logs the relayed flow `X`. With transit off for C, spoke-to-spoke stops.
#[test]
fn hub_and_spoke_relays_spoke_to_spoke_through_the_hub() {
    let started = Instant::now();
    let [a, b, c] = SIDES;
    let spoke = |from: usize, other: &Side| Pin {
        prefixes: Some(format!("{},{}", a.net, other.net)),
        ..Pin::new(from, 0)
    };
    let transit = |to: usize| Pin {
        extra: "transit on".into(),
        ..Pin::new(0, to)
    };
    let mut net = Network::builder("hub", "hb")
        .gateways(3)
        .pins(vec![transit(1), transit(2), spoke(1, c), spoke(2, b)])
        .build();
    let cap = net.capture_fabric("hub");
    assert!(
        net.ping_until_reply(1, c.host, Duration::from_secs(90))
            .is_some(),
        "no reply hostB -> hostC through hub A\n{}",
        net.logs()
    );
    assert_eq!(
        net.ping(2, b.host, 3, "0.2"),
        3,
        "hostC -> hostB\n{}",
        net.logs()
    );
    net.transfer(&net.hosts[1], &net.hosts[2], c.host, SIZE, 5300);
    let file = cap.stop();
    let records = assert_only_dtls(&file, &[a.wan, b.wan, c.wan], None, &net);
    let direct: Vec<_> = capture::packets(&file, DTLS_PORT)
        .into_iter()
        .filter(|p| (p.src == b.wan && p.dst == c.wan) || (p.src == c.wan && p.dst == b.wan))
        .collect();
    assert!(
        direct.is_empty(),
        "the spokes talked directly: {:?}\n{}",
        &direct[..direct.len().min(5)],
        net.logs()
    );
    for (from, to) in [(b.wan, a.wan), (a.wan, c.wan)] {
        let n = records
            .get(&(from.to_string(), to.to_string()))
            .copied()
            .unwrap_or(0);
        assert!(
            n >= SIZE / 1395,
            "only {n} DTLS data records {from} -> {to} for a {SIZE}-byte transfer relayed by the hub: {records:?}\n{}",
            net.logs()
        );
    }
    for gw in [1, 0, 2] {
        let seen = encryptions(&mut net, gw, b.host, c.host, "6");
        assert!(
            !seen.is_empty() && seen.iter().all(|e| e == "X"),
            "gateway {gw}: flows hostB -> hostC are {seen:?}, not all X\n{}",
            net.logs()
        );
    }
    // Transit is per peer: off for C, the hub relays nothing more between them.
    net.gateways[0].set("peer set gw-c transit off");
    assert_eq!(
        net.ping(1, c.host, 3, "0.3"),
        0,
        "the hub still relays hostB -> hostC with transit off for C\n{}",
        net.logs()
    );
    eprintln!("topologies hub: {:?}", started.elapsed());
}

/// Issue 14, roaming: gateway B sits behind a NAT namespace (iptables MASQUERADE); A
/// pins B without an endpoint (B calls A; keepalives hold the mapping). Mid-transfer
/// the NAT forgets its mappings and masquerades to other ports (`conntrack -F`, SNAT
/// ports 20000-20999): B's public port changes, A follows B to it, the paced transfer
/// completes intact, flows stay `X`, and the fabric carries only DTLS (from the new
/// port too), never the payload.
#[test]
fn gateway_behind_nat_survives_a_new_public_port_mid_transfer() {
    let started = Instant::now();
    let [a, b, _] = SIDES;
    let mut net = Network::builder("nat", "nt")
        .behind_nat(1)
        .pins(vec![
            Pin {
                endpoint: false,
                ..Pin::new(0, 1)
            },
            Pin::new(1, 0),
        ])
        .statements(1, "keepalive interval 2\n")
        .build();
    assert!(
        net.ping_until_reply(1, a.host, Duration::from_secs(60))
            .is_some(),
        "no reply hostB (behind the NAT) -> hostA\n{}",
        net.logs()
    );
    assert_eq!(
        net.ping(0, b.host, 3, "0.2"),
        3,
        "hostA -> hostB through B's NAT\n{}",
        net.logs()
    );
    let nat = net.nat.as_ref().expect("NAT");
    let before = nat.public_ports();
    assert_eq!(before, vec![DTLS_PORT], "B's public port before the change");
    let cap = net.capture_fabric("nat");
    let size = 2 << 20;
    let mut t = Transfer::paced(
        net.logs.path(),
        &net.hosts[0],
        &net.hosts[1],
        b.host,
        size,
        5400,
        Duration::from_secs(300),
        256 << 10,
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        t.running(),
        "the transfer ended before the NAT changed: pace it slower"
    );
    net.nat.as_ref().expect("NAT").remap(Some("20000-20999"));
    let took = t.finish(&net.logs());
    let after = net.nat.as_ref().expect("NAT").public_ports();
    assert!(
        !after.is_empty() && after.iter().all(|p| (20000..=20999).contains(p)),
        "B's public ports after the change: {after:?}\n{}",
        net.logs()
    );
    // A followed B: its view of gw-b names the new public endpoint and the move.
    let shown = net.gateways[0].cmd("peer show gw-b");
    let now_at = format!("{}:{}", b.wan, after[0]);
    assert!(
        shown.contains(&now_at) && shown.contains("moved"),
        "gateway A does not show gw-b at {now_at}, moved:\n{shown}\n{}",
        net.logs()
    );
    let file = cap.stop();
    assert_only_dtls(&file, &[a.wan, b.wan], Some(b.wan), &net);
    let moved = capture::packets(&file, DTLS_PORT)
        .into_iter()
        .filter(|p| p.src == a.wan && p.dst == b.wan && p.dtls.split(',').any(|t| t == "23"))
        .filter(|p| {
            p.dport
                .parse::<u16>()
                .is_ok_and(|d| (20000..=20999).contains(&d))
        })
        .count();
    assert!(
        moved > 0,
        "A never sent records to B's new public port (capture {})\n{}",
        file.display(),
        net.logs()
    );
    for gw in [0, 1] {
        let seen = encryptions(&mut net, gw, a.host, b.host, "6");
        assert!(
            !seen.is_empty() && seen.iter().all(|e| e == "X"),
            "gateway {gw}: flows hostA -> hostB are {seen:?}, not all X\n{}",
            net.logs()
        );
    }
    eprintln!(
        "topologies nat: {size} bytes in {took:?} across a new public port; {:?}",
        started.elapsed()
    );
}
