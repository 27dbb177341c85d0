//! Real networks of two or three gateways (issue 14): each gateway has its own host
//! namespace on its lan, optionally namespaces routing prefixes behind that lan (a
//! Kubernetes node routing its pod prefix, a router in front of a load balancer VIP),
//! and optionally a NAT namespace (`iptables` MASQUERADE) between one gateway's wan and
//! the fabric, whose public mapping a test can change mid-transfer.
//!
//! ```text
//!  hostA 10.1.0.10 -+- [A] wan 192.0.2.1 -------------------------+
//!  nodeA 10.1.0.2 --+  (routes 10.244.1.0/24)                      |
//!  hostB 10.2.0.10 --- [B] wan 192.0.2.2 -------------------------+ bridge "fabric0"
//!  hostC 10.3.0.10 --- [C] wan 100.64.0.2 -- NAT 192.0.2.3 -------+ (fabric namespace,
//!                                                                     192.0.2.254, tshark)
//! ```
//!
//! Every name (namespace, TAP, veth) carries the test's tag and this process's id, so
//! runs of other tests on the machine cannot collide with it. Everything lives in
//! namespaces the network owns (veth pairs are created inside them), so dropping it
//! — also when a test fails — removes all of it: gateways stop first (their defmt logs
//! get decoded), then the devices and namespaces; a failed test's logs are kept and
//! named.

use super::gateway::{signal, Gateway, GatewaySpec};
use super::topology::{Fabric, Side, A, B, C, DTLS_PORT, FABRIC_ADDR, MARKER};
use crate::netns::{require_root, run, Netns, Proc, Tap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use vnetcrypt_tests::{garbage, kernel, repo_root, LogDir};

/// The sides gateway 0, 1 and 2 take (their addresses and MACs).
pub const SIDES: [&Side; 3] = [&A, &B, &C];

/// The fabric's bridge, in the fabric namespace.
pub const FABRIC_BRIDGE: &str = "fabric0";
/// An unused fabric address whose ARP requests prove a capture runs.
pub const PROBE_FABRIC: &str = "192.0.2.253";

/// The wan subnet between a NATed gateway and its NAT namespace (RFC 6598 shared
/// address space, as a carrier-grade NAT would use).
pub const NAT_INSIDE: &str = "100.64.0.1";
pub const NAT_GATEWAY_WAN: &str = "100.64.0.2";

/// How gateway `i` is named in its peers' configurations: `gw-a`, `gw-b`, `gw-c`.
pub fn peer_name(i: usize) -> String {
    format!("gw-{}", char::from(b'a' + i as u8))
}

/// A namespace on gateway `gateway`'s lan at `lan_addr`, routing `prefix` behind it;
/// `addr` (in `prefix`) is configured on its loopback, so that it answers
/// for that address like a pod on a node, or a VIP on a load balancer.
#[derive(Clone, Debug)]
pub struct RouterSpec {
    pub gateway: usize,
    pub lan_addr: &'static str,
    pub prefix: &'static str,
    pub addr: &'static str,
}

pub struct Router {
    pub ns: Netns,
    pub spec: RouterSpec,
}

/// Which peer a gateway pins, and how.
#[derive(Clone, Debug)]
pub struct Pin {
    pub from: usize,
    pub to: usize,
    /// Whether the peer entry names `to`'s endpoint (a peer without one calls us).
    pub endpoint: bool,
    /// `prefix` of the entry; `None`: `to`'s lan subnet plus the prefixes routed behind
    /// its lan.
    pub prefixes: Option<String>,
    /// Appended to `peer add` (`transit on`, `enforcement allow`).
    pub extra: String,
}

impl Pin {
    pub fn new(from: usize, to: usize) -> Self {
        Self {
            from,
            to,
            endpoint: true,
            prefixes: None,
            extra: String::new(),
        }
    }
}

/// The NAT namespace between one gateway's wan and the fabric.
pub struct Nat {
    pub ns: Netns,
    pub gateway: usize,
    /// Its link to the fabric bridge (inside the NAT namespace), where it masquerades.
    pub outside: String,
}

impl Nat {
    /// Changes the public mapping: new connections are masqueraded to source ports in
    /// `ports` (`20000-20999`; `None`: any, preferring the original port) and every
    /// existing mapping is forgotten (`conntrack -F`), so the gateway's next datagram
    /// leaves from a new public port — what a NAT rebooting or timing out does.
    pub fn remap(&self, ports: Option<&str>) {
        let mut rule = vec![
            "iptables",
            "-t",
            "nat",
            "-R",
            "POSTROUTING",
            "1",
            "-o",
            &self.outside,
            "-p",
            "udp",
            "-j",
            "MASQUERADE",
        ];
        if let Some(p) = ports {
            rule.extend(["--to-ports", p]);
        }
        self.ns.exec(&rule);
        self.ns.exec(&["conntrack", "-F"]);
    }

    /// The public (translated) UDP source ports of the gateway's current mappings.
    pub fn public_ports(&self) -> Vec<u16> {
        let out = self
            .ns
            .output(&["conntrack", "-L", "-p", "udp", "-s", NAT_GATEWAY_WAN]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                // The reply direction is the second `dport=`: the port peers answer to.
                l.split_whitespace()
                    .filter_map(|w| w.strip_prefix("dport="))
                    .nth(1)?
                    .parse()
                    .ok()
            })
            .collect()
    }
}

