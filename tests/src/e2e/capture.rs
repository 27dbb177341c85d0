//! `tshark` on a link inside a namespace, and what the capture shows.

use super::gateway::signal;
use crate::netns::{Netns, Proc};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A running capture, stopped (SIGINT, so the file is complete) by `stop` or drop.
pub struct Capture {
    proc: Option<Proc>,
    pub file: PathBuf,
}

impl Capture {
    /// Starts tshark on `iface` and returns once it demonstrably captures: the
    /// namespace's stack pings `probe` (an unused address on the link, so ARP
    /// requests go out) until the file grows past its header.
    pub fn start(ns: &Netns, iface: &str, file: PathBuf, probe: &str) -> Self {
        let _ = std::fs::remove_file(&file);
        let path = file.to_str().expect("UTF-8 path");
        let proc = ns.spawn(&["tshark", "-q", "-n", "-i", iface, "-w", path]);
        let size = || std::fs::metadata(&file).map_or(0, |m| m.len());
        let start = Instant::now();
        while size() == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "tshark did not start on {iface}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let header = size();
        while size() == header {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "tshark on {iface} captured nothing of the probe pings to {probe}"
            );
            let _ = ns.output(&["ping", "-n", "-q", "-c", "1", "-W", "0.3", probe]);
        }
        Self {
            proc: Some(proc),
            file,
        }
    }

    pub fn stop(mut self) -> PathBuf {
        self.finish();
        self.file.clone()
    }

    fn finish(&mut self) {
        if let Some(mut p) = self.proc.take() {
            // `ip netns exec` execs tshark: the pid is tshark's.
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
