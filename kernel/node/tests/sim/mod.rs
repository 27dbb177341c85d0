//! A simulation of appliances (`Node`s with the real DTLS engine) and workload hosts
//! over a fake fabric, on a virtual clock: one wan segment shared by every node, one
//! lan segment per node with one host on it.
//!
//! Node `n` (1..): wan 192.0.2.n/24, lan 10.n.0.1/24, DTLS on port 4500; its host
//! 10.n.0.10 routes through 10.n.0.1.
#![allow(dead_code)] // each test file uses part of the harness

#[allow(dead_code)] // only the management and upgrade tests use it
pub mod bare;
pub mod fabric;
pub mod host;
pub mod machine;

use fabric::{Fabric, Faults, Shared};
use host::Host;
use machine::{Clock, FakePlatform, MemDisk};
use std::net::Ipv4Addr;
use vnetcrypt_node::{Node, Options, PortSlot};

pub const DTLS_PORT: u16 = 4500;
/// The virtual time one step takes.
pub const STEP_US: u64 = 1000;

pub struct Appliance {
    pub n: u8,
    pub node: Option<Node>,
    pub disk: MemDisk,
    pub lan: usize,
    ports: [usize; 2],
    boots: u64,
    /// What the node said on its console at boot.
    pub boot_log: String,
}

pub struct Sim {
    pub clock: Clock,
    pub fabric: Shared,
    pub wan: usize,
    pub nodes: Vec<Appliance>,
    /// `hosts[i]` is on `nodes[i]`'s lan.
    pub hosts: Vec<Host>,
    /// More hosts on some node's lan (routers, say), see [`Sim::add_lan_host`].
    pub lan_hosts: Vec<Host>,
    seed: u64,
}

pub fn wan_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, n)
}
pub fn lan_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, n, 0, 1)
}
pub fn host_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, n, 0, 10)
}
pub fn wan_mac(n: u8) -> [u8; 6] {
    [2, 0, 0, 0, n, 1]
}
pub fn lan_mac(n: u8) -> [u8; 6] {
    [2, 0, 0, 0, n, 2]
}

impl Sim {
    pub fn new(seed: u64, wan_faults: Faults) -> Self {
        let fabric = Fabric::new(seed);
        let wan = fabric.borrow_mut().segment(wan_faults);
        Sim {
            clock: Clock::default(),
            fabric,
            wan,
            nodes: Vec::new(),
            hosts: Vec::new(),
            lan_hosts: Vec::new(),
            seed,
        }
    }

    pub fn now_us(&self) -> u64 {
        self.clock.get()
    }

    /// Adds node `n` (addresses set, not saved) with its lan and host; its index.
    pub fn add_node(&mut self, n: u8) -> usize {
        let lan = self.fabric.borrow_mut().segment(Faults::default());
        let host = Host::new(
            &self.fabric,
            lan,
            [2, 0, 0, 1, n, 10],
            host_ip(n),
            24,
            Some(lan_ip(n)),
            self.now_us(),
        );
        self.hosts.push(host);
        self.nodes.push(Appliance {
            n,
            node: None,
            disk: MemDisk::blank(512),
            lan,
            ports: [0; 2],
            boots: 0,
            boot_log: String::new(),
        });
        let i = self.nodes.len() - 1;
        self.boot(i);
        self.set(i, &format!("interface wan address {}/24", wan_ip(n)));
        self.set(i, &format!("interface lan address {}/24", lan_ip(n)));
        self.set(i, &format!("listen port {DTLS_PORT}"));
        i
    }

    /// Adds a host at `ip`/24 on node `i`'s lan, routing through the node; its index
    /// in `lan_hosts`.
    pub fn add_lan_host(&mut self, i: usize, mac: [u8; 6], ip: Ipv4Addr) -> usize {
        let n = self.nodes[i].n;
        let host = Host::new(
            &self.fabric,
            self.nodes[i].lan,
            mac,
            ip,
            24,
            Some(lan_ip(n)),
            self.now_us(),
        );
        self.lan_hosts.push(host);
        self.lan_hosts.len() - 1
    }

    /// Stalls (or resumes) the transmit completions of node `i`'s lan NIC.
    #[allow(dead_code)] // not every test binary uses it
    pub fn stall_lan_tx(&mut self, i: usize, stalled: bool) {
        let id = self.nodes[i].ports[1];
        self.fabric.borrow_mut().stall_tx(id, stalled);
    }