/// Prints where the logs are when the test fails; the last field of a `Network`, so it
/// drops after the gateways have stopped (and decoded their defmt logs).
struct FailureNote(String);

impl Drop for FailureNote {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.0.is_empty() {
            eprintln!("\n=== e2e logs kept in {} ===\n", self.0);
        }
    }
}

/// Fields drop in order: forwarder, gateways, devices, namespaces, logs.
pub struct Network {
    pub impairer: Option<Proc>,
    /// Gateway `i` stands at `SIDES[i]` (behind the NAT: wan `NAT_GATEWAY_WAN`).
    pub gateways: Vec<Gateway>,
    pub taps: Vec<Tap>,
    pub hosts: Vec<Netns>,
    pub routers: Vec<Router>,
    pub nat: Option<Nat>,
    pub fabric: Netns,
    /// Identity fingerprints, per gateway.
    pub fingerprints: Vec<String>,
    /// The fabric's bridge (`None` with an impaired fabric).
    pub bridge: Option<String>,
    /// The lan TAP of each gateway (in its host namespace).
    pub lan_taps: Vec<String>,
    pub logs: LogDir,
    note: FailureNote,
}

/// How a `Network` is built: `Network::builder(test, tag).gateways(3).build()`.
pub struct Builder {
    test: String,
    tag: String,
    machines: Vec<String>,
    fabric: Fabric,
    routers: Vec<RouterSpec>,
    nat: Option<usize>,
    pins: Option<Vec<Pin>>,
    extra: Vec<String>,
    /// The launcher's NIC model for every wan NIC (`virtio`, or `igb`: an SR-IOV VF,
    /// q35 only; see `qemu/vnetcrypt-vm --nic`).
    wan_model: String,
}

impl Builder {
    /// `n` gateways (2 or 3), all on microvm.
    pub fn gateways(mut self, n: usize) -> Self {
        assert!((2..=SIDES.len()).contains(&n), "{n} gateways");
        self.machines = vec!["microvm".into(); n];
        self
    }

    /// One machine type per gateway (`microvm`, `q35`).
    pub fn machines(mut self, machines: &[&str]) -> Self {
        assert!((2..=SIDES.len()).contains(&machines.len()));
        self.machines = machines.iter().map(|m| m.to_string()).collect();
        self
    }

    pub fn fabric(mut self, fabric: Fabric) -> Self {
        self.fabric = fabric;
        self
    }

    /// Every gateway's wan NIC of launcher model `model` (`virtio` by default).
    pub fn wan_model(mut self, model: &str) -> Self {
        self.wan_model = model.into();
        self
    }

    /// A namespace routing a prefix behind a gateway's lan; that gateway gets `route add
    /// PREFIX via LAN_ADDR` and its peers the prefix in their entry for it.
    pub fn router(mut self, spec: RouterSpec) -> Self {
        self.routers.push(spec);
        self
    }

    /// Puts gateway `i`'s wan behind a NAT namespace (masquerading to `SIDES[i].wan`).
    pub fn behind_nat(mut self, i: usize) -> Self {
        self.nat = Some(i);
        self
    }

