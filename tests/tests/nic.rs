//! The NICs against real Linux hosts: the appliance's wan and lan are TAP devices moved
//! into two network namespaces; from there the tests ping the appliance, send it
//! malformed frames and an ARP flood (tests/tests/nic/frames.py, raw sockets), check
//! that every one is counted on the console under the right reason while pings and
//! the console keep working, and get the wan address from dnsmasq. On microvm
//! (virtio-mmio) and q35 (virtio-pci).
//!
//! Needs root (namespaces, TAP devices): run by `make test-nic`. Every namespace, TAP
//! device and process a test creates is removed when the test ends, passed or failed.

#[path = "nic/console.rs"]
mod console;
#[path = "nic/netns.rs"]
mod netns;
#[path = "nic/vm.rs"]
mod vm;

use console::{cmd, counters, set};
use netns::{require_root, run, Netns, Tap};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vm::Vm;
use vnetcrypt_tests::{kernel, repo_root, LogDir, PROMPT};

const WAN_MAC: &str = "52:54:00:77:01:02";
const LAN_MAC: &str = "52:54:00:77:02:02";
const WAN_HOST: &str = "10.77.1.1";
const WAN_ADDR: &str = "10.77.1.2";
const LAN_HOST: &str = "10.77.2.1";
const LAN_ADDR: &str = "10.77.2.2";

fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, key: &str) -> u64 {
    after[key] - before[key]
}

/// `ping` from a namespace; returns how many replies came back.
fn ping(ns: &Netns, addr: &str, count: u32, interval: &str) -> u32 {
    ping_with(ns, addr, count, &["-i", interval])
}

/// `ping` with more options (`-s SIZE`, `-i INTERVAL`).
fn ping_with(ns: &Netns, addr: &str, count: u32, extra: &[&str]) -> u32 {
    let count = count.to_string();
    let mut args = vec!["ping", "-n", "-q", "-c", &count, "-W", "2"];
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

/// Sends crafted frames from `ns` through `iface` to the appliance.
fn send_frames(ns: &Netns, iface: &str, mac: &str, addr: &str, plan: &[(&str, u32)]) {
    let script = repo_root().join("tests/tests/nic/frames.py");
    let script = script.to_str().expect("UTF-8 path");
    let specs: Vec<String> = plan.iter().map(|(k, n)| format!("{k}={n}")).collect();
    let mut args = vec!["python3", script, iface, mac, addr];
    args.extend(specs.iter().map(String::as_str));
    let out = ns.exec(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    for (kind, n) in plan {
        assert!(
            text.contains(&format!("sent {kind} {n}")),
            "frames.py did not send {n} {kind}:\n{text}"
        );
    }
}

/// The bad frames the wan receives, with the counter each must land in.
const WAN_BAD: [(&str, u32, &str); 13] = [
    ("runt-eth", 5, "drops.runt"),
    ("runt-ip", 4, "drops.runt"),
    ("runt-arp", 3, "drops.runt"),
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

/// Expected drop-counter increments of a plan.
fn expected<'a>(table: &[(&str, u32, &'a str)]) -> BTreeMap<&'a str, u64> {
    let mut m = BTreeMap::new();
    for (_, n, key) in table {
        *m.entry(*key).or_insert(0) += u64::from(*n);
    }
    m
}

/// One appliance with its wan and lan TAP devices in two namespaces. Fields drop in
/// order: the appliance first, then the devices, then the namespaces.
struct Rig {
    con: Vm,
    wan_tap: Tap,
    lan_tap: Tap,
    wan_ns: Netns,
    lan_ns: Netns,
    logs: LogDir,
}

