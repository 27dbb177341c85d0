//! The igb SR-IOV VF driver under QEMU 10 (`-device igb` on q35): the appliance's
//! test rig (`igb.rig`, which the launcher's `--nic …,model=igb` sets) enables a VF on
//! the emulated 82576 PF, answers its mailbox, and the VF becomes a NIC. Against real
//! Linux hosts in network namespaces, as the virtio-net tests (tests/tests/nic.rs):
//! ARP and pings, exact counters, malformed frames counted by reason, the VF as wan
//! and as lan next to a virtio-net NIC; then two gateways whose wan NICs are VFs
//! carry a transfer intact with nothing but DTLS on the fabric.
//!
//! Needs root (namespaces, TAP devices): run by `make test-vf`. Everything a test
//! creates is removed at its end, passed or failed.
#![cfg(feature = "nic")]

#[allow(dead_code)]
#[path = "nic/console.rs"]
mod console;
#[allow(dead_code)]
#[path = "nic/netns.rs"]
mod netns;
#[allow(dead_code)]
#[path = "nic/vm.rs"]
mod vm;

#[allow(dead_code)]
#[path = "../src/e2e/mod.rs"]
mod e2e;

use console::{cmd, counters, set};
use e2e::capture::{self, Capture};
use e2e::topology::{Fabric, Topology, A, B, DTLS_PORT, FABRIC_ADDR, MARKER};
use netns::{require_root, run, Netns, Tap};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vm::Vm;
use vnetcrypt_tests::{kernel, repo_root, LogDir, PROMPT};

const VF_MAC: &str = "52:54:00:78:01:02";
const VIRTIO_MAC: &str = "52:54:00:78:02:02";
const VF_HOST: &str = "10.78.1.1";
const VF_ADDR: &str = "10.78.1.2";
const VIRTIO_HOST: &str = "10.78.2.1";
const VIRTIO_ADDR: &str = "10.78.2.2";

fn delta(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>, key: &str) -> u64 {
    b[key] - a[key]
}

fn drops(c: &BTreeMap<String, u64>) -> u64 {
    c.iter()
        .filter(|(k, _)| k.starts_with("drops."))
        .map(|(_, v)| v)
        .sum()
}

fn ping(ns: &Netns, addr: &str, count: u32, extra: &[&str]) -> u32 {
    let count = count.to_string();
    let mut args = vec!["ping", "-n", "-q", "-c", &count, "-W", "2", "-i", "0.1"];
    args.extend_from_slice(extra);
    args.push(addr);
    let out = ns.output(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            let (_, rest) = l.split_once("transmitted, ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no ping summary:\n{text}"))
}

