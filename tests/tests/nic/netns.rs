//! Network namespaces, TAP devices and processes for the NIC tests, each removed when
//! its guard is dropped (also when a test fails and unwinds).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Runs a command and panics with its output if it fails.
pub fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command, ignoring failure (cleanup).
fn try_run(args: &[&str]) {
    let _ = Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether this process may create namespaces and TAP devices.
pub fn require_root() {
    let out = run(&["id", "-u"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "the NIC tests create network namespaces and TAP devices: run them as root \
         (`make test-nic` does)"
    );
    assert!(
        Path::new("/dev/net/tun").exists(),
        "/dev/net/tun is missing: TAP devices are unavailable"
    );
}

/// A network namespace with IPv6 off (so the host stack sends the appliance only
/// the frames a test sends or asks for).
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Self {
        try_run(&["ip", "netns", "del", name]); // a leftover of a killed run
        run(&["ip", "netns", "add", name]);
        let ns = Self { name: name.into() };
        for key in ["all", "default"] {
            ns.exec(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
            ]);
        }
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace; panics if it fails.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Runs a command inside the namespace and returns its output, success or not.
    pub fn output(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("run ip netns exec")
    }

    /// Starts a long-running process inside the namespace.
    pub fn spawn(&self, args: &[&str]) -> Proc {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?}: {e}"));
        Proc(child)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        try_run(&["ip", "netns", "del", &self.name]);
    }
}

/// A persistent TAP device, created in the root namespace (where QEMU opens it) and
/// later moved into a test namespace.
pub struct Tap {
    pub name: String,
    /// The namespace it was moved to, if any.
    netns: Option<String>,
}

impl Tap {
    pub fn new(name: &str) -> Self {
        assert!(name.len() <= 15, "interface name {name} too long");
        try_run(&["ip", "link", "del", name]);
        run(&["ip", "tuntap", "add", "dev", name, "mode", "tap"]);
        Self {
            name: name.into(),
            netns: None,
        }
    }

    /// Moves the device into `ns` without an address (to join a bridge there).
    #[allow(dead_code)] // the NIC tests address theirs; the e2e networks bridge some
    pub fn move_into(&mut self, ns: &Netns) {
        run(&["ip", "link", "set", &self.name, "netns", &ns.name]);
        self.netns = Some(ns.name.clone());
    }

    /// Moves the device into `ns`, gives it `cidr` and brings it up. QEMU keeps its
    /// file descriptor across the move.
    pub fn move_to(&mut self, ns: &Netns, cidr: &str, mtu: u32) {
        run(&["ip", "link", "set", &self.name, "netns", &ns.name]);
        self.netns = Some(ns.name.clone());
        ns.exec(&["ip", "addr", "add", cidr, "dev", &self.name]);
        ns.exec(&[
            "ip",
            "link",
            "set",
            &self.name,
            "mtu",
            &mtu.to_string(),
            "up",
        ]);
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        if let Some(ns) = &self.netns {
            try_run(&["ip", "-n", ns, "link", "del", &self.name]);
        }
        try_run(&["ip", "link", "del", &self.name]);
    }
}

/// A child process killed (and reaped) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Waits for the process and returns the replies of its `ping -q` summary.
    pub fn wait_output(self) -> u32 {
        let mut me = self;
        let mut text = String::new();
        if let Some(mut out) = me.0.stdout.take() {
            use std::io::Read;
            let _ = out.read_to_string(&mut text);
        }
        let _ = me.0.wait();
        text.lines()
            .find_map(|l| {
                let (_, rest) = l.split_once("transmitted, ")?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .unwrap_or_else(|| panic!("no ping summary:\n{text}"))
    }
}