impl Rig {
    /// Boots `machine` with both NICs on TAP devices (`test` names the run) and
    /// `append` on the kernel command line, and moves the devices to the namespaces.
    fn boot(machine: &str, test: &str, append: &str) -> Self {
        require_root();
        let id = std::process::id() % 100_000;
        let tag = &test[..1];
        let wan_ns = Netns::new(&format!("vnc-{tag}w-{id}"));
        let lan_ns = Netns::new(&format!("vnc-{tag}l-{id}"));
        let mut wan_tap = Tap::new(&format!("vn{tag}w{id}"));
        let mut lan_tap = Tap::new(&format!("vn{tag}l{id}"));
        let logs = LogDir::new(&format!("nic-{test}"));
        let wan_nic = format!("tap={},mac={WAN_MAC}", wan_tap.name);
        let lan_nic = format!("tap={},mac={LAN_MAC}", lan_tap.name);
        // VNETCRYPT_NIC_KERNEL: another kernel ELF (a developer's own build).
        let elf = std::env::var_os("VNETCRYPT_NIC_KERNEL").map_or_else(kernel, Into::into);
        // VNETCRYPT_NIC_APPEND: more kernel command line, e.g. `net.trace`.
        let append = format!(
            "{append} {}",
            std::env::var("VNETCRYPT_NIC_APPEND").unwrap_or_default()
        );
        let launcher = repo_root().join("qemu/vnetcrypt-vm");
        let (elf, logs_dir) = (elf.to_string_lossy(), logs.path().to_string_lossy());
        #[rustfmt::skip]
        let mut con = Vm::boot(&launcher, &[
            "--machine", machine, "--memory", "64M", "--kernel", &elf, "--log-dir", &logs_dir,
            "--timeout", "600", "--nic", &wan_nic, "--nic", &lan_nic, "--append", append.trim(),
        ]);
        con.wait_for(PROMPT, Duration::from_secs(60));
        // QEMU has opened both TAP devices: hand them to the namespaces. Their MTU is
        // raised so that oversized frames can be sent at all.
        wan_tap.move_to(&wan_ns, &format!("{WAN_HOST}/24"), 9000);
        lan_tap.move_to(&lan_ns, &format!("{LAN_HOST}/24"), 9000);
        Self {
            con,
            wan_tap,
            lan_tap,
            wan_ns,
            lan_ns,
            logs,
        }
    }

    /// Powers off cleanly, removes everything and checks that nothing is left.
    fn finish(mut self) {
        assert_eq!(
            self.con.poweroff(),
            0,
            "the appliance did not power off cleanly"
        );
        let (wan_tap, wan_ns) = (self.wan_tap.name.clone(), self.wan_ns.name.clone());
        drop(self);
        let links = String::from_utf8_lossy(&run(&["ip", "-o", "link"]).stdout).into_owned();
        assert!(!links.contains(&wan_tap), "TAP left behind:\n{links}");
        let spaces = String::from_utf8_lossy(&run(&["ip", "netns", "list"]).stdout).into_owned();
        assert!(
            !spaces.contains(&wan_ns),
            "namespace left behind:\n{spaces}"
        );
    }
}