fn send_frames(ns: &Netns, iface: &str, mac: &str, addr: &str, plan: &[(&str, u32)]) {
    let script = repo_root().join("tests/tests/nic/frames.py");
    let specs: Vec<String> = plan.iter().map(|(k, n)| format!("{k}={n}")).collect();
    let mut args = vec!["python3", script.to_str().expect("UTF-8"), iface, mac, addr];
    args.extend(specs.iter().map(String::as_str));
    let out = ns.exec(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    for (kind, n) in plan {
        assert!(
            text.contains(&format!("sent {kind} {n}")),
            "frames.py:\n{text}"
        );
    }
}

/// One q35 appliance with an igb VF and a virtio-net NIC on TAP devices in two
/// namespaces; `vf_first`: the VF is wan (else lan). Drops in field order.
struct Rig {
    con: Vm,
    vf_tap: Tap,
    _virtio_tap: Tap,
    vf_ns: Netns,
    virtio_ns: Netns,
    _logs: LogDir,
}

impl Rig {
    fn boot(test: &str, tag: &str, vf_first: bool) -> Self {
        require_root();
        let id = std::process::id() % 100_000;
        let vf_ns = Netns::new(&format!("vnv-{tag}f-{id}"));
        let virtio_ns = Netns::new(&format!("vnv-{tag}v-{id}"));
        let mut vf_tap = Tap::new(&format!("vv{tag}f{id}"));
        let mut virtio_tap = Tap::new(&format!("vv{tag}v{id}"));
        let logs = LogDir::new(&format!("nic-vf-{test}"));
        let vf_nic = format!("tap={},mac={VF_MAC},model=igb", vf_tap.name);
        let virtio_nic = format!("tap={},mac={VIRTIO_MAC}", virtio_tap.name);
        let (first, second) = if vf_first {
            (&vf_nic, &virtio_nic)
        } else {
            (&virtio_nic, &vf_nic)
        };
        let elf = std::env::var_os("VNETCRYPT_NIC_KERNEL").map_or_else(kernel, Into::into);
        let launcher = repo_root().join("qemu/vnetcrypt-vm");
        let (elf, dir) = (elf.to_string_lossy(), logs.path().to_string_lossy());
        #[rustfmt::skip]
        let mut con = Vm::boot(&launcher, &[
            "--machine", "q35", "--memory", "64M", "--kernel", &elf, "--log-dir", &dir,
            "--timeout", "600", "--nic", first, "--nic", second,
        ]);
        con.wait_for(PROMPT, Duration::from_secs(60));
        vf_tap.move_to(&vf_ns, &format!("{VF_HOST}/24"), 9000);
        virtio_tap.move_to(&virtio_ns, &format!("{VIRTIO_HOST}/24"), 9000);
        Self {
            con,
            vf_tap,
            _virtio_tap: virtio_tap,
            vf_ns,
            virtio_ns,
            _logs: logs,
        }
    }

    fn finish(mut self) {
        assert_eq!(self.con.poweroff(), 0, "no clean power-off");
        let (tap, ns) = (self.vf_tap.name.clone(), self.vf_ns.name.clone());
        drop(self);
        let links = String::from_utf8_lossy(&run(&["ip", "-o", "link"]).stdout).into_owned();
        assert!(!links.contains(&tap), "TAP left behind:\n{links}");
        let spaces = String::from_utf8_lossy(&run(&["ip", "netns", "list"]).stdout).into_owned();
        assert!(!spaces.contains(&ns), "namespace left behind:\n{spaces}");
    }
}

/// Malformed frames the VF must count exactly as virtio-net does. Runts are not
/// among them: the 82576 pads frames shorter than 60 bytes (QEMU does too), so they
/// arrive as 60-byte frames and are counted by what the padding makes of them.
const VF_BAD: [(&str, u32, &str); 10] = [
    ("oversized", 6, "drops.oversized"),
    ("jumbo", 2, "drops.oversized"),
    ("bad-ihl", 4, "drops.ip-header"),
    ("bad-totlen", 3, "drops.ip-header"),
    ("bad-version", 2, "drops.ip-header"),
    ("bad-csum", 7, "drops.ip-checksum"),
    ("ethertype", 8, "drops.ethertype"),
    ("ipv6", 3, "drops.ipv6"),
    ("frag-offset", 5, "drops.frag-offset"),
    ("arp-other", 40, "drops.arp-other"),
];
const RUNTS: [(&str, u32); 3] = [("runt-eth", 5), ("runt-ip", 4), ("runt-arp", 3)];

#[test]
#[ignore = "needs root, namespaces and TAP devices: run by `make test-vf`"]
fn vf_wan_and_virtio_lan_on_q35() {
    let mut rig = Rig::boot("wan", "w", true);
    let Rig {
        con,
        vf_tap,
        vf_ns,
        virtio_ns,
        ..
    } = &mut rig;
    set(con, &format!("interface wan address {VF_ADDR}/24"));
    set(con, &format!("interface lan address {VIRTIO_ADDR}/24"));
    let view = cmd(con, "interfaces");
    assert!(
        view.contains(&format!("wan: mac {VF_MAC}, driver up")),
        "{view}"
    );
    assert!(
        view.contains(", igbvf\r\n") || view.contains(", igbvf\n"),
        "{view}"
    );
    assert!(view.contains(&format!("lan: mac {VIRTIO_MAC}")), "{view}");
    assert!(view.contains(", virtio-net"), "{view}");

    // ARP and echo through the VF (the link comes up after the PHY's autonegotiation,
    // which QEMU finishes half a second after start) and through virtio-net.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ping(vf_ns, VF_ADDR, 1, &[]) == 0 {
        assert!(
            Instant::now() < deadline,
            "no echo reply through the VF\n{}",
            cmd(con, "interfaces")
        );
    }
    assert_eq!(ping(vf_ns, VF_ADDR, 5, &[]), 5, "wan (VF) ping");
    assert_eq!(ping(virtio_ns, VIRTIO_ADDR, 5, &[]), 5, "lan (virtio) ping");

    // Counters follow the traffic exactly: 10 echo requests in, 10 replies out (and
    // at most one ARP exchange, if the host re-checks its neighbour entry).
    let before = counters(&cmd(con, "interfaces"), "wan");
    assert_eq!(ping(vf_ns, VF_ADDR, 10, &[]), 10);
    let after = counters(&cmd(con, "interfaces"), "wan");
    for dir in ["rx", "tx"] {
        let packets = delta(&before, &after, &format!("{dir}.packets"));
        assert!((10..=11).contains(&packets), "{dir}: {before:?} {after:?}");
        let bytes = delta(&before, &after, &format!("{dir}.bytes"));
        assert_eq!(
            bytes,
            10 * 98 + (packets - 10) * 42,
            "{dir}: {before:?} {after:?}"
        );
    }

    // Malformed frames through the VF: each dropped and counted under its reason.
    let wan0 = counters(&cmd(con, "interfaces"), "wan");
    let plan: Vec<(&str, u32)> = VF_BAD.iter().map(|(k, n, _)| (*k, *n)).collect();
    send_frames(vf_ns, &vf_tap.name, VF_MAC, VF_ADDR, &plan);
    send_frames(vf_ns, &vf_tap.name, VF_MAC, VF_ADDR, &RUNTS);
    assert!(cmd(con, "version").contains("vnetcrypt "));
    let view = cmd(con, "interfaces");
    let wan1 = counters(&view, "wan");
    let mut want: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, n, key) in VF_BAD {
        *want.entry(key).or_default() += u64::from(n);
    }
    let runts: u64 = RUNTS.iter().map(|(_, n)| u64::from(*n)).sum();
    for (key, n) in &want {
        let got = delta(&wan0, &wan1, key);
        // Padded runts may land in ip-header or arp-other; nothing else may.
        let slack = if ["drops.ip-header", "drops.arp-other"].contains(key) {
            runts
        } else {
            0
        };
        assert!(
            (*n..=n + slack).contains(&got),
            "wan {key}: {got}, want {n}:\n{view}"
        );
    }
    let sent: u64 = want.values().sum::<u64>() + runts;
    assert_eq!(
        drops(&wan1) - drops(&wan0),
        sent,
        "every bad frame dropped:\n{view}"
    );
    let rx = delta(&wan0, &wan1, "rx.packets");
    assert!((sent..sent + 4).contains(&rx), "rx {rx} of {sent}:\n{view}");
    assert_eq!(delta(&wan0, &wan1, "rx.errors"), 0, "{view}");

    // Jumbo frames up to one 8 KiB receive buffer pass through the VF.
    set(con, "interface wan mtu 8000");
    assert_eq!(
        ping(vf_ns, VF_ADDR, 3, &["-s", "7000"]),
        3,
        "7 KB pings at MTU 8000"
    );
    assert_eq!(
        ping(vf_ns, VF_ADDR, 2, &["-s", "1400"]),
        2,
        "the VF still answers"
    );
    // Longer frames span two 8 KiB buffers: both pieces are dropped (rx errors), and
    // the ring goes on with the next frame.
    set(con, "interface wan mtu 9000");
    let before = counters(&cmd(con, "interfaces"), "wan");
    assert_eq!(ping(vf_ns, VF_ADDR, 2, &["-s", "8500"]), 0, "8.5 KB pings");
    let after = counters(&cmd(con, "interfaces"), "wan");
    assert_eq!(
        delta(&before, &after, "rx.errors"),
        4,
        "{before:?} {after:?}"
    );
    assert_eq!(
        ping(vf_ns, VF_ADDR, 2, &["-s", "1400"]),
        2,
        "the VF answers after them"
    );
    rig.finish();
}

