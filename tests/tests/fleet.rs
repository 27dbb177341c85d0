//! A fleet from its inventory (issue 16, item 5): `vnetcrypt-provision fleet` writes
//! the disks of three gateways, the three boot from them under QEMU, and the hosts
//! behind them talk through DTLS tunnels without a configuration statement typed at
//! any console (the tests read views only: `identity`, `flows`). A mesh: every pair
//! directly. A hub and two spokes: the spokes reach each other through the hub.
//!
//! ```text
//!  host0 10.1.0.10 -- [gateway 0] wan 192.0.2.1 --+
//!  host1 10.2.0.10 -- [gateway 1] wan 192.0.2.2 --+-- bridge (fabric namespace)
//!  host2 10.3.0.10 -- [gateway 2] wan 192.0.2.3 --+
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

const MESH: &str = "\
# Three sites, every one with every other; nothing typed at a console.
fleet enforcement drop
gateway a wan 192.0.2.1/24 port 4444 lan 10.1.0.1/24 role mesh
gateway b wan 192.0.2.2/24 port 4444 lan 10.2.0.1/24 role mesh
gateway c wan 192.0.2.3/24 port 4444 lan 10.3.0.1/24 role mesh
";
const HUB_AND_SPOKES: &str = "\
# A hub and two spokes: the spokes pin only the hub.
fleet enforcement drop
gateway hub wan 192.0.2.1/24 port 4444 lan 10.1.0.1/24 role hub
gateway s1  wan 192.0.2.2/24 port 4444 lan 10.2.0.1/24 role spoke
gateway s2  wan 192.0.2.3/24 port 4444 lan 10.3.0.1/24 role spoke
";
const DTLS_PORT: u16 = 4444;
const FABRIC_ADDR: &str = "192.0.2.254";
/// Unused: the capture's probe pings ARP for it.
const PROBE: &str = "192.0.2.253";

fn host(i: usize) -> String {
    format!("10.{}.0.10", i + 1)
}

fn wan(i: usize) -> String {
    format!("192.0.2.{}", i + 1)
}

/// Three gateways booted from the disks of one inventory. Fields drop in order:
/// gateways (their defmt logs get decoded), devices, namespaces, logs.
struct Fleet {
    gateways: Vec<Gateway>,
    _taps: Vec<(Tap, Tap)>,
    hosts: Vec<Netns>,
    fabric: Netns,
    logs: LogDir,
}

impl Fleet {
    /// Provisions the fleet of `inventory` and boots it. `tag`: two letters naming
    /// the test in namespace and device names.
    fn boot(tag: &str, inventory: &str) -> Self {
        require_root();
        let logs = LogDir::new(&format!("fleet-{tag}"));
        let (names, fingerprints) = provision_fleet(&logs, inventory);
        let id = std::process::id() % 10_000;
        let hosts: Vec<Netns> = (0..3)
            .map(|i| Netns::new(&format!("{tag}-h{i}-{id}")))
            .collect();
        let fabric = Netns::new(&format!("{tag}-fab-{id}"));
        let mut taps: Vec<(Tap, Tap)> = (0..3)
            .map(|i| {
                (
                    Tap::new(&format!("{tag}{i}w{id}")),
                    Tap::new(&format!("{tag}{i}l{id}")),
                )
            })
            .collect();
        let elf = kernel();
        let mut gateways: Vec<Gateway> = (0..3)
            .map(|i| {
                let disk = logs.path().join(format!("fleet/{}.disk", names[i]));
                let spec = GatewaySpec {
                    name: &names[i],
                    machine: "microvm",
                    kernel: &elf,
                    disk: &disk,
                    wan_nic: format!("tap={},mac=52:54:00:f1:0{i}:01", taps[i].0.name),
                    lan_nic: format!("tap={},mac=52:54:00:f1:0{i}:02", taps[i].1.name),
                };
                Gateway::boot(&spec, &logs.path().join(format!("gateway-{}", names[i])))
            })
            .collect();

        // QEMU holds the TAP devices open: move them where they belong.
        // Ageing 0: the bridge floods every frame, so its capture sees them all.
        #[rustfmt::skip]
        fabric.exec(&["ip", "link", "add", "fabric0", "type", "bridge", "ageing_time", "0"]);
        #[rustfmt::skip]
        fabric.exec(&["ip", "addr", "add", &format!("{FABRIC_ADDR}/24"), "dev", "fabric0"]);
        fabric.exec(&["ip", "link", "set", "fabric0", "up"]);
        for (i, (wan, lan)) in taps.iter_mut().enumerate() {
            lan.move_to(&hosts[i], &format!("{}/24", host(i)), 1500);
            let via = format!("10.{}.0.1", i + 1);
            hosts[i].exec(&["ip", "route", "add", "default", "via", &via]);
            run(&["ip", "link", "set", &wan.name, "netns", &fabric.name]);
            fabric.exec(&["ip", "link", "set", &wan.name, "master", "fabric0", "up"]);
        }
        // Each gateway booted with the identity the summary names.
        for (gw, fp) in gateways.iter_mut().zip(&fingerprints) {
            let shown = gw.cmd("identity");
            assert!(shown.contains(fp.as_str()), "{shown}\n{}", gw.logs());
        }
        Fleet {
            gateways,
            _taps: taps,
            hosts,
            fabric,
            logs,
        }
    }

