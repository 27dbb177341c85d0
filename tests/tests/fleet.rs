//! A fleet from its inventory (issue 16, item 5): `vnetcrypt-provision fleet` writes
//! the disks of three gateways in a mesh, the three boot from them under QEMU, and
//! every pair of hosts behind them talks through DTLS tunnels without a configuration
//! statement typed at any console (the test reads views only: `identity`, `flows`).
//!
//! ```text
//!  hostA 10.1.0.10 -- [a] wan 192.0.2.1 --+
//!  hostB 10.2.0.10 -- [b] wan 192.0.2.2 --+-- bridge (fabric namespace)
//!  hostC 10.3.0.10 -- [c] wan 192.0.2.3 --+
//! ```
//!
//! Needs root (namespaces, TAP devices): `make test-fleet` runs it. Every name carries
//! this process's id; everything is removed when the test ends, also on failure.
#![cfg(feature = "nic")]

#[allow(dead_code)]
#[path = "nic/netns.rs"]
mod netns;

#[allow(dead_code)]
#[path = "../src/e2e/mod.rs"]
mod e2e;

use e2e::capture::{self, Capture};
use e2e::gateway::{Gateway, GatewaySpec};
use netns::{require_root, run, Netns, Tap};
use std::process::Command;
use std::time::{Duration, Instant};
use vnetcrypt_tests::{kernel, repo_root, LogDir};

const INVENTORY: &str = "\
# Three sites, every one with every other; nothing typed at a console.
fleet enforcement drop
gateway a wan 192.0.2.1/24 port 4444 lan 10.1.0.1/24 role mesh
gateway b wan 192.0.2.2/24 port 4444 lan 10.2.0.1/24 role mesh
gateway c wan 192.0.2.3/24 port 4444 lan 10.3.0.1/24 role mesh
";
const NAMES: [&str; 3] = ["a", "b", "c"];
const DTLS_PORT: u16 = 4444;
const FABRIC_ADDR: &str = "192.0.2.254";
/// Unused: the capture's probe pings ARP for it.
const PROBE: &str = "192.0.2.253";

fn wan(i: usize) -> String {
    format!("192.0.2.{}", i + 1)
}

fn host(i: usize) -> String {
    format!("10.{}.0.10", i + 1)
}

/// Runs the tool as an operator would; returns the fingerprints of its summary.
fn provision_fleet(logs: &LogDir) -> Vec<String> {
    let inv = logs.path().join("fleet.inv");
    std::fs::write(&inv, INVENTORY).unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", "vnetcrypt-provision", "--", "fleet"])
        .arg(&inv)
        .arg(logs.path().join("fleet"))
        .current_dir(repo_root())
        .output()
        .expect("run vnetcrypt-provision");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "vnetcrypt-provision fleet failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    NAMES
        .iter()
        .map(|n| {
            let row = stdout
                .lines()
                .find(|l| l.split_whitespace().next() == Some(n))
                .unwrap_or_else(|| panic!("no summary row for {n}:\n{stdout}"));
            row.split_whitespace().nth(3).unwrap().to_string()
        })
        .collect()
}

/// Pings `to` from `from` once a second until a reply or the limit.
fn ping_until_reply(from: &Netns, to: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        let out = from.output(&["ping", "-n", "-q", "-c", "1", "-W", "1", to]);
        if out.status.success() {
            return true;
        }
    }
    false
}

