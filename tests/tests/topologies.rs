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

use e2e::network::{peer_name, ping, Network, NAT_GATEWAY_WAN, SIDES};
use netns::run;
use std::time::Duration;

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