fn nic_scenario(machine: &str) {
    let mut rig = Rig::boot(machine, machine, "");
    let Rig {
        con,
        wan_tap,
        lan_tap,
        wan_ns,
        lan_ns,
        logs,
    } = &mut rig;

    // Roles and static addressing.
    set(con, &format!("interface wan address {WAN_ADDR}/24"));
    set(con, &format!("interface lan address {LAN_ADDR}/24"));
    set(con, &format!("interface wan gateway {WAN_HOST}"));
    let view = cmd(con, "interfaces");
    assert!(view.contains(&format!("wan: mac {WAN_MAC}")), "{view}");
    assert!(view.contains(&format!("lan: mac {LAN_MAC}")), "{view}");
    assert!(
        view.contains(&format!("ipv4 {WAN_ADDR}/24, gateway {WAN_HOST}, dhcp off")),
        "{view}"
    );
    assert!(
        view.contains(&format!("ipv4 {LAN_ADDR}/24, gateway none, dhcp off")),
        "{view}"
    );
    // A bad address is refused with an error, and the running address stays.
    let refused = cmd(con, "interface lan address 224.0.0.9/24");
    assert!(refused.contains("error"), "{refused}");

    // ARP and ICMP echo on both interfaces.
    assert_eq!(ping(wan_ns, WAN_ADDR, 5, "0.2"), 5, "wan ping");
    assert_eq!(ping(lan_ns, LAN_ADDR, 5, "0.2"), 5, "lan ping");
    // Counters follow the traffic exactly on the quiet lan: 5 echo requests (plus
    // the ARP exchange, once) in, as many replies out.
    // (The host may re-check its neighbour entry: one 42-byte ARP each way at most.)
    let before = counters(&cmd(con, "interfaces"), "lan");
    assert_eq!(ping(lan_ns, LAN_ADDR, 10, "0.1"), 10, "lan ping");
    let after = counters(&cmd(con, "interfaces"), "lan");
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

    // Bad frames: each dropped and counted under its reason.
    let view = cmd(con, "interfaces");
    let (wan0, lan0) = (counters(&view, "wan"), counters(&view, "lan"));
    let plan: Vec<(&str, u32)> = WAN_BAD.iter().map(|(k, n, _)| (*k, *n)).collect();
    send_frames(wan_ns, &wan_tap.name, WAN_MAC, WAN_ADDR, &plan);
    let lan_bad = [
        ("runt-eth", 3, "drops.runt"),
        ("bad-csum", 4, "drops.ip-checksum"),
        ("ethertype", 2, "drops.ethertype"),
    ];
    let lan_plan: Vec<(&str, u32)> = lan_bad.iter().map(|(k, n, _)| (*k, *n)).collect();
    send_frames(lan_ns, &lan_tap.name, LAN_MAC, LAN_ADDR, &lan_plan);
    // The console answers right away.
    assert!(cmd(con, "version").contains("vnetcrypt "));
    let view = cmd(con, "interfaces");
    let (wan1, lan1) = (counters(&view, "wan"), counters(&view, "lan"));
    for (key, n) in expected(&WAN_BAD) {
        assert_eq!(delta(&wan0, &wan1, key), n, "wan {key}:\n{view}");
    }
    for (key, n) in expected(&lan_bad) {
        assert_eq!(delta(&lan0, &lan1, key), n, "lan {key}:\n{view}");
    }
    let wan_sent: u64 = WAN_BAD.iter().map(|(_, n, _)| u64::from(*n)).sum();
    let lan_sent: u64 = lan_bad.iter().map(|(_, n, _)| u64::from(*n)).sum();
    // Nothing else reaches the quiet lan; the wan may also see the host's own ARP.
    assert_eq!(delta(&lan0, &lan1, "rx.packets"), lan_sent, "{view}");
    let wan_rx = delta(&wan0, &wan1, "rx.packets");
    assert!(
        (wan_sent..wan_sent + 4).contains(&wan_rx),
        "wan rx {wan_rx} of {wan_sent} sent:\n{view}"
    );
    assert_eq!(delta(&wan0, &wan1, "rx.errors"), 0, "{view}");
    // Bad frames get no answer (only the host's own ARP, if any, does).
    let answers = delta(&wan0, &wan1, "tx.packets");
    assert!(
        answers <= wan_rx - wan_sent,
        "answers to bad frames:\n{view}"
    );

    // MTU: jumbo echo requests pass at MTU 9000 and are dropped as oversized at 1500.
    set(con, "interface lan mtu 9000");
    let mtu = cmd(con, "interfaces");
    assert!(
        mtu.contains("lan: mac") && mtu.contains("mtu 9000"),
        "{mtu}"
    );
    let big = ["-s", "8000"];
    assert_eq!(
        ping_with(lan_ns, LAN_ADDR, 3, &big),
        3,
        "jumbo ping at MTU 9000"
    );
    set(con, "interface lan mtu 1500");
    let lan2 = counters(&cmd(con, "interfaces"), "lan");
    assert_eq!(
        ping_with(lan_ns, LAN_ADDR, 2, &big),
        0,
        "jumbo ping at MTU 1500"
    );
    let lan3 = counters(&cmd(con, "interfaces"), "lan");
    assert_eq!(
        delta(&lan2, &lan3, "drops.oversized"),
        2,
        "jumbo pings not counted"
    );

    // An ARP flood for the wan address, with a ping running through it.
    let flood_pinger = wan_ns.spawn(&[
        "ping", "-n", "-q", "-c", "40", "-i", "0.05", "-W", "2", WAN_ADDR,
    ]);
    let flood = 5000;
    send_frames(
        wan_ns,
        &wan_tap.name,
        WAN_MAC,
        WAN_ADDR,
        &[("arp-flood", flood)],
    );
    let pinged = flood_pinger.wait_output();
    let view = cmd(con, "interfaces");
    let wan2 = counters(&view, "wan");
    let limited = delta(&wan1, &wan2, "drops.arp-flood");
    assert!(
        limited > 0 && limited <= u64::from(flood),
        "{limited} of {flood} ARP requests rate-limited:\n{view}"
    );
    assert!(
        pinged >= 30,
        "only {pinged}/40 pings answered during the ARP flood"
    );
    // Every frame the wan saw during the flood was either answered (an ARP or echo
    // reply) or dropped and counted: rx = tx + drops, exactly.
    let drops: u64 = wan2
        .keys()
        .filter(|k| k.starts_with("drops."))
        .map(|k| delta(&wan1, &wan2, k))
        .sum();
    let (rx, tx) = (
        delta(&wan1, &wan2, "rx.packets"),
        delta(&wan1, &wan2, "tx.packets"),
    );
    assert_eq!(
        rx,
        tx + drops,
        "rx {rx} != tx {tx} + drops {drops}:\n{view}"
    );
    assert!(
        rx > u64::from(pinged),
        "the flood never reached the wan:\n{view}"
    );
    // After the flood: pings and the console work as before.
    assert_eq!(
        ping(wan_ns, WAN_ADDR, 5, "0.2"),
        5,
        "wan ping after the flood"
    );
    assert_eq!(
        ping(lan_ns, LAN_ADDR, 3, "0.2"),
        3,
        "lan ping after the flood"
    );

    // DHCPv4 on wan from dnsmasq in the wan namespace.
    let leases = logs.path().join("dnsmasq.leases");
    let pid = logs.path().join("dnsmasq.pid");
    let dnsmasq = wan_ns.spawn(&[
        "dnsmasq",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        "--user=root",
        "--bind-interfaces",
        &format!("--interface={}", wan_tap.name),
        "--dhcp-range=10.77.1.100,10.77.1.150,255.255.255.0,10m",
        &format!("--dhcp-option=option:router,{WAN_HOST}"),
        &format!("--dhcp-leasefile={}", leases.display()),
        &format!("--pid-file={}", pid.display()),
    ]);
    set(con, "interface wan dhcp on");
    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        let view = cmd(con, "interfaces");
        if view.contains("dhcp bound") {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "no DHCP lease within 60 s:\n{view}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let wan_line = view
        .lines()
        .skip_while(|l| !l.starts_with("wan:"))
        .nth(1)
        .expect("wan address line");
    let leased = wan_line
        .split_whitespace()
        .nth(1)
        .and_then(|a| a.strip_suffix("/24,"))
        .unwrap_or_else(|| panic!("no /24 lease in {wan_line:?}"))
        .to_string();
    let last: u8 = leased
        .rsplit('.')
        .next()
        .and_then(|o| o.parse().ok())
        .expect("address");
    assert!(
        leased.starts_with("10.77.1.") && (100..=150).contains(&last),
        "lease {leased} outside the dnsmasq range"
    );
    assert!(
        wan_line.contains(&format!("gateway {WAN_HOST}"))
            && wan_line.contains(&format!("server {WAN_HOST}")),
        "{wan_line}"
    );
    let lease_file = std::fs::read_to_string(&leases).unwrap_or_default();
    assert!(
        lease_file.contains(WAN_MAC),
        "dnsmasq has no lease for {WAN_MAC}: {lease_file}"
    );
    assert_eq!(
        ping(wan_ns, &leased, 3, "0.2"),
        3,
        "ping the leased address"
    );
    // The old static address is gone while DHCP is on.
    assert_eq!(
        ping(wan_ns, WAN_ADDR, 1, "0.2"),
        0,
        "the static address still answers"
    );
    // ... and back when DHCP is off.
    set(con, "interface wan dhcp off");
    let view = cmd(con, "interfaces");
    assert!(
        view.contains(&format!("ipv4 {WAN_ADDR}/24, gateway {WAN_HOST}, dhcp off")),
        "{view}"
    );
    assert_eq!(
        ping(wan_ns, WAN_ADDR, 3, "0.2"),
        3,
        "static address after DHCP off"
    );
    assert_eq!(
        ping(wan_ns, &leased, 1, "0.2"),
        0,
        "the lease still answers"
    );

    drop(dnsmasq);
    rig.finish();
}

#[test]
#[ignore = "needs root, namespaces and TAP devices: run by `make test-nic`"]
fn nics_on_microvm_virtio_mmio() {
    nic_scenario("microvm");
}

#[test]
#[ignore = "needs root, namespaces and TAP devices: run by `make test-nic`"]
fn nics_on_q35_virtio_pci() {
    nic_scenario("q35");
}

/// The frame tracer (`net.trace`) and the zero-copy transit path (`net.bridge`, which
/// hands each transit frame's buffer to the other NIC's transmit queue as received).
#[test]
#[ignore = "needs root, namespaces and TAP devices: run by `make test-nic`"]
fn tracer_and_transit_path_on_microvm() {
    let mut rig = Rig::boot("microvm", "trace", "net.trace net.bridge");
    let Rig {
        con,
        wan_tap,
        lan_tap,
        wan_ns,
        lan_ns,
        logs,
    } = &mut rig;
    set(con, &format!("interface wan address {WAN_ADDR}/24"));
    set(con, &format!("interface lan address {LAN_ADDR}/24"));
    assert_eq!(ping(lan_ns, LAN_ADDR, 3, "0.2"), 3, "lan ping");

    // Transit: lan host -> appliance's lan MAC -> wan, bytes unchanged.
    let script = repo_root().join("tests/tests/nic/frames.py");
    let script = script.to_str().expect("UTF-8 path");
    let sent = 20;
    // Until all of them arrived, with a deadline for a loaded machine: no fixed window.
    let until = format!("--until={sent}");
    let mut listener = wan_ns.spawn(&["python3", script, "--recv", &wan_tap.name, "120", &until]);
    let mut out = listener.0.stdout.take().expect("listener stdout");
    let mut first = [0u8; 10];
    std::io::Read::read_exact(&mut out, &mut first).expect("listener starts");
    assert_eq!(&first, b"listening\n");
    let before = cmd(con, "interfaces");
    let to = format!("--transit-to={WAN_HOST}");
    lan_ns.exec(&[
        "python3",
        script,
        &lan_tap.name,
        LAN_MAC,
        LAN_ADDR,
        &format!("transit={sent}"),
        &to,
    ]);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut out, &mut text).expect("listener output");
    assert!(
        text.lines().any(|l| l == format!("received {sent}")),
        "the wan host saw: {text}"
    );
    let after = cmd(con, "interfaces");
    let (lan0, lan1) = (counters(&before, "lan"), counters(&after, "lan"));
    let (wan0, wan1) = (counters(&before, "wan"), counters(&after, "wan"));
    assert_eq!(delta(&lan0, &lan1, "rx.packets"), sent, "{after}");
    assert!(delta(&wan0, &wan1, "tx.packets") >= sent, "{after}");
    assert_eq!(delta(&wan0, &wan1, "tx.errors"), 0, "{after}");

    // The trace: after power-off the launcher decodes the defmt log.
    assert_eq!(con.poweroff(), 0);
    let log = logs.path().join("defmt.log");
    let pcap = logs.path().join("lan.pcap");
    let convert = run(&[
        "python3",
        repo_root()
            .join("tests/tests/nic/trace2pcap.py")
            .to_str()
            .expect("path"),
        log.to_str().expect("path"),
        "lan",
        pcap.to_str().expect("path"),
    ]);
    let frames: u32 = String::from_utf8_lossy(&convert.stdout)
        .trim()
        .parse()
        .expect("count");
    assert!(frames >= 6 + 20, "only {frames} lan frames traced");
    let shown = run(&[
        "tshark",
        "-n",
        "-r",
        pcap.to_str().expect("path"),
        "-Y",
        "icmp",
        "-T",
        "fields",
        "-e",
        "icmp.type",
    ]);
    let types = String::from_utf8_lossy(&shown.stdout);
    let requests = types.lines().filter(|t| t.trim() == "8").count();
    let replies = types.lines().filter(|t| t.trim() == "0").count();
    assert_eq!((requests, replies), (3, 3), "tshark saw:\n{types}");
    rig.finish();
}