#[test]
#[ignore = "boots three gateways under QEMU as root: run by `make test-fleet`"]
fn a_provisioned_fleet_of_three_passes_traffic_between_every_pair() {
    require_root();
    let logs = LogDir::new("fleet");
    let fingerprints = provision_fleet(&logs);
    let id = std::process::id() % 10_000;
    let letter = |i: usize| NAMES[i].to_uppercase();
    let hosts: Vec<Netns> = (0..3)
        .map(|i| Netns::new(&format!("fl-h{}-{id}", letter(i))))
        .collect();
    let fabric = Netns::new(&format!("fl-fab-{id}"));
    let mut taps: Vec<(Tap, Tap)> = (0..3)
        .map(|i| {
            (
                Tap::new(&format!("fl{}w{id}", letter(i))),
                Tap::new(&format!("fl{}l{id}", letter(i))),
            )
        })
        .collect();
    let elf = kernel();
    let mut gateways: Vec<Gateway> = (0..3)
        .map(|i| {
            let disk = logs.path().join(format!("fleet/{}.disk", NAMES[i]));
            let spec = GatewaySpec {
                name: NAMES[i],
                machine: "microvm",
                kernel: &elf,
                disk: &disk,
                wan_nic: format!("tap={},mac=52:54:00:f1:0{i}:01", taps[i].0.name),
                lan_nic: format!("tap={},mac=52:54:00:f1:0{i}:02", taps[i].1.name),
            };
            Gateway::boot(&spec, &logs.path().join(format!("gateway-{}", NAMES[i])))
        })
        .collect();

    // QEMU holds the TAP devices open: move them where they belong.
    // Ageing 0: the bridge floods every frame, so its capture sees them all.
    #[rustfmt::skip]
    fabric.exec(&["ip", "link", "add", "fabric0", "type", "bridge", "ageing_time", "0"]);
    fabric.exec(&[
        "ip",
        "addr",
        "add",
        &format!("{FABRIC_ADDR}/24"),
        "dev",
        "fabric0",
    ]);
    fabric.exec(&["ip", "link", "set", "fabric0", "up"]);
    for (i, (wan, lan)) in taps.iter_mut().enumerate() {
        lan.move_to(&hosts[i], &format!("{}/24", host(i)), 1500);
        hosts[i].exec(&[
            "ip",
            "route",
            "add",
            "default",
            "via",
            &format!("10.{}.0.1", i + 1),
        ]);
        run(&["ip", "link", "set", &wan.name, "netns", &fabric.name]);
        fabric.exec(&["ip", "link", "set", &wan.name, "master", "fabric0", "up"]);
    }

    // Each gateway booted with the identity the summary names.
    for (gw, fp) in gateways.iter_mut().zip(&fingerprints) {
        let shown = gw.cmd("identity");
        assert!(shown.contains(fp.as_str()), "{shown}\n{}", gw.logs());
    }
    let cap = Capture::start(&fabric, "fabric0", logs.path().join("fabric.pcap"), PROBE);
    // Every pair, opened from each side in turn.
    for x in 0..3 {
        for y in (0..3).filter(|&y| y != x) {
            assert!(
                ping_until_reply(&hosts[x], &host(y), Duration::from_secs(90)),
                "host{} cannot reach host{} through the fleet\n{}\n{}",
                letter(x),
                letter(y),
                gateways[x].logs(),
                gateways[y].logs()
            );
        }
    }
    // Each gateway logged an encrypted (X) ICMP flow between its host and both others
    // (one flow per pair of addresses, whichever side opened it).
    for x in 0..3 {
        let flows = gateways[x].cmd("flows");
        for y in (0..3).filter(|&y| y != x) {
            let found = flows.lines().any(|l| {
                let f: Vec<&str> = l.trim().split(',').collect();
                let ends = [host(x), host(y)];
                f.len() == 13
                    && ends.iter().any(|h| h == f[1])
                    && ends.iter().any(|h| h == f[2])
                    && f[1] != f[2]
                    && f[5] == "1"
                    && f[8] == "X"
            });
            assert!(
                found,
                "gateway {} logged no encrypted flow between {} and {}:\n{flows}\n{}",
                NAMES[x],
                host(x),
                host(y),
                gateways[x].logs()
            );
        }
    }
    // On the fabric: only DTLS on the configured port, directly between each pair of
    // gateways, application data between all three pairs; no host address in the
    // clear.
    let file = cap.stop();
    // The fabric namespace's own IGMP reports are not the gateways' business.
    let packets: Vec<_> = capture::packets(&file, DTLS_PORT)
        .into_iter()
        .filter(|p| p.src != FABRIC_ADDR)
        .collect();
    let port = DTLS_PORT.to_string();
    let wans: Vec<String> = (0..3).map(wan).collect();
    let bad: Vec<_> = packets
        .iter()
        .filter(|p| {
            !(wans.contains(&p.src)
                && wans.contains(&p.dst)
                && p.proto == "17"
                && p.sport == port
                && p.dport == port
                && !p.dtls.is_empty())
        })
        .collect();
    assert!(
        bad.is_empty(),
        "not DTLS between gateways on the fabric: {bad:#?}"
    );
    for x in 0..3 {
        for y in (0..3).filter(|&y| y > x) {
            let data = packets.iter().any(|p| {
                [&p.src, &p.dst] == [&wans[x], &wans[y]] && p.dtls.split(',').any(|t| t == "23")
            });
            assert!(
                data,
                "no DTLS application data between {} and {}",
                wans[x], wans[y]
            );
        }
    }
    for gw in &mut gateways {
        gw.assert_running();
    }
}