    /// Who pins whom (default: every gateway pins every other, with endpoints).
    pub fn pins(mut self, pins: Vec<Pin>) -> Self {
        self.pins = Some(pins);
        self
    }

    /// More configuration statements for gateway `i` (after its peers), one a line.
    pub fn statements(mut self, i: usize, lines: &str) -> Self {
        self.extra[i] += lines;
        self
    }

    fn n(&self) -> usize {
        self.machines.len()
    }

    fn wan_addr(&self, i: usize) -> &'static str {
        if self.nat == Some(i) {
            NAT_GATEWAY_WAN
        } else {
            SIDES[i].wan
        }
    }

    /// What gateway `i` is provisioned with; peers only once fingerprints are known.
    fn statements_of(&self, i: usize, fingerprints: Option<&[String]>) -> String {
        let me = SIDES[i];
        let mut s = format!("interface wan address {}/24\n", self.wan_addr(i));
        if self.nat == Some(i) {
            s += &format!("interface wan gateway {NAT_INSIDE}\n");
        }
        s += &format!(
            "interface lan address {}/24\nlisten port {DTLS_PORT}\nenforcement drop\n",
            me.lan
        );
        for r in self.routers.iter().filter(|r| r.gateway == i) {
            s += &format!("route add {} via {}\n", r.prefix, r.lan_addr);
        }
        if let Some(fps) = fingerprints {
            for p in self.pin_list().into_iter().filter(|p| p.from == i) {
                let endpoint = if p.endpoint {
                    format!(" endpoint {}:{DTLS_PORT}", SIDES[p.to].wan)
                } else {
                    String::new()
                };
                let prefixes = p.prefixes.clone().unwrap_or_else(|| self.prefixes_of(p.to));
                s += &format!(
                    "peer add {}{endpoint} fingerprint {} prefix {prefixes}{}{}\n",
                    peer_name(p.to),
                    fps[p.to],
                    if p.extra.is_empty() { "" } else { " " },
                    p.extra
                );
            }
            s += &self.extra[i];
        }
        s
    }

    /// Gateway `i`'s lan subnet and the prefixes routed behind it.
    fn prefixes_of(&self, i: usize) -> String {
        std::iter::once(SIDES[i].net)
            .chain(
                self.routers
                    .iter()
                    .filter(|r| r.gateway == i)
                    .map(|r| r.prefix),
            )
            .collect::<Vec<_>>()
            .join(",")
    }

    fn pin_list(&self) -> Vec<Pin> {
        self.pins.clone().unwrap_or_else(|| {
            let n = self.n();
            (0..n)
                .flat_map(|f| (0..n).filter(move |&t| t != f).map(move |t| Pin::new(f, t)))
                .collect()
        })
    }

    pub fn build(self) -> Network {
        require_root();
        let (tag, n) = (self.tag.as_str(), self.n());
        assert_eq!(tag.len(), 2, "tag {tag:?}");
        let id = std::process::id() % 10_000;
        let logs = LogDir::new(&format!("e2e-{}", self.test));
        let note = FailureNote(logs.path().display().to_string());
        let dir = logs.path().to_path_buf();
        let ns = |name: &str| format!("e2e-{tag}-{name}-{id}");
        let letter = |i: usize| char::from(b'A' + i as u8);
        // Interface names have 15 characters: "e2" + tag + 2 + id (4) fits.
        let ifname = |i: usize, kind: char| format!("e2{tag}{}{kind}{id}", letter(i));
        let hosts: Vec<Netns> = (0..n)
            .map(|i| Netns::new(&ns(&format!("h{}", letter(i)))))
            .collect();
        let fabric = Netns::new(&ns("fab"));
        let mut taps: Vec<(Tap, Tap)> = (0..n)
            .map(|i| (Tap::new(&ifname(i, 'w')), Tap::new(&ifname(i, 'l'))))
            .collect();

        // Identities are generated now; then each gateway pins its peers'.
        let disk = |i: usize| dir.join(format!("gateway-{}.disk", letter(i)));
        let conf = |i: usize| dir.join(format!("gateway-{}.conf", letter(i)));
        let fingerprints: Vec<String> = (0..n)
            .map(|i| provision(&self.statements_of(i, None), &conf(i), &disk(i)))
            .collect();
        for i in 0..n {
            let again = provision(
                &self.statements_of(i, Some(&fingerprints)),
                &conf(i),
                &disk(i),
            );
            assert_eq!(again, fingerprints[i], "identity of {} changed", letter(i));
        }

        // VNETCRYPT_E2E_KERNEL: another kernel ELF (a developer's own build).
        let elf: PathBuf = std::env::var_os("VNETCRYPT_E2E_KERNEL").map_or_else(kernel, Into::into);
        let gateways: Vec<Gateway> = (0..n)
            .map(|i| {
                let name = letter(i).to_string();
                let (wan, lan) = &taps[i];
                let spec = GatewaySpec {
                    name: &name,
                    machine: &self.machines[i],
                    kernel: &elf,
                    disk: &disk(i),
                    wan_nic: match self.wan_model.as_str() {
                        "virtio" => format!("tap={},mac={}", wan.name, SIDES[i].wan_mac),
                        model => format!("tap={},mac={},model={model}", wan.name, SIDES[i].wan_mac),
                    },
                    lan_nic: format!("tap={},mac={}", lan.name, SIDES[i].lan_mac),
                };
                Gateway::boot(&spec, &dir.join(format!("gateway-{name}")))
            })
            .collect();

        // Lans: QEMU holds the TAP devices open; move them where they belong. A lan with
        // routers behind it is a bridge in the host's namespace.
        let mut routers = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            let side = SIDES[i];
            let lan = &mut taps[i].1;
            let mine: Vec<&RouterSpec> = self.routers.iter().filter(|r| r.gateway == i).collect();
            if mine.is_empty() {
                lan.move_to(host, &format!("{}/24", side.host), 1500);
            } else {
                lan.move_into(host);
                host.exec(&["ip", "link", "add", "lan0", "type", "bridge"]);
                host.exec(&[
                    "ip",
                    "addr",
                    "add",
                    &format!("{}/24", side.host),
                    "dev",
                    "lan0",
                ]);
                host.exec(&["ip", "link", "set", "lan0", "up"]);
                host.exec(&["ip", "link", "set", &lan.name, "master", "lan0", "up"]);
            }
            host.exec(&["ip", "route", "add", "default", "via", side.lan]);
            for (k, spec) in mine.into_iter().enumerate() {
                let r = Netns::new(&ns(&format!("r{}{k}", letter(i))));
                let (inner, outer) = (format!("lan{k}"), ifname(i, char::from(b'0' + k as u8)));
                host.exec(&[
                    "ip", "link", "add", &outer, "type", "veth", "peer", "name", &inner, "netns",
                    &r.name,
                ]);
                host.exec(&["ip", "link", "set", &outer, "master", "lan0", "up"]);
                r.exec(&[
                    "ip",
                    "addr",
                    "add",
                    &format!("{}/24", spec.lan_addr),
                    "dev",
                    &inner,
                ]);
                r.exec(&["ip", "link", "set", &inner, "up"]);
                // On loopback: this machine's kernel has no dummy links.
                r.exec(&[
                    "ip",
                    "addr",
                    "add",
                    &format!("{}/32", spec.addr),
                    "dev",
                    "lo",
                ]);
                r.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
                r.exec(&["ip", "route", "add", "default", "via", side.lan]);
                host.exec(&["ip", "route", "add", spec.prefix, "via", spec.lan_addr]);
                routers.push(Router {
                    ns: r,
                    spec: spec.clone(),
                });
            }
        }

        // Wans: on the fabric, one of them perhaps through the NAT namespace.
        let mut nat = None;
        let mut on_fabric: Vec<String> = Vec::new();
        for (i, (wan, _)) in taps.iter().enumerate() {
            if self.nat != Some(i) {
                run(&["ip", "link", "set", &wan.name, "netns", &fabric.name]);
                on_fabric.push(wan.name.clone());
                continue;
            }
            let nat_ns = Netns::new(&ns("nat"));
            run(&["ip", "link", "set", &wan.name, "netns", &nat_ns.name]);
            nat_ns.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{NAT_INSIDE}/24"),
                "dev",
                &wan.name,
            ]);
            nat_ns.exec(&["ip", "link", "set", &wan.name, "up"]);
            let (outside, fabric_end) = (ifname(i, 'o'), ifname(i, 'f'));
            #[rustfmt::skip]
            nat_ns.exec(&["ip", "link", "add", &outside, "type", "veth", "peer", "name", &fabric_end, "netns", &fabric.name]);
            nat_ns.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{}/24", SIDES[i].wan),
                "dev",
                &outside,
            ]);
            nat_ns.exec(&["ip", "link", "set", &outside, "up"]);
            nat_ns.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
            #[rustfmt::skip]
            nat_ns.exec(&["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", &outside, "-p", "udp", "-j", "MASQUERADE"]);
            on_fabric.push(fabric_end);
            nat = Some(Nat {
                ns: nat_ns,
                gateway: i,
                outside,
            });
        }
        let (mut bridge, mut impairer) = (None, None);
        match self.fabric {
            Fabric::Bridge => {
                let br = FABRIC_BRIDGE;
                // Ageing 0: the bridge learns no address and floods every frame,
                // so a capture on the bridge sees all of them, like a hub.
                #[rustfmt::skip]
                fabric.exec(&["ip", "link", "add", br, "type", "bridge", "ageing_time", "0"]);
                fabric.exec(&["ip", "addr", "add", &format!("{FABRIC_ADDR}/24"), "dev", br]);
                fabric.exec(&["ip", "link", "set", br, "up"]);
                for t in &on_fabric {
                    fabric.exec(&["ip", "link", "set", t, "master", br, "up"]);
                }
                bridge = Some(br.to_string());
            }
            Fabric::Impaired {
                loss,
                dup,
                reorder,
                seed,
            } => {
                assert_eq!(
                    on_fabric.len(),
                    2,
                    "the impairing forwarder joins two links"
                );
                for t in &on_fabric {
                    fabric.exec(&["ip", "link", "set", t, "up"]);
                }
                let script = repo_root().join("qemu/netns-tools");
                #[rustfmt::skip]
                let p = fabric.spawn(&[
                    "python3", script.to_str().expect("UTF-8 path"), "impair", &on_fabric[0], &on_fabric[1],
                    "--loss", &loss.to_string(), "--dup", &dup.to_string(),
                    "--reorder", &reorder.to_string(), "--seed", &seed.to_string(),
                ]);
                impairer = Some(p);
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        let lan_taps = taps.iter().map(|(_, l)| l.name.clone()).collect();
        Network {
            impairer,
            gateways,
            taps: taps.into_iter().flat_map(|(w, l)| [w, l]).collect(),
            hosts,
            routers,
            nat,
            fabric,
            fingerprints,
            bridge,
            lan_taps,
            logs,
            note,
        }
    }
}

