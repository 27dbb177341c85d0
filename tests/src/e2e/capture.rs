//! Captures (`dumpcap`, Wireshark's capture engine) on a link inside a namespace, and
//! what `tshark` makes of them.

use super::gateway::signal;
use crate::netns::{Netns, Proc};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A running capture, stopped (SIGINT, so the file is complete) by `stop` or drop.
pub struct Capture {
    proc: Option<Proc>,
    pub file: PathBuf,
    netns: String,
    probe: String,
}

impl Capture {
    /// Starts capturing on `iface` and returns once the capture demonstrably runs:
    /// the namespace's stack pings `probe` (an unused address on the link, so ARP
    /// requests go out) until the file grows past its header.
    pub fn start(ns: &Netns, iface: &str, file: PathBuf, probe: &str) -> Self {
        let _ = std::fs::remove_file(&file);
        let path = file.to_str().expect("UTF-8 path");
        let proc = ns.spawn(&["dumpcap", "-q", "-i", iface, "-w", path]);
        let start = Instant::now();
        while file_len(&file) == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "dumpcap did not start on {iface}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let cap = Self {
            proc: Some(proc),
            file,
            netns: ns.name.clone(),
            probe: probe.into(),
        };
        cap.sync();
        cap
    }

    /// Returns once everything sent before the call is in the file: dumpcap writes
    /// in order, so a probe's ARP request that made the file grow comes after it.
    fn sync(&self) {
        let before = file_len(&self.file);
        let start = Instant::now();
        while file_len(&self.file) == before {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the capture on {} did not record the probe pings to {}",
                self.netns,
                self.probe
            );
            let _ = Command::new("ip")
                .args(["netns", "exec", &self.netns, "ping", "-n", "-q", "-c", "1"])
                .args(["-W", "0.3", &self.probe])
                .output();
        }
    }

    /// Stops the capture once it has caught up (dumpcap would drop what it had not
    /// read yet).
    pub fn stop(mut self) -> PathBuf {
        self.sync();
        self.finish();
        self.file.clone()
    }

    fn finish(&mut self) {
        if let Some(mut p) = self.proc.take() {
            // `ip netns exec` execs dumpcap: the pid is dumpcap's; on SIGINT it
            // writes out what it holds and exits.
            signal(p.0.id(), "INT");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && p.0.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.finish();
    }
}

fn file_len(file: &Path) -> u64 {
    std::fs::metadata(file).map_or(0, |m| m.len())
}

/// One IPv4 packet of a capture, as tshark dissects it (UDP on `dtls_port` decoded
/// as DTLS).
#[derive(Debug)]
pub struct Packet {
    pub src: String,
    pub dst: String,
    pub proto: String,
    pub sport: String,
    pub dport: String,
    /// DTLS record content types in the datagram (`22` handshake, `23` data, ...).
    pub dtls: String,
    pub column: String,
}

pub fn packets(file: &Path, dtls_port: u16) -> Vec<Packet> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-d", &format!("udp.port=={dtls_port},dtls"), "-Y", "ip"])
        .args(["-T", "fields", "-E", "separator=|"])
        .args(["-e", "ip.src", "-e", "ip.dst", "-e", "ip.proto"])
        .args(["-e", "udp.srcport", "-e", "udp.dstport"])
        .args(["-e", "dtls.record.content_type", "-e", "_ws.col.Protocol"])
        .output()
        .expect("run tshark -r");
    assert!(
        out.status.success(),
        "tshark -r {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f.len() == 7).then(|| Packet {
                src: f[0].into(),
                dst: f[1].into(),
                proto: f[2].into(),
                sport: f[3].into(),
                dport: f[4].into(),
                dtls: f[5].into(),
                column: f[6].into(),
            })
        })
        .collect()
}

/// Whether the raw capture file holds `needle` anywhere (any frame, any offset).
pub fn contains(file: &Path, needle: &[u8]) -> bool {
    let bytes = std::fs::read(file).expect("read the capture");
    bytes.windows(needle.len()).any(|w| w == needle)
}
