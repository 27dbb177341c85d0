//! Issue 16, items 3 and 4, against the real image: the Prometheus metrics endpoint and
//! the SNTP client, on one boot of the two-gateway topology of the end-to-end tests
//! (hostA behind gateway A, hostB behind B, the wan NICs on a fabric bridge).
//!
//! - Metrics: hostA scrapes `http://10.1.0.1:9100/metrics` with curl; the text is
//!   parsed by the Prometheus client library's own parser (`prometheus_client`, in
//!   the venv `scripts/deps.sh` makes under build/); counters move with traffic; other
//!   paths and methods are refused; a client that connects and says nothing does not
//!   block the next scrape; from the fabric, neither the wan nor the lan address
//!   answers on the metrics port.
//! - Time: a small SNTP server on hostA serves a clock set years ahead; the gateway's
//!   `time` view and its flow-log timestamps follow it. Then Debian's chronyd (unpacked
//!   under build/chrony, never installed) serves the host's time: the gateway follows
//!   it too (interop with a real NTP server).
//!
//! Root needed (namespaces, TAP devices): `make test-ops`.
#![cfg(feature = "nic")]

#[allow(dead_code)]
#[path = "nic/netns.rs"]
mod netns;

#[allow(dead_code)]
#[path = "../src/e2e/mod.rs"]
mod e2e;

use e2e::topology::{Fabric, Topology, A, B};
use netns::Netns;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};
use vnetcrypt_tests::repo_root;

const METRICS_PORT: &str = "9100";

/// 2031-05-01T12:00:00Z: the SNTP server's clock at its start, years from the RTC's.
const SERVED_UNIX: u64 = 1_935_403_200;

/// A minimal SNTPv4 server: answers each request with stratum 2, the request's
/// transmit timestamp as originate, and a clock that started at `SERVED_UNIX`.
const SNTP_SERVER: &str = r#"
import socket, struct, sys, time
served, addr = int(sys.argv[1]), sys.argv[2]
start = time.time()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, 123))
print("listening", flush=True)
while True:
    data, peer = s.recvfrom(512)
    if len(data) < 48 or data[0] & 7 != 3:
        continue
    now = served + (time.time() - start) + 2208988800
    ts = struct.pack("!II", int(now), int((now % 1) * 2**32))
    reply = bytes([4 << 3 | 4, 2, 6, 0xec]) + struct.pack("!II", 0, 0) + b"TEST"
    reply += ts + data[40:48] + ts + ts
    s.sendto(reply, peer)
    print("answered", peer[0], flush=True)
"#;

/// Parses a scrape with prometheus_client; returns every sample as
/// `name{label="value",...}` (labels sorted) -> value.
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        out["%s{%s}" % (s.name, labels)] = s.value
print(json.dumps(out))
"#;

fn venv_python() -> std::path::PathBuf {
    repo_root().join("build/venv-metrics/bin/python")
}

/// Scrapes the metrics from `ns` at `url`: status line of the response and body.
fn curl(ns: &Netns, args: &[&str]) -> (String, String) {
    let mut full = vec!["curl", "-sS", "-i", "--max-time", "10"];
    full.extend_from_slice(args);
    let out = ns.output(&full);
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// A scrape, parsed by prometheus_client (which fails on anything malformed).
fn scrape(topo: &Topology) -> BTreeMap<String, f64> {
    scrape_text(topo).1
}

/// A scrape's text and its parsed samples.
fn scrape_text(topo: &Topology) -> (String, BTreeMap<String, f64>) {
    let url = format!("http://{}:{METRICS_PORT}/metrics", A.lan);
    let (status, body) = curl(&topo.host_a, &[&url]);
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "scrape answered {status:?}\n{body}\n{}",
        topo.logs()
    );
    let mut child = std::process::Command::new(venv_python())
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the venv's python (scripts/deps.sh makes it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("feed the parser");
    let out = child.wait_with_output().expect("parser output");
    assert!(
        out.status.success(),
        "prometheus_client rejected the scrape: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8_lossy(&out.stdout);
    (body, parse_json_map(&json))
}

/// The parser prints one flat JSON object of string -> number; read it without a JSON
/// crate (keys never contain `": ` or `, "` followed by a quote).
fn parse_json_map(json: &str) -> BTreeMap<String, f64> {
    let inner = json.trim().trim_start_matches('{').trim_end_matches('}');
    let mut map = BTreeMap::new();
    for item in inner.split(", \"") {
        let item = item.trim_start_matches('"');
        let Some((k, v)) = item.rsplit_once("\": ") else {
            continue;
        };
        let key = k.replace("\\\"", "\"");
        map.insert(key, v.trim().parse().unwrap_or(f64::NAN));
    }
    map
}

fn value(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("no sample {key} among {} samples", m.len()))
}