/// Builds a configuration disk with the host provisioning tool; returns the
/// fingerprint it printed (the identity is kept when the disk already holds one).
pub fn provision(statements: &str, conf: &Path, disk: &Path) -> String {
    std::fs::write(conf, statements).expect("write provisioning statements");
    let out = Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", "vnetcrypt-provision", "--", "build"])
        .arg(conf)
        .arg(disk)
        .current_dir(repo_root())
        .output()
        .expect("run vnetcrypt-provision");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "vnetcrypt-provision failed on\n{statements}\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("identity fingerprint: "))
        .expect("a fingerprint line")
        .to_string()
}

impl Network {
    pub fn builder(test: &str, tag: &str) -> Builder {
        Builder {
            test: test.into(),
            tag: tag.into(),
            machines: vec!["microvm".into(); 2],
            fabric: Fabric::Bridge,
            routers: Vec::new(),
            nat: None,
            pins: None,
            extra: vec![String::new(); SIDES.len()],
            wan_model: "virtio".into(),
        }
    }

    /// Hands the failure note to a wrapper that prints its own (the two-gateway
    /// `Topology`).
    pub fn quiet(&mut self) {
        self.note.0.clear();
    }

    /// Where to look: every gateway's console transcript and defmt log.
    pub fn logs(&self) -> String {
        self.gateways
            .iter()
            .map(Gateway::logs)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stops the impairing forwarder; returns its counts (`frames=N lost=N
    /// duplicated=N reordered=N`) by name.
    pub fn stop_impairer(&mut self) -> std::collections::BTreeMap<String, u64> {
        let mut p = self.impairer.take().expect("an impaired fabric");
        signal(p.0.id(), "TERM");
        let mut text = String::new();
        if let Some(mut out) = p.0.stdout.take() {
            let _ = out.read_to_string(&mut text);
        }
        text.split_whitespace()
            .filter_map(|w| {
                let (k, v) = w.split_once('=')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect()
    }

    /// `ping` from host `from` to `addr`; returns the replies.
    pub fn ping(&self, from: usize, addr: &str, count: u32, interval: &str) -> u32 {
        ping(&self.hosts[from], addr, count, interval)
    }

    /// Pings `addr` from host `from` once a second until a reply or `limit`; returns
    /// how long it took.
    pub fn ping_until_reply(&self, from: usize, addr: &str, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.ping(from, addr, 1, "1") == 1 {
                return Some(start.elapsed());
            }
        }
        None
    }

    /// Host `from` sends `size` bytes (random, `MARKER` in every KiB) over TCP to
    /// `addr` in namespace `to`; asserts they arrived whole; returns the time.
    pub fn transfer(
        &self,
        from: &Netns,
        to: &Netns,
        addr: &str,
        size: usize,
        port: u16,
    ) -> Duration {
        let t = Transfer::start(
            self.logs.path(),
            from,
            to,
            addr,
            size,
            port,
            Duration::from_secs(300),
        );
        t.finish(&self.logs())
    }

    /// The `flows` view of gateway `i`, as tuples (header and prompt left out).
    pub fn flows(&mut self, i: usize) -> Vec<String> {
        flows(&mut self.gateways[i])
    }

    /// A capture of the fabric bridge, running once this returns.
    pub fn capture_fabric(&self, name: &str) -> super::capture::Capture {
        super::capture::Capture::start(
            &self.fabric,
            self.bridge.as_deref().expect("a bridged fabric"),
            self.logs.path().join(format!("{name}.pcap")),
            PROBE_FABRIC,
        )
    }
}

/// `ping` from `ns`; returns the replies.
pub fn ping(ns: &Netns, addr: &str, count: u32, interval: &str) -> u32 {
    let count = count.to_string();
    let out = ns.output(&[
        "ping", "-n", "-q", "-c", &count, "-i", interval, "-W", "2", addr,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            let (_, rest) = l.split_once("transmitted, ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no ping summary:\n{text}"))
}

/// The `flows` view of a gateway, as tuples (header and prompt left out).
pub fn flows(gw: &mut Gateway) -> Vec<String> {
    gw.cmd("flows")
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| l.split(',').count() == 13 && !l.starts_with("time,"))
        .collect()
}

/// Tuples `src -> dst` with `protocol` (6 TCP, 17 UDP, 1 ICMP) and `encryption`.
pub fn flows_between(
    flows: &[String],
    src: &str,
    dst: &str,
    protocol: &str,
    encryption: &str,
) -> Vec<String> {
    flows
        .iter()
        .filter(|t| {
            let f: Vec<&str> = t.split(',').collect();
            f[1] == src && f[2] == dst && f[5] == protocol && f[8] == encryption
        })
        .cloned()
        .collect()
}

/// A TCP transfer under way (`qemu/netns-tools tcp-send`/`tcp-recv`): start it, do
/// something to the network meanwhile, then `finish` it.
pub struct Transfer {
    recv: Proc,
    recv_stdout: BufReader<std::process::ChildStdout>,
    send: Proc,
    size: usize,
    start: Instant,
    what: String,
}

impl Transfer {
    /// `size` bytes, random with `MARKER` at the start of every KiB, from `from` to
    /// `addr`:`port` in `to`; returns once the sender runs.
    pub fn start(
        dir: &Path,
        from: &Netns,
        to: &Netns,
        addr: &str,
        size: usize,
        port: u16,
        limit: Duration,
    ) -> Self {
        Self::paced(dir, from, to, addr, size, port, limit, 0)
    }

    /// As `start`, the sender pacing itself to `rate` bytes a second (0: unpaced), so
    /// that a test can change the network while it runs.
    #[allow(clippy::too_many_arguments)]
    pub fn paced(
        dir: &Path,
        from: &Netns,
        to: &Netns,
        addr: &str,
        size: usize,
        port: u16,
        limit: Duration,
        rate: u64,
    ) -> Self {
        let payload_path = dir.join(format!("payload-{port}.bin"));
        let mut payload = garbage(size, 0x5eed, &[]);
        for chunk in payload.chunks_mut(1024) {
            let n = MARKER.len().min(chunk.len());
            chunk[..n].copy_from_slice(&MARKER[..n]);
        }
        std::fs::write(&payload_path, &payload).expect("write the payload");
        let script = repo_root().join("qemu/netns-tools");
        let script = script.to_str().expect("UTF-8 path");
        let (port_s, secs) = (port.to_string(), limit.as_secs().to_string());
        #[rustfmt::skip]
        let mut recv = to.spawn(&["python3", script, "tcp-recv", addr, &port_s, "--timeout", &secs]);
        // The sender starts once the receiver says it listens.
        let mut recv_stdout = BufReader::new(recv.0.stdout.take().expect("piped stdout"));
        let mut listening = String::new();
        let _ = recv_stdout.read_line(&mut listening);
        assert!(
            listening.starts_with("listening"),
            "tcp-recv did not start in {}: {listening:?}",
            to.name
        );
        #[rustfmt::skip]
        let send = from.spawn(&[
            "python3", script, "tcp-send", addr, &port_s, payload_path.to_str().expect("UTF-8"),
            "--timeout", &secs, "--rate", &rate.to_string(),
        ]);
        Self {
            recv,
            recv_stdout,
            send,
            size,
            start: Instant::now(),
            what: format!("{} -> {addr}:{port}", from.name),
        }
    }

    /// Whether the sender still runs (the transfer is not over).
    pub fn running(&mut self) -> bool {
        self.send.0.try_wait().ok().flatten().is_none()
    }

    /// Waits for both ends; asserts the bytes arrived whole (same length and SHA-256);
    /// returns the time since the start.
    pub fn finish(mut self, logs: &str) -> Duration {
        let sent = wait_output(&mut self.send);
        let took = self.start.elapsed();
        let mut recv_out = String::new();
        let _ = self.recv_stdout.read_to_string(&mut recv_out);
        let recv_err = {
            let mut e = String::new();
            if let Some(mut s) = self.recv.0.stderr.take() {
                let _ = s.read_to_string(&mut e);
            }
            e
        };
        let received = self.recv.0.wait().expect("wait for tcp-recv");
        let sha = |t: &str| {
            t.lines()
                .find_map(|l| l.strip_prefix("sha256 ").map(str::to_string))
        };
        let size = self.size;
        assert!(
            sent.0 && received.success(),
            "TCP transfer of {size} bytes {} failed after {took:?}:\nsender: {}\nreceiver: {recv_out}{recv_err}\n{logs}",
            self.what,
            sent.1,
        );
        assert!(
            recv_out.contains(&format!("received {size} bytes")) && sha(&sent.1) == sha(&recv_out),
            "the transfer {} arrived damaged:\nsender: {}\nreceiver: {recv_out}\n{logs}",
            self.what,
            sent.1
        );
        took
    }
}

/// Waits for a process; returns success and stdout plus stderr.
fn wait_output(p: &mut Proc) -> (bool, String) {
    let mut text = String::new();
    if let Some(mut o) = p.0.stdout.take() {
        let _ = o.read_to_string(&mut text);
    }
    if let Some(mut e) = p.0.stderr.take() {
        let _ = e.read_to_string(&mut text);
    }
    let ok = p.0.wait().map(|s| s.success()).unwrap_or(false);
    (ok, text)
}

/// `qemu/netns-tools udp-count` in a namespace: counts numbered datagrams.
pub struct UdpCount {
    proc: Proc,
    out: BufReader<std::process::ChildStdout>,
}

/// What a `UdpCount` saw.
#[derive(Debug)]
pub struct Counted {
    pub received: u64,
    pub duplicates: u64,
    pub missing: u64,
    pub text: String,
}

impl UdpCount {
    /// Listens on `addr:port` in `ns` until `expect` distinct datagrams arrived or
    /// `limit`; returns once it listens.
    pub fn listen(ns: &Netns, addr: &str, port: u16, expect: u64, limit: Duration) -> Self {
        let script = repo_root().join("qemu/netns-tools");
        let (port, expect, secs) = (
            port.to_string(),
            expect.to_string(),
            limit.as_secs().to_string(),
        );
        #[rustfmt::skip]
        let mut proc = ns.spawn(&[
            "python3", script.to_str().expect("UTF-8 path"), "udp-count", addr, &port,
            "--expect", &expect, "--timeout", &secs,
        ]);
        let mut out = BufReader::new(proc.0.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        let _ = out.read_line(&mut first);
        assert!(
            first.starts_with("listening"),
            "udp-count did not start in {}: {first:?}",
            ns.name
        );
        Self { proc, out }
    }

    pub fn finish(mut self) -> Counted {
        let mut text = String::new();
        let _ = self.out.read_to_string(&mut text);
        let _ = self.proc.0.wait();
        let field = |name: &str| -> u64 {
            let mut words = text.split_whitespace();
            words
                .position(|w| w == name)
                .and_then(|_| words.next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in udp-count's report: {text:?}"))
        };
        Counted {
            received: field("received"),
            duplicates: field("duplicates"),
            missing: field("missing"),
            text: text.clone(),
        }
    }
}

/// Starts `qemu/netns-tools udp-send` in `ns`: `count` numbered datagrams to
/// `addr:port`, one every `interval` seconds, each carrying `marker`.
pub fn udp_send(
    ns: &Netns,
    addr: &str,
    port: u16,
    count: u64,
    interval: f64,
    marker: &str,
) -> Proc {
    udp_send_from(ns, "", addr, port, count, interval, marker)
}

/// As `udp_send`, from `source` (an address of the namespace; `""`: the route's).
pub fn udp_send_from(
    ns: &Netns,
    source: &str,
    addr: &str,
    port: u16,
    count: u64,
    interval: f64,
    marker: &str,
) -> Proc {
    let script = repo_root().join("qemu/netns-tools");
    let (port, count, interval) = (port.to_string(), count.to_string(), interval.to_string());
    #[rustfmt::skip]
    let p = ns.spawn(&[
        "python3", script.to_str().expect("UTF-8 path"), "udp-send", addr, &port,
        "--count", &count, "--interval", &interval, "--marker", marker, "--source", source,
    ]);
    p
}

/// Waits for a `udp_send`; returns how many it sent.
pub fn udp_sent(mut p: Proc) -> u64 {
    let (ok, text) = wait_output(&mut p);
    assert!(ok, "udp-send failed: {text}");
    text.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no count in udp-send's report: {text:?}"))
}

/// `qemu/netns-tools udp-collect` in a namespace: a flow-record collector.
pub struct Collector {
    proc: Proc,
    pub file: PathBuf,
}

impl Collector {
    /// Collects datagrams on `addr:port` in `ns` into `file` until one contains
    /// `until` or `limit`; returns once it listens.
    pub fn listen(
        ns: &Netns,
        addr: &str,
        port: u16,
        file: PathBuf,
        until: &str,
        limit: Duration,
    ) -> Self {
        let script = repo_root().join("qemu/netns-tools");
        let (port, secs) = (port.to_string(), limit.as_secs().to_string());
        #[rustfmt::skip]
        let mut proc = ns.spawn(&[
            "python3", script.to_str().expect("UTF-8 path"), "udp-collect", addr, &port,
            "--out", file.to_str().expect("UTF-8 path"), "--until", until, "--timeout", &secs,
        ]);
        let mut out = BufReader::new(proc.0.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        let _ = out.read_line(&mut first);
        assert!(
            first.starts_with("listening"),
            "udp-collect did not start in {}: {first:?}",
            ns.name
        );
        proc.0.stdout = Some(out.into_inner());
        Self { proc, file }
    }

    /// Waits for the collector to stop; returns what it collected, one datagram a line.
    pub fn finish(mut self) -> String {
        let _ = wait_output(&mut self.proc);
        std::fs::read_to_string(&self.file).unwrap_or_default()
    }
}
