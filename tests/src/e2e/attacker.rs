//! The off-path fabric attacker of docs/gateway.md: `qemu/netns-tools forge` in the
//! fabric namespace sends DTLS-shaped datagrams whose source address, port and MAC
//! are a real gateway's, toward the other gateway's DTLS port. It only ever talks to
//! the two gateways of the test's own topology.

use super::gateway::signal;
use super::topology::{Side, DTLS_PORT};
use crate::netns::{Netns, Proc};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::ChildStdout;
use vnetcrypt_tests::repo_root;

/// A running forger; `stop` (or drop) ends it.
pub struct Attacker {
    proc: Proc,
    out: BufReader<ChildStdout>,
}

impl Attacker {
    /// Starts forging on the fabric's `iface`: for each `(spoofed, target)`, datagrams
    /// that claim to come from `spoofed`'s wan endpoint, sent to `target`'s. `kinds` as
    /// `netns-tools forge --kinds` takes them (`alert,hello,ccs-hello,hvr,fragments,
    /// garbage`); one round of every kind per `interval` seconds. Returns once the
    /// first datagrams are out.
    pub fn start(
        fabric: &Netns,
        iface: &str,
        flows: &[(&Side, &Side)],
        kinds: &str,
        interval: f64,
    ) -> Self {
        let args = forge_args(iface, flows, kinds, &["--interval", &interval.to_string()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut proc = fabric.spawn(&argv);
        let mut out = BufReader::new(proc.0.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        let _ = out.read_line(&mut first);
        if !first.starts_with("forge: sending") {
            let mut err = String::new();
            if let Some(mut e) = proc.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("the attacker did not start: {first}{err}");
        }
        Self { proc, out }
    }

    /// One round of every kind of `kinds` for each flow, as `start` takes them;
    /// returns the counts once they are sent.
    pub fn once(
        fabric: &Netns,
        iface: &str,
        flows: &[(&Side, &Side)],
        kinds: &str,
    ) -> BTreeMap<String, u64> {
        let args = forge_args(iface, flows, kinds, &["--rounds", "1", "--interval", "0"]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = fabric.output(&argv);
        assert!(
            out.status.success(),
            "the attacker failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        counts(&String::from_utf8_lossy(&out.stdout))
    }

    /// Stops the forger; returns its counts (`sent` and one per kind).
    pub fn stop(mut self) -> BTreeMap<String, u64> {
        // `ip netns exec` execs python: the pid is the forger's.
        signal(self.proc.0.id(), "TERM");
        let mut text = String::new();
        let _ = self.out.read_to_string(&mut text);
        let _ = self.proc.0.wait();
        counts(&text)
    }
}

/// `netns-tools forge`'s command line.
fn forge_args(iface: &str, flows: &[(&Side, &Side)], kinds: &str, more: &[&str]) -> Vec<String> {
    let script = repo_root().join("qemu/netns-tools");
    let mut args: Vec<String> = vec![
        "python3".into(),
        script.to_str().expect("UTF-8 path").into(),
        "forge".into(),
        iface.into(),
        "--kinds".into(),
        kinds.into(),
    ];
    args.extend(more.iter().map(|s| s.to_string()));
    for (spoofed, target) in flows {
        args.push("--flow".into());
        args.push(format!(
            "{},{}:{DTLS_PORT},{},{}:{DTLS_PORT}",
            spoofed.wan_mac, spoofed.wan, target.wan_mac, target.wan
        ));
    }
    args
}

/// The forger's report (`sent=N alert=N ...`) by name.
fn counts(text: &str) -> BTreeMap<String, u64> {
    text.split_whitespace()
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}