    /// Boots node `i` from its disk (again: a reboot; the old node is gone).
    pub fn boot(&mut self, i: usize) {
        let wan = self.wan;
        let a = &mut self.nodes[i];
        if a.node.take().is_some() {
            let mut f = self.fabric.borrow_mut();
            f.detach(a.ports[0]);
            f.detach(a.ports[1]);
        }
        a.boots += 1;
        let (wan_port, wan_id) = fabric::FakePort::new(&self.fabric, wan, wan_mac(a.n));
        let (lan_port, lan_id) = fabric::FakePort::new(&self.fabric, a.lan, lan_mac(a.n));
        a.ports = [wan_id, lan_id];
        let seed = self.seed ^ (u64::from(a.n) << 32) ^ a.boots;
        let platform = FakePlatform::new(&self.clock, seed);
        let ports = vec![
            PortSlot {
                port: Box::new(wan_port),
                location: format!("fake wan {}", a.n),
            },
            PortSlot {
                port: Box::new(lan_port),
                location: format!("fake lan {}", a.n),
            },
        ];
        let mut out = String::new();
        let node = Node::boot(
            Box::new(platform),
            ports,
            Some(Box::new(a.disk.clone())),
            Options::default(),
            &mut out,
        );
        a.boot_log = out;
        a.node = Some(node);
    }

    pub fn node(&mut self, i: usize) -> &mut Node {
        self.nodes[i].node.as_mut().expect("node is up")
    }

    /// Runs a console line on node `i`; what it printed.
    pub fn cmd(&mut self, i: usize, line: &str) -> String {
        let cmd = vnetcrypt_console::parse(line).expect("a valid command");
        let mut out = String::new();
        let handled = self.node(i).execute(&cmd, &mut out);
        assert!(handled, "{line:?} is not the node's");
        out
    }

    /// As [`Self::cmd`], for a line that must not fail.
    pub fn set(&mut self, i: usize, line: &str) -> String {
        let out = self.cmd(i, line);
        assert!(!out.contains("error"), "node {i} refused {line:?}: {out}");
        out
    }

    pub fn fingerprint(&mut self, i: usize) -> String {
        let out = self.cmd(i, "identity show");
        out.lines()
            .find_map(|l| l.strip_prefix("fingerprint"))
            .map(|f| f.trim().to_string())
            .expect("an identity")
    }

    /// Node `a` pins node `b` as a peer for `b`'s lan.
    pub fn peer(&mut self, a: usize, b: usize) {
        let fp = self.fingerprint(b);
        let n = self.nodes[b].n;
        self.set(
            a,
            &format!(
                "peer add gw{n} endpoint {}:{DTLS_PORT} fingerprint {fp} prefix 10.{n}.0.0/24",
                wan_ip(n)
            ),
        );
    }

    /// One step of virtual time: nodes, wires, hosts, wires, clock.
    pub fn step(&mut self) {
        for a in &mut self.nodes {
            if let Some(node) = a.node.as_mut() {
                for _ in 0..16 {
                    if !node.poll() {
                        break;
                    }
                }
            }
        }
        self.fabric.borrow_mut().deliver();
        let now = self.now_us();
        for h in self.hosts.iter_mut().chain(&mut self.lan_hosts) {
            h.poll(now);
        }
        self.fabric.borrow_mut().deliver();
        self.clock.set(now + STEP_US);
    }

    /// Steps until `done` holds (true) or `max_ms` of virtual time pass (false).
    pub fn run_until(&mut self, max_ms: u64, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        let end = self.now_us() + max_ms * 1000;
        while self.now_us() < end {
            self.step();
            if done(self) {
                return true;
            }
        }
        false
    }

    pub fn run_for(&mut self, ms: u64) {
        let _ = self.run_until(ms, |_| false);
    }

    /// Whether node `i` has an established session with every peer.
    pub fn tunnels_up(&mut self, i: usize, peers: usize) -> bool {
        let out = self.cmd(i, "sessions");
        // Rows whose `state` cell (the third) says the tunnel is up.
        out.lines()
            .filter(|l| l.split_whitespace().nth(2) == Some("up"))
            .count()
            == peers
    }
}