/// Figures for `make bench-nic` (not a pass/fail test): ICMP echo round trips and a
/// ping flood through the underlay, and the zero-copy transit path flooded with UDP
/// frames, on both machine types. Prints one `bench:` line per figure.
#[test]
#[ignore = "benchmark: run by `make bench-nic`"]
fn bench_nic_paths() {
    for machine in ["microvm", "q35"] {
        let mut rig = Rig::boot(machine, &format!("bench-{machine}"), "net.bridge");
        let Rig {
            con,
            wan_tap,
            lan_tap,
            wan_ns,
            lan_ns,
            ..
        } = &mut rig;
        set(con, &format!("interface wan address {WAN_ADDR}/24"));
        set(con, &format!("interface lan address {LAN_ADDR}/24"));
        assert_eq!(ping(lan_ns, LAN_ADDR, 3, "0.2"), 3);

        // Round trips, one at a time, and a flood (as fast as replies come back).
        let out = lan_ns.output(&["ping", "-n", "-q", "-c", "200", "-i", "0.01", LAN_ADDR]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let rtt = text
            .lines()
            .find(|l| l.starts_with("rtt"))
            .unwrap_or("no rtt");
        println!("bench: {machine} ping 200 x 10 ms: {rtt}");
        let start = Instant::now();
        let out = lan_ns.output(&["ping", "-n", "-q", "-f", "-c", "5000", LAN_ADDR]);
        let secs = start.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let summary = text
            .lines()
            .find(|l| l.contains("transmitted"))
            .unwrap_or("");
        println!(
            "bench: {machine} ping flood 5000: {summary}; {:.0} round trips/s",
            5000.0 / secs
        );

        // Transit: UDP frames lan -> wan through the appliance, buffer handed over as
        // is. The TAP devices' own counters say what the host offered and what the
        // appliance put on the wan wire.
        let stat = |ns: &Netns, dev: &str, what: &str| -> u64 {
            let path = format!("/sys/class/net/{dev}/statistics/{what}");
            let out = ns.exec(&["cat", &path]);
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("counter")
        };
        let script = repo_root().join("tests/tests/nic/frames.py");
        let script = script.to_str().expect("UTF-8 path");
        let wire0 = stat(wan_ns, &wan_tap.name, "rx_packets");
        let offered0 = stat(lan_ns, &lan_tap.name, "tx_packets");
        let host_drops0 = stat(lan_ns, &lan_tap.name, "tx_dropped");
        let lan0 = counters(&cmd(con, "interfaces"), "lan");
        let sent = 20_000;
        let to = format!("--transit-to={WAN_HOST}");
        let start = Instant::now();
        lan_ns.exec(&[
            "python3",
            script,
            &lan_tap.name,
            LAN_MAC,
            LAN_ADDR,
            &format!("transit={sent}"),
            &to,
            "--gap-us=0",
        ]);
        let send_secs = start.elapsed().as_secs_f64();
        std::thread::sleep(Duration::from_secs(1));
        let offered = stat(lan_ns, &lan_tap.name, "tx_packets") - offered0;
        let forwarded = stat(wan_ns, &wan_tap.name, "rx_packets") - wire0;
        let host_drops = stat(lan_ns, &lan_tap.name, "tx_dropped") - host_drops0;
        let view = cmd(con, "interfaces");
        let (lan, wan) = (counters(&view, "lan"), counters(&view, "wan"));
        println!(
            "bench: {machine} transit flood: {sent} UDP frames (79 B) sent in {send_secs:.2} s; \
             the TAP queue dropped {host_drops} (QEMU not reading), passed {offered} to QEMU; \
             guest received {}, forwarded {forwarded} ({:.0}/s over the send time); dropped \
             in the guest: transit backlog {}, wan tx errors {}",
            delta(&lan0, &lan, "rx.packets"),
            forwarded as f64 / send_secs,
            delta(&lan0, &lan, "drops.backlog"),
            wan["tx.errors"],
        );
        rig.finish();
    }
}

/// Two appliances back to back over a QEMU socket backend on loopback (no TAP, no
/// root): a microvm's wan and a q35's wan. When the microvm takes its address it
/// announces it and asks for its gateway, the q35; the counters on both consoles
/// show exactly that exchange.
#[test]
#[ignore = "boots two appliances: run by `make test-nic`"]
fn socket_backend_between_microvm_and_q35() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let launcher = repo_root().join("qemu/vnetcrypt-vm");
    let elf = std::env::var_os("VNETCRYPT_NIC_KERNEL").map_or_else(kernel, Into::into);
    let elf = elf.to_string_lossy().into_owned();
    let boot = |machine: &str, nic: String, logs: &LogDir| {
        let dir = logs.path().to_string_lossy().into_owned();
        #[rustfmt::skip]
        let mut vm = Vm::boot(&launcher, &[
            "--machine", machine, "--memory", "64M", "--kernel", &elf, "--log-dir", &dir,
            "--timeout", "300", "--nic", &nic,
        ]);
        vm.wait_for(PROMPT, Duration::from_secs(60));
        vm
    };
    let (logs_a, logs_b) = (LogDir::new("nic-socket-a"), LogDir::new("nic-socket-b"));
    let mut a = boot(
        "microvm",
        format!("socket=listen:127.0.0.1:{port},mac=52:54:00:99:00:0a"),
        &logs_a,
    );
    let mut b = boot(
        "q35",
        format!("socket=connect:127.0.0.1:{port},mac=52:54:00:99:00:0b"),
        &logs_b,
    );
    set(&mut b, "interface wan address 10.99.0.2/24");
    set(&mut a, "interface wan address 10.99.0.1/24");
    set(&mut a, "interface wan gateway 10.99.0.2");
    // b announces 10.99.0.2 (b tx 1; a rx 1, arp-other: a has no address yet). a
    // announces 10.99.0.1 (a tx 1; b rx 1, arp-other), then, with its gateway set,
    // announces again and asks for 10.99.0.2 (a tx 3; b rx 3, arp-other 2), which b
    // answers (b tx 2; a rx 2).
    let want = |v: &BTreeMap<String, u64>| (v["rx.packets"], v["tx.packets"], v["drops.arp-other"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (va, vb) = (cmd(&mut a, "interfaces"), cmd(&mut b, "interfaces"));
        let (ca, cb) = (counters(&va, "wan"), counters(&vb, "wan"));
        if want(&ca) == (2, 3, 1) && want(&cb) == (3, 2, 2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "counters never showed the exchange:\n{va}\n{vb}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(a.poweroff(), 0);
    assert_eq!(b.poweroff(), 0);
}