    fn capture(&self) -> Capture {
        let file = self.logs.path().join("fabric.pcap");
        Capture::start(&self.fabric, "fabric0", file, PROBE)
    }

    /// Host `x` pings host `y` until a reply (the first packets start handshakes).
    fn reach(&self, x: usize, y: usize) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(90) {
            let out = self.hosts[x].output(&["ping", "-n", "-q", "-c", "1", "-W", "1", &host(y)]);
            if out.status.success() {
                return;
            }
        }
        panic!(
            "host {x} cannot reach host {y} through the fleet\n{}\n{}",
            self.gateways[x].logs(),
            self.gateways[y].logs()
        );
    }

    /// Gateway `x` logged an encrypted (X) ICMP flow between host `x` and host `y`
    /// (one flow per pair of addresses, whichever side opened it).
    fn assert_encrypted_flow(&mut self, x: usize, y: usize) {
        let flows = self.gateways[x].cmd("flows");
        let ends = [host(x), host(y)];
        let found = flows.lines().any(|l| {
            let f: Vec<&str> = l.trim().split(',').collect();
            f.len() == 13
                && ends.iter().any(|h| h == f[1])
                && ends.iter().any(|h| h == f[2])
                && f[1] != f[2]
                && f[5] == "1"
                && f[8] == "X"
        });
        assert!(
            found,
            "gateway {x} logged no encrypted flow between {} and {}:\n{flows}\n{}",
            ends[0],
            ends[1],
            self.gateways[x].logs()
        );
    }

    fn assert_running(&mut self) {
        for gw in &mut self.gateways {
            gw.assert_running();
        }
    }
}

/// Runs the tool as an operator would; returns the gateway names and fingerprints of
/// its summary, in inventory order.
fn provision_fleet(logs: &LogDir, inventory: &str) -> (Vec<String>, Vec<String>) {
    let inv = logs.path().join("fleet.inv");
    std::fs::write(&inv, inventory).unwrap();
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
    // Rows: name role endpoint fingerprint disk prefixes.
    let rows: Vec<(String, String)> = stdout
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("name ") && !l.starts_with("wrote "))
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() == 6).then(|| (w[0].to_string(), w[3].to_string()))
        })
        .collect();
    assert_eq!(rows.len(), 3, "three summary rows:\n{stdout}");
    rows.into_iter().unzip()
}

/// The IPv4 packets of a fabric capture, without the fabric namespace's own (IGMP).
/// Asserts each is DTLS on the configured port between two gateways' wans.
fn dtls_only(file: &std::path::Path) -> Vec<capture::Packet> {
    let packets: Vec<_> = capture::packets(file, DTLS_PORT)
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
    packets
}

/// Whether DTLS application data went between gateways `x` and `y` directly.
fn app_data_between(packets: &[capture::Packet], x: usize, y: usize) -> bool {
    packets.iter().any(|p| {
        let pair = [p.src.as_str(), p.dst.as_str()];
        (pair == [wan(x).as_str(), wan(y).as_str()] || pair == [wan(y).as_str(), wan(x).as_str()])
            && p.dtls.split(',').any(|t| t == "23")
    })
}

#[test]
#[ignore = "boots three gateways under QEMU as root: run by `make test-fleet`"]
fn a_provisioned_mesh_of_three_passes_traffic_between_every_pair() {
    let mut fleet = Fleet::boot("fm", MESH);
    let cap = fleet.capture();
    // Every pair, opened from each side in turn.
    for x in 0..3 {
        for y in (0..3).filter(|&y| y != x) {
            fleet.reach(x, y);
        }
    }
    for x in 0..3 {
        for y in (0..3).filter(|&y| y != x) {
            fleet.assert_encrypted_flow(x, y);
        }
    }
    // On the fabric: only DTLS on the configured port, application data directly
    // between each pair of gateways; no host address in the clear.
    let packets = dtls_only(&cap.stop());
    for (x, y) in [(0, 1), (0, 2), (1, 2)] {
        assert!(
            app_data_between(&packets, x, y),
            "no DTLS application data between {} and {}",
            wan(x),
            wan(y)
        );
    }
    fleet.assert_running();
}

#[test]
#[ignore = "boots three gateways under QEMU as root: run by `make test-fleet`"]
fn a_provisioned_hub_relays_between_its_spokes() {
    let mut fleet = Fleet::boot("fh", HUB_AND_SPOKES);
    let cap = fleet.capture();
    for (x, y) in [(1, 0), (0, 2), (1, 2), (2, 1)] {
        fleet.reach(x, y);
    }
    fleet.assert_encrypted_flow(1, 2);
    fleet.assert_encrypted_flow(2, 1);
    // Spokes pinned only the hub: all their records go through it.
    let packets = dtls_only(&cap.stop());
    assert!(app_data_between(&packets, 0, 1) && app_data_between(&packets, 0, 2));
    assert!(
        !packets.iter().any(|p| {
            let pair = [p.src.as_str(), p.dst.as_str()];
            pair == [wan(1).as_str(), wan(2).as_str()] || pair == [wan(2).as_str(), wan(1).as_str()]
        }),
        "the spokes talked to each other directly"
    );
    fleet.assert_running();
}