#[test]
fn metrics_scraped_and_parsed_on_lan_only_and_time_follows_sntp() {
    let mut topo = Topology::build("ops", "om", ["microvm", "microvm"], Fabric::Bridge);
    let started = Instant::now();

    // Off by default: nothing listens.
    let (status, _) = curl(
        &topo.host_a,
        &[&format!("http://{}:{METRICS_PORT}/metrics", A.lan)],
    );
    assert_eq!(status, "", "metrics answered before 'metrics on'");
    topo.a.set("metrics on");
    assert!(topo.a.cmd("config show").contains("metrics on port 9100"));

    // The SNTP server on hostA (lan); a server on the wan side is refused.
    let script = topo.logs.path().join("sntp-server.py");
    std::fs::write(&script, SNTP_SERVER).expect("write the SNTP server");
    let served = SERVED_UNIX.to_string();
    let mut server =
        topo.host_a
            .spawn(&["python3", script.to_str().expect("UTF-8"), &served, A.host]);
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.0.stdout.as_mut().expect("stdout")),
        &mut line,
    )
    .expect("SNTP server output");
    assert!(line.starts_with("listening"), "SNTP server: {line:?}");
    let refused = topo.a.cmd("ntp 192.0.2.254");
    assert!(refused.contains("not on the lan subnet"), "{refused}");
    topo.a.set(&format!("ntp {}", A.host));

    // Traffic through the tunnel, then a scrape.
    assert!(
        topo.ping_until_reply(Duration::from_secs(60)).is_some(),
        "no tunnel\n{}",
        topo.logs()
    );
    let first = scrape(&topo);
    assert_eq!(
        value(&first, "vnetcrypt_peer_state{peer=\"gw-b\",state=\"up\"}"),
        1.0
    );
    assert_eq!(
        value(&first, "vnetcrypt_peer_state{peer=\"gw-b\",state=\"down\"}"),
        0.0
    );
    assert_eq!(
        value(&first, "vnetcrypt_sessions{state=\"established\"}"),
        1.0
    );
    assert!(value(&first, "vnetcrypt_handshake_duration_seconds_count{}") >= 1.0);
    assert!(
        value(
            &first,
            "vnetcrypt_peer_handshakes_completed_total{peer=\"gw-b\"}"
        ) >= 1.0
    );
    assert_eq!(value(&first, "vnetcrypt_flows_capacity{}"), 4096.0);
    assert!(value(&first, "vnetcrypt_flows_active{}") >= 1.0);
    let tx = "vnetcrypt_peer_records_total{direction=\"tx\",peer=\"gw-b\"}";
    let lan_rx = "vnetcrypt_interface_rx_packets_total{interface=\"lan\"}";

    // Counters move with traffic: 5 pings are at least 5 more records sealed to B
    // and 5 more frames received on lan.
    assert_eq!(topo.ping(5, "0.2"), 5);
    let second = scrape(&topo);
    assert!(
        value(&second, tx) >= value(&first, tx) + 5.0,
        "records to gw-b: {} then {}",
        value(&first, tx),
        value(&second, tx)
    );
    assert!(value(&second, lan_rx) >= value(&first, lan_rx) + 5.0);
    assert!(
        value(
            &second,
            "vnetcrypt_metrics_http_responses_total{code=\"200\"}"
        ) >= 1.0
    );

    // Other paths and methods; a silent client holds a connection while the other
    // still serves; an oversized head is refused.
    let base = format!("http://{}:{METRICS_PORT}", A.lan);
    assert!(curl(&topo.host_a, &[&format!("{base}/")])
        .0
        .starts_with("HTTP/1.1 404"));
    let (status, _) = curl(&topo.host_a, &["-X", "POST", &format!("{base}/metrics")]);
    assert!(status.starts_with("HTTP/1.1 405"), "{status}");
    let big = format!("X-Pad: {}", "a".repeat(3000));
    let (status, _) = curl(&topo.host_a, &["-H", &big, &format!("{base}/metrics")]);
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
    let silent = topo.host_a.spawn(&[
        "python3",
        "-c",
        &format!(
            "import socket,time; s=socket.create_connection(('{}',{METRICS_PORT})); time.sleep(30)",
            A.lan
        ),
    ]);
    std::thread::sleep(Duration::from_millis(500));
    scrape(&topo);
    drop(silent);

    // From the fabric: neither the wan address nor (routed over wan) the lan address
    // answers on the metrics port.
    topo.fabric
        .exec(&["ip", "route", "add", "10.1.0.0/24", "via", A.wan]);
    for addr in [A.wan, A.lan] {
        let (status, _) = curl(
            &topo.fabric,
            &[
                "--max-time",
                "3",
                &format!("http://{addr}:{METRICS_PORT}/metrics"),
            ],
        );
        assert_eq!(status, "", "{addr}:{METRICS_PORT} answered from wan");
    }

    // Time: the first good answer steps the clock to the server's.
    let deadline = Instant::now() + Duration::from_secs(30);
    let time = loop {
        let t = topo.a.cmd("time");
        if t.contains("source sntp") || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        time.contains("source sntp") && time.contains("time 2031-05-01T"),
        "the clock did not follow the SNTP server:\n{time}\n{}",
        topo.logs()
    );
    assert!(time.contains(&format!("ntp server {}", A.host)), "{time}");
    println!("{time}");
    let flows = Topology::flows(&mut topo.a);
    let hour = (SERVED_UNIX - 3600) * 1000..(SERVED_UNIX + 3600) * 1000;
    let stamped = flows
        .iter()
        .filter(|t| t.contains(B.host))
        .filter_map(|t| t.split(',').next()?.parse::<u64>().ok())
        .filter(|ms| hour.contains(ms))
        .count();
    assert!(
        stamped > 0,
        "no flow to hostB is stamped with the SNTP time ({}..{} ms):\n{}",
        hour.start,
        hour.end,
        flows.join("\n")
    );
    let (text, synced) = scrape_text(&topo);
    // --nocapture: an excerpt for the docs.
    for l in text.lines().filter(|l| {
        ["gw-b", "handshake_duration", "time_", "sntp_rep", "flows_"]
            .iter()
            .any(|k| l.contains(k))
            && !l.starts_with('#')
    }) {
        println!("  {l}");
    }
    assert_eq!(value(&synced, "vnetcrypt_time_synced{}"), 1.0);
    assert!(value(&synced, "vnetcrypt_sntp_replies_total{}") >= 1.0);

    // ntp off: back to the RTC.
    topo.a.set("ntp off");
    assert!(topo.a.cmd("time").contains("source rtc"));
    drop(server);

    // Interop: Debian's chronyd (unpacked under build/chrony by scripts/deps.sh, run
    // with -x so it never sets a clock) as the server, serving the host's own time at
    // stratum 8. The RTC was read from the same host clock, so the offset is small.
    let conf = topo.logs.path().join("chrony.conf");
    let pid = topo.logs.path().join("chronyd.pid");
    std::fs::write(
        &conf,
        format!(
            "local stratum 8\nallow all\nport 123\nbindaddress {}\ncmdport 0\npidfile {}\n",
            A.host,
            pid.display()
        ),
    )
    .expect("write chrony.conf");
    let chronyd = repo_root().join("build/chrony/usr/sbin/chronyd");
    let chrony = topo.host_a.spawn(&[
        chronyd.to_str().expect("UTF-8"),
        "-x",
        "-d",
        "-u",
        "root",
        "-f",
        conf.to_str().expect("UTF-8"),
    ]);
    std::thread::sleep(Duration::from_millis(500));
    topo.a.set(&format!("ntp {}", A.host));
    let deadline = Instant::now() + Duration::from_secs(30);
    let time = loop {
        let t = topo.a.cmd("time");
        if t.contains("source sntp") || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let offset_us: i64 = time
        .split("offset ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(i64::MAX);
    assert!(
        time.contains("source sntp") && time.contains("stratum 8") && offset_us.abs() < 3_000_000,
        "the clock did not follow chronyd:\n{time}\n{}",
        topo.logs()
    );
    drop(chrony);

    // metrics off: the port closes.
    topo.a.set("metrics off");
    let (status, _) = curl(
        &topo.host_a,
        &["--max-time", "3", &format!("{base}/metrics")],
    );
    assert_eq!(status, "", "metrics answered after 'metrics off'");
    println!("ops: metrics and time checks took {:?}", started.elapsed());
}
