//! Operations over the node's console: the health line, the JSON forms of the views
//! (parsed by a real JSON parser), the event log and its export as RFC 5424 syslog to
//! a lan host and, through the tunnel, to a host behind the peer.

mod sim;

use sim::fabric::Faults;
use sim::host::PORT;
use sim::{host_ip, Sim};

fn json(sim: &mut Sim, i: usize, line: &str) -> serde_json::Value {
    let out = sim.cmd(i, line);
    assert_eq!(out.matches('\n').count(), 1, "one line: {out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{line}: {e}: {out}"))
}

/// The syslog messages host `h` received, as text.
fn syslog_at(sim: &Sim, h: usize) -> Vec<String> {
    sim.hosts[h]
        .received
        .iter()
        .filter(|(_, d)| d.starts_with(b"<"))
        .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
        .collect()
}

#[test]
fn views_events_and_syslog() {
    let mut sim = Sim::new(11, Faults::default());
    let a = sim.add_node(1);
    let b = sim.add_node(2);
    sim.peer(a, b);
    sim.peer(b, a);
    sim.set(a, "enforcement drop");
    sim.set(b, "enforcement drop");
    // A's events go to its own lan host; B's through the tunnel to A's host.
    sim.set(a, &format!("syslog {}:{PORT}", host_ip(1)));
    sim.set(b, &format!("syslog {}:{PORT}", host_ip(1)));
    let mut health = String::new();
    sim.node(a).write_health(&mut health).unwrap();
    assert!(
        health.starts_with("health    1 peers: 0 up, 0 down, 0 failing; enforcement drop; uptime "),
        "{health}"
    );

    sim.hosts[a].send_udp(host_ip(2), b"hello");
    assert!(
        sim.run_until(30_000, |s| s.tunnels_up(0, 1) && s.tunnels_up(1, 1)),
        "{}",
        sim.cmd(a, "peers")
    );
    sim.run_for(500);
    let mut health = String::new();
    sim.node(a).write_health(&mut health).unwrap();
    assert!(health.contains("1 peers: 1 up, 0 down"), "{health}");

    // The text views agree on the word for a working tunnel and show the suite.
    let peers = sim.cmd(a, "peers");
    assert!(
        peers.contains("gw2") && peers.contains(" up for "),
        "{peers}"
    );
    assert!(peers.contains("suite ECDHE-ECDSA-AES"), "{peers}");
    let sessions = sim.cmd(a, "sessions");
    assert!(!sessions.contains("established"), "{sessions}");

    // JSON forms.
    let p = json(&mut sim, a, "peers json");
    assert_eq!(p["data_plane"]["active"], true);
    assert_eq!(p["peers"][0]["name"], "gw2");
    assert_eq!(p["peers"][0]["state"], "up");
    assert!(p["peers"][0]["suite"]
        .as_str()
        .unwrap()
        .starts_with("ECDHE-ECDSA-AES"));
    assert!(p["peers"][0]["sent"]["records"].as_u64().unwrap() >= 1);
    assert_eq!(p["peers"][0]["handshakes"]["completed"], 1);
    let s = json(&mut sim, a, "sessions json");
    assert_eq!(s["sessions"][0]["peer"], "gw2");
    assert_eq!(s["sessions"][0]["state"], "up");
    let c = json(&mut sim, a, "counters json");
    assert!(c["interfaces"]["lan"]["rx_packets"].as_u64().unwrap() > 0);
    assert!(c["drops"]["by_reason"]["replay"].is_u64());
    assert_eq!(c["peers"][0]["name"], "gw2");
    let f = json(&mut sim, a, "flows json");
    let flow = f["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["src_ip"] == host_ip(1).to_string() && t["dst_ip"] == host_ip(2).to_string())
        .unwrap_or_else(|| panic!("no hostA -> hostB flow: {f}"));
    assert_eq!(flow["encryption"], "X");
    assert_eq!(flow["protocol"], 17);
    let e = json(&mut sim, a, "events json");
    let kinds: Vec<&str> = e["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for want in ["BOOT", "CONFIG_CHANGED", "HANDSHAKE_OK", "PEER_UP"] {
        assert!(kinds.contains(&want), "{want} missing: {kinds:?}");
    }

    // The events reached A's host: from A on lan, from B through the tunnel.
    sim.run_for(2_000);
    let got = syslog_at(&sim, a);
    let from = |host: &str, msgid: &str| {
        got.iter()
            .any(|m| m.contains(&format!(" {host} vnetcrypt - {msgid} ")))
    };
    for msgid in ["BOOT", "CONFIG_CHANGED", "HANDSHAKE_OK", "PEER_UP"] {
        assert!(from("10.1.0.1", msgid), "A's {msgid} missing: {got:#?}");
        assert!(from("10.2.0.1", msgid), "B's {msgid} missing: {got:#?}");
    }
    let up = got
        .iter()
        .find(|m| m.contains(" PEER_UP "))
        .expect("a PEER_UP message");
    assert!(up.starts_with("<133>1 "), "{up}");
    assert!(up.contains("[vnetcrypt@32473 peer=\"gw"), "{up}");
    let text = sim.cmd(b, "counters");
    assert!(
        text.contains("syslog: ") && text.contains("through a peer's tunnel"),
        "{text}"
    );
    let c = json(&mut sim, b, "counters json");
    assert!(c["syslog"]["tunnelled"].as_u64().unwrap() >= 4, "{c}");

    // A configuration change names the statement; a save is recorded too.
    sim.set(a, "keepalive interval 5");
    sim.cmd(a, "config save");
    let events = sim.cmd(a, "events 2");
    assert!(
        events.contains("CONFIG_CHANGED  configuration changed: keepalive interval 5"),
        "{events}"
    );
    assert!(events.contains("CONFIG_SAVED"), "{events}");
    sim.run_for(1_500);
    let got = syslog_at(&sim, a);
    assert!(
        got.iter()
            .any(|m| m.contains("CONFIG_CHANGED") && m.contains("added=\"keepalive interval 5\"")),
        "{got:#?}"
    );
    assert!(got.iter().any(|m| m.contains("CONFIG_SAVED")), "{got:#?}");
}

#[test]
fn a_wrong_pin_is_an_event_with_its_reason() {
    let mut sim = Sim::new(12, Faults::default());
    let a = sim.add_node(1);
    let b = sim.add_node(2);
    let c = sim.add_node(3);
    // A pins C's key for B: B's handshakes fail on A's side with a pin mismatch.
    let wrong = sim.fingerprint(c);
    sim.set(
        a,
        &format!(
            "peer add gw2 endpoint {}:{} fingerprint {wrong} prefix 10.2.0.0/24",
            sim::wan_ip(2),
            sim::DTLS_PORT
        ),
    );
    sim.peer(b, a);
    sim.hosts[a].send_udp(host_ip(2), b"hello");
    let failed = sim.run_until(30_000, |s| s.cmd(a, "events").contains("HANDSHAKE_FAIL"));
    assert!(failed, "{}", sim.cmd(a, "events"));
    let events = sim.cmd(a, "events");
    assert!(
        events.contains("handshake failed: pin-mismatch"),
        "{events}"
    );
    let mut health = String::new();
    sim.node(a).write_health(&mut health).unwrap();
    assert!(health.contains("0 up, 0 down, 1 failing"), "{health}");
}