#[test]
#[ignore = "needs root, namespaces and TAP devices: run by `make test-vf`"]
fn virtio_wan_and_vf_lan_on_q35() {
    let mut rig = Rig::boot("lan", "l", false);
    let Rig {
        con,
        vf_ns,
        virtio_ns,
        ..
    } = &mut rig;
    set(con, &format!("interface lan address {VF_ADDR}/24"));
    set(con, &format!("interface wan address {VIRTIO_ADDR}/24"));
    let view = cmd(con, "interfaces");
    assert!(view.contains(&format!("wan: mac {VIRTIO_MAC}")), "{view}");
    assert!(view.contains(&format!("lan: mac {VF_MAC}")), "{view}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while ping(vf_ns, VF_ADDR, 1, &[]) == 0 {
        assert!(Instant::now() < deadline, "no echo reply through the VF");
    }
    assert_eq!(ping(vf_ns, VF_ADDR, 5, &[]), 5, "lan (VF) ping");
    assert_eq!(ping(virtio_ns, VIRTIO_ADDR, 5, &[]), 5, "wan (virtio) ping");
    // `interface roles` swaps them: the VF becomes wan.
    set(con, "interface roles lan-wan");
    let view = cmd(con, "interfaces");
    assert!(view.contains(&format!("wan: mac {VF_MAC}")), "{view}");
    rig.finish();
}

/// The VF's MSI-X vector wakes the halted CPU: with the VF as the only NIC, the idle
/// report (defmt) counts device wake-ups while pings arrive.
#[test]
#[ignore = "needs root, namespaces and TAP devices: run by `make test-vf`"]
fn vf_interrupts_wake_the_cpu() {
    require_root();
    let id = std::process::id() % 100_000;
    let ns = Netns::new(&format!("vnv-i-{id}"));
    let mut tap = Tap::new(&format!("vvi{id}"));
    let logs = LogDir::new("nic-vf-irq");
    let nic = format!("tap={},mac={VF_MAC},model=igb", tap.name);
    let elf = std::env::var_os("VNETCRYPT_NIC_KERNEL").map_or_else(kernel, Into::into);
    let launcher = repo_root().join("qemu/vnetcrypt-vm");
    let (elf, dir) = (elf.to_string_lossy(), logs.path().to_string_lossy());
    #[rustfmt::skip]
    let mut con = Vm::boot(&launcher, &[
        "--machine", "q35", "--memory", "64M", "--kernel", &elf, "--log-dir", &dir,
        "--timeout", "600", "--nic", &nic,
    ]);
    con.wait_for(PROMPT, Duration::from_secs(60));
    tap.move_to(&ns, &format!("{VF_HOST}/24"), 1500);
    set(&mut con, &format!("interface wan address {VF_ADDR}/24"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while ping(&ns, VF_ADDR, 1, &[]) == 0 {
        assert!(Instant::now() < deadline, "no echo reply through the VF");
    }
    // Spaced out, so that the appliance halts between them.
    assert_eq!(ping(&ns, VF_ADDR, 20, &["-i", "0.15"]), 20);
    assert_eq!(con.poweroff(), 0);
    let log = logs.defmt_log();
    let woke: u64 = log
        .lines()
        .filter_map(|l| {
            l.split_once("device=")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or_else(|| panic!("no idle report in the defmt log:\n{log}"));
    assert!(
        woke >= 20,
        "only {woke} device wake-ups for 21 echo requests:\n{log}"
    );
}

/// Unused addresses whose ARP requests prove a capture is running.
const PROBE_FABRIC: &str = "192.0.2.253";
/// 4 MiB, as the virtio-net end-to-end test sends.
const TRANSFER: usize = 4 << 20;

#[test]
#[ignore = "boots two gateways: run by `make test-vf`"]
fn tunnel_with_both_wans_on_igb_vfs() {
    let mut topo =
        Topology::build_with_wan("tunnel-vf", "tv", ["q35", "q35"], Fabric::Bridge, "igb");
    for gw in [&mut topo.a, &mut topo.b] {
        let view = gw.cmd("interfaces");
        assert!(
            view.contains("wan: mac") && view.contains(", igbvf"),
            "{view}"
        );
    }
    let cap = Capture::start(
        &topo.fabric,
        "fabric0",
        topo.logs.path().join("fabric.pcap"),
        PROBE_FABRIC,
    );
    let first = topo.ping_until_reply(Duration::from_secs(60));
    assert!(
        first.is_some(),
        "no reply through the tunnel\n{}",
        topo.logs()
    );
    let took = topo.transfer(TRANSFER, 5003, Duration::from_secs(300));
    eprintln!(
        "e2e over igb VFs: first reply after {first:?}; {TRANSFER} bytes in {took:?} ({:.2} Mbit/s)",
        TRANSFER as f64 * 8.0 / took.as_secs_f64() / 1e6
    );
    let file = cap.stop();
    let packets = capture::packets(&file, DTLS_PORT);
    let gateways = [A.wan, B.wan];
    let port = DTLS_PORT.to_string();
    let bad: Vec<_> = packets
        .iter()
        .filter(|p| p.src != FABRIC_ADDR)
        .filter(|p| {
            !(gateways.contains(&p.src.as_str())
                && gateways.contains(&p.dst.as_str())
                && p.proto == "17"
                && p.sport == port
                && p.dport == port
                && !p.dtls.is_empty())
        })
        .collect();
    assert!(
        bad.is_empty(),
        "not DTLS on the fabric: {:?}\n{}",
        &bad[..bad.len().min(5)],
        topo.logs()
    );
    assert!(
        !capture::contains(&file, MARKER),
        "payload in the clear on the fabric"
    );
    let records = packets
        .iter()
        .filter(|p| p.dtls.split(',').any(|t| t == "23"))
        .count();
    assert!(
        records >= TRANSFER / 1395,
        "only {records} DTLS data records"
    );
}

/// `ping -f -c N` from `ns`; prints and returns round trips per second.
fn flood(ns: &Netns, addr: &str, what: &str) -> f64 {
    let n = 5000;
    let start = Instant::now();
    let out = ns.output(&["ping", "-n", "-q", "-f", "-c", &n.to_string(), addr]);
    let rate = f64::from(n) / start.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let summary = text
        .lines()
        .find(|l| l.contains("transmitted"))
        .unwrap_or("");
    println!("bench: ping flood {n} through the {what}: {summary}; {rate:.0} round trips/s");
    rate
}

#[test]
#[ignore = "benchmark: run by `make bench-vf`"]
fn bench_vf_paths() {
    // Frames per second: a ping flood through the VF (wan) and through virtio-net
    // (lan) of one appliance, each round trip two frames on that NIC.
    let mut rig = Rig::boot("bench", "b", true);
    set(&mut rig.con, &format!("interface wan address {VF_ADDR}/24"));
    set(
        &mut rig.con,
        &format!("interface lan address {VIRTIO_ADDR}/24"),
    );
    assert_eq!(ping(&rig.vf_ns, VF_ADDR, 3, &[]), 3);
    assert_eq!(ping(&rig.virtio_ns, VIRTIO_ADDR, 3, &[]), 3);
    for _ in 0..2 {
        flood(&rig.vf_ns, VF_ADDR, "igb VF (q35)");
        flood(&rig.virtio_ns, VIRTIO_ADDR, "virtio-net (q35)");
    }
    rig.finish();

    // The two-gateway transfer with virtio-net wans and with VF wans, interleaved.
    for round in 1..=2 {
        for model in ["virtio", "igb"] {
            let topo = Topology::build_with_wan(
                &format!("bench-vf-{model}-{round}"),
                if model == "igb" { "bi" } else { "bv" },
                ["q35", "q35"],
                Fabric::Bridge,
                model,
            );
            assert!(topo.ping_until_reply(Duration::from_secs(60)).is_some());
            let took = topo.transfer(TRANSFER, 5004, Duration::from_secs(300));
            println!(
                "bench: round {round}: {TRANSFER} bytes hostA -> hostB through two q35 gateways, \
                 wan {}: {took:.2?} ({:.1} Mbit/s)",
                if model == "igb" {
                    "igb VF"
                } else {
                    "virtio-net"
                },
                TRANSFER as f64 * 8.0 / took.as_secs_f64() / 1e6
            );
        }
    }
}
