//! End to end: two gateways under QEMU, hostA (10.1.0.0/24) behind A and hostB
//! (10.2.0.0/24) behind B as network namespaces, the two `wan` NICs on a fabric
//! bridge in a third namespace where `tshark` listens (the topology of `make run`,
//! built by `tests/src/e2e/`). Real Linux hosts, a real TCP stack, OpenSSL and
//! tshark judge the appliance.
//!
//! Needs root (namespaces, TAP devices) like the NIC tests, hence the same feature:
//! `make test-e2e` runs them. Every failure message names the gateways' console
//! transcripts and decoded defmt logs, which are kept when a test fails.
//!
//! All of it runs in a few minutes on two cores under TCG; `--nocapture` prints the
//! measured figures (time to first reply, transfer rates, impairment counts).
#![cfg(feature = "nic")]

#[allow(dead_code)]
#[path = "nic/netns.rs"]
mod netns;

#[allow(dead_code)]
#[path = "../src/e2e/mod.rs"]
mod e2e;

/// Issue 12: a forging attacker on the fabric, and a peer killed with SIGKILL.
#[path = "e2e/trust.rs"]
mod trust;

use e2e::capture::{self, Capture};
use e2e::topology::{flows_matching, Fabric, Topology, A, B, DTLS_PORT, FABRIC_ADDR, MARKER};
use netns::run;
use std::time::{Duration, Instant};

/// Unused addresses whose ARP requests prove a capture is running.
const PROBE_FABRIC: &str = "192.0.2.253";
const PROBE_LAN_A: &str = "10.1.0.253";

/// 4 MiB: "several MB", and still quick enough through two TCG guests.
const TRANSFER: usize = 4 << 20;

fn replies(ns: &netns::Netns, addr: &str, count: u32) -> u32 {
    let count = count.to_string();
    let out = ns.output(&[
        "ping", "-n", "-q", "-c", &count, "-i", "0.2", "-W", "2", addr,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            let (_, rest) = l.split_once("transmitted, ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no ping summary:\n{text}"))
}

/// Every IPv4 packet in a fabric capture is DTLS between the two gateways' wan
/// endpoints on the configured port; returns how many application-data records it
/// carried.
fn assert_only_dtls(file: &std::path::Path, topo: &Topology) -> usize {
    let packets = capture::packets(file, DTLS_PORT);
    let port = DTLS_PORT.to_string();
    let gateways = [A.wan, B.wan];
    let bad: Vec<_> = packets
        .iter()
        // The fabric namespace's own stack (IGMP reports of the bridge) is the
        // observer, not a gateway.
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
        "{} of {} packets on the fabric are not DTLS between the gateways on port {port}, e.g. {:?}\ncapture {}\n{}",
        bad.len(),
        packets.len(),
        &bad[..bad.len().min(5)],
        file.display(),
        topo.logs()
    );
    assert!(
        !capture::contains(file, MARKER),
        "the transfer's payload appears in the clear on the fabric (capture {})\n{}",
        file.display(),
        topo.logs()
    );
    packets
        .iter()
        .filter(|p| p.dtls.split(',').any(|t| t == "23"))
        .count()
}

#[test]
fn topology_comes_up_pre_paired_and_goes_away() {
    let topo = Topology::build("smoke", "sm", ["microvm", "microvm"], Fabric::Bridge);
    let Topology {
        a,
        b,
        host_a,
        host_b,
        fabric,
        fingerprints: [fp_a, fp_b],
        ..
    } = &mut *Box::new(topo);
    // Provisioned identities and pins, as the consoles report them.
    assert!(a.cmd("identity").contains(fp_a.as_str()), "{}", a.logs());
    assert!(b.cmd("identity").contains(fp_b.as_str()), "{}", b.logs());
    let shown = a.cmd("config show");
    assert!(
        shown.contains(&format!(
            "peer add gw-b endpoint {}:{DTLS_PORT} fingerprint {fp_b} prefix {}",
            B.wan, B.net
        )),
        "gateway A does not pin B:\n{shown}\n{}",
        a.logs()
    );
    let shown = b.cmd("config show");
    assert!(
        shown.contains(&format!("fingerprint {fp_a}")),
        "gateway B does not pin A:\n{shown}"
    );
    // Every link of the topology works: hosts to their gateway's lan, the fabric to
    // both wans.
    assert_eq!(replies(host_a, A.lan, 3), 3, "hostA -> A lan\n{}", a.logs());
    assert_eq!(replies(host_b, B.lan, 3), 3, "hostB -> B lan\n{}", b.logs());
    assert_eq!(
        replies(fabric, A.wan, 3),
        3,
        "fabric -> A wan\n{}",
        a.logs()
    );
    assert_eq!(
        replies(fabric, B.wan, 3),
        3,
        "fabric -> B wan\n{}",
        b.logs()
    );
}

#[test]
fn nothing_is_left_behind() {
    let names = {
        let topo = Topology::build("leftovers", "lo", ["microvm", "microvm"], Fabric::Bridge);
        (
            topo.host_a.name.clone(),
            topo.fabric.name.clone(),
            topo.lan_tap_a.clone(),
        )
    };
    let links = String::from_utf8_lossy(&run(&["ip", "-o", "link"]).stdout).into_owned();
    assert!(!links.contains(&names.2), "TAP left behind:\n{links}");
    let spaces = String::from_utf8_lossy(&run(&["ip", "netns", "list"]).stdout).into_owned();
    for ns in [&names.0, &names.1] {
        assert!(
            !spaces.contains(ns.as_str()),
            "namespace {ns} left behind:\n{spaces}"
        );
    }
    let qemus: Vec<String> = e2e::gateway::command_lines()
        .into_iter()
        .filter(|l| l.contains("qemu-system") && l.contains(&names.2))
        .collect();
    assert!(qemus.is_empty(), "QEMU left behind: {qemus:?}");
}

/// Items a, b and h: ping and a checksummed TCP transfer through the tunnel while
/// tshark watches the fabric (and hostA's side, as a control that the payload
/// marker is visible where traffic is in the clear).
fn tunnel(machine: &str, tag: &str) {
    let mut topo = Topology::build(
        &format!("tunnel-{machine}"),
        tag,
        [machine, machine],
        Fabric::Bridge,
    );
    let fabric_cap = Capture::start(
        &topo.fabric,
        "fabric0",
        topo.logs.path().join("fabric.pcap"),
        PROBE_FABRIC,
    );
    let lan_cap = Capture::start(
        &topo.host_a,
        &topo.lan_tap_a,
        topo.logs.path().join("lan-a.pcap"),
        PROBE_LAN_A,
    );
    let first = topo.ping_until_reply(Duration::from_secs(30));
    assert!(
        first.is_some(),
        "no ping reply hostA -> hostB through the tunnel in 30 s\n{}",
        topo.logs()
    );
    assert_eq!(
        topo.ping(5, "0.2"),
        5,
        "ping through the established tunnel\n{}",
        topo.logs()
    );
    let took = topo.transfer(TRANSFER, 5001, Duration::from_secs(300));
    eprintln!(
        "e2e {machine}: first reply after {first:?}; {TRANSFER} bytes in {took:?} ({:.2} Mbit/s)",
        TRANSFER as f64 * 8.0 / took.as_secs_f64() / 1e6
    );
    let (fabric_file, lan_file) = (fabric_cap.stop(), lan_cap.stop());
    let data_records = assert_only_dtls(&fabric_file, &topo);
    // The transfer alone needs TRANSFER / 1395 (clamped MSS) records.
    assert!(
        data_records >= TRANSFER / 1395,
        "only {data_records} DTLS application-data records on the fabric for a {TRANSFER}-byte transfer\n{}",
        topo.logs()
    );
    assert!(
        capture::contains(&lan_file, MARKER),
        "control: the payload marker is not visible on hostA's side ({})",
        lan_file.display()
    );
    let flows = Topology::flows(&mut topo.a);
    for (proto, what) in [("6", "TCP"), ("1", "ICMP")] {
        assert!(
            !flows_matching(&flows, proto, "X").is_empty(),
            "no {what} flow hostA -> hostB marked X on gateway A:\n{}\n{}",
            flows.join("\n"),
            topo.logs()
        );
    }
    let flows_b = Topology::flows(&mut topo.b);
    assert!(
        !flows_matching(&flows_b, "6", "X").is_empty(),
        "no TCP flow from hostA marked X on gateway B:\n{}\n{}",
        flows_b.join("\n"),
        topo.logs()
    );
}

#[test]
fn tunnel_on_microvm() {
    tunnel("microvm", "tm");
}

#[test]
fn tunnel_on_q35() {
    tunnel("q35", "tq");
}

/// Item c: DropUnencrypted, first with B's identity wrong on A, then with B stopped:
/// no plaintext reaches the fabric, and the flows are `NX_NOT_ACCEPTED`.
#[test]
fn drop_unencrypted_puts_no_plaintext_on_the_fabric() {
    let mut topo = Topology::build("drop", "dr", ["microvm", "microvm"], Fabric::Bridge);
    let cap = Capture::start(
        &topo.fabric,
        "fabric0",
        topo.logs.path().join("fabric.pcap"),
        PROBE_FABRIC,
    );
    // A fingerprint nobody has: the handshake with B must fail.
    let wrong = "ab".repeat(32);
    topo.a.set(&format!("peer set gw-b fingerprint {wrong}"));
    assert_eq!(
        topo.ping(3, "0.5"),
        0,
        "traffic passed with a wrong identity\n{}",
        topo.logs()
    );
    // Once the handshake has failed (its timeout is 10 s), the fallback applies:
    // drop, logged NX_NOT_ACCEPTED. Pings go on until that shows, none answered.
    let failing = Instant::now();
    let flows = loop {
        assert_eq!(
            topo.ping(1, "1"),
            0,
            "traffic passed with a wrong identity\n{}",
            topo.logs()
        );
        let flows = Topology::flows(&mut topo.a);
        if !flows_matching(&flows, "1", "NX_NOT_ACCEPTED").is_empty() {
            break flows;
        }
        assert!(
            failing.elapsed() < Duration::from_secs(90),
            "no ICMP flow NX_NOT_ACCEPTED on gateway A with B's identity wrong:\n{}\n{}",
            flows.join("\n"),
            topo.logs()
        );
    };
    assert!(
        flows_matching(&flows, "1", "X").is_empty(),
        "an ICMP flow marked X with B's identity wrong:\n{}",
        flows.join("\n")
    );
    // The right pin, and B gone.
    let right = topo.fingerprints[1].clone();
    topo.a.set(&format!("peer set gw-b fingerprint {right}"));
    topo.b.stop();
    let tcp = topo.host_a.output(&[
        "python3", "-c",
        "import socket,sys\ntry:\n socket.create_connection((sys.argv[1], 5002), timeout=15)\nexcept OSError as e:\n print(e)\n sys.exit(1)",
        B.host,
    ]);
    assert!(
        !tcp.status.success(),
        "a TCP connection to hostB succeeded with B stopped"
    );
    // The flow is logged once its packets' fate is known (a handshake toward the
    // stopped B fails after its timeout): poll for it.
    let stopped = Instant::now();
    loop {
        let flows = Topology::flows(&mut topo.a);
        let refused = flows_matching(&flows, "6", "NX_NOT_ACCEPTED")
            .into_iter()
            .any(|t| t.split(',').nth(4) == Some("5002"));
        if refused {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(60),
            "no TCP flow to port 5002 NX_NOT_ACCEPTED on gateway A with B stopped:\n{}\n{}",
            flows.join("\n"),
            topo.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let file = cap.stop();
    let packets = capture::packets(&file, DTLS_PORT);
    let clear: Vec<_> = packets
        .iter()
        // The fabric namespace's own stack (IGMP of the bridge) is the observer.
        .filter(|p| p.src != FABRIC_ADDR)
        .filter(|p| p.src == A.host || p.dst == B.host || p.proto != "17")
        .collect();
    assert!(
        clear.is_empty(),
        "plaintext on the fabric under DropUnencrypted: {:?}\ncapture {}\n{}",
        &clear[..clear.len().min(5)],
        file.display(),
        topo.logs()
    );
    // A kept trying: its handshakes are on the fabric, as DTLS.
    assert!(
        packets.iter().any(|p| p.src == A.wan && !p.dtls.is_empty()),
        "gateway A never tried a handshake (capture {})\n{}",
        file.display(),
        topo.logs()
    );
}

/// Item d: AllowUnencrypted and no peer for the destination: the traffic crosses the
/// fabric in the clear and is logged `NX`.
#[test]
fn allow_unencrypted_without_a_peer_passes_in_the_clear() {
    let mut topo = Topology::build("allow", "al", ["microvm", "microvm"], Fabric::Bridge);
    for (gw, peer, other) in [(&mut topo.a, "gw-b", B.wan), (&mut topo.b, "gw-a", A.wan)] {
        gw.set(&format!("peer remove {peer}"));
        gw.set("enforcement allow");
        gw.set(&format!("interface wan gateway {other}"));
    }
    let cap = Capture::start(
        &topo.fabric,
        "fabric0",
        topo.logs.path().join("fabric.pcap"),
        PROBE_FABRIC,
    );
    let first = topo.ping_until_reply(Duration::from_secs(20));
    assert!(
        first.is_some(),
        "no reply in the clear under AllowUnencrypted\n{}",
        topo.logs()
    );
    assert_eq!(topo.ping(3, "0.2"), 3, "ping in the clear\n{}", topo.logs());
    let file = cap.stop();
    let packets = capture::packets(&file, DTLS_PORT);
    let clear = packets
        .iter()
        .filter(|p| p.src == A.host && p.dst == B.host && p.proto == "1")
        .count();
    eprintln!(
        "e2e allow: first reply after {first:?}; {clear} echo requests hostA -> hostB seen in the clear on the fabric"
    );
    assert!(
        clear >= 4,
        "hostA's 4 answered echo requests are not all on the fabric in the clear ({clear} seen; capture {})\n{}",
        file.display(),
        topo.logs()
    );
    let flows = Topology::flows(&mut topo.a);
    assert!(
        !flows_matching(&flows, "1", "NX").is_empty(),
        "no ICMP flow logged NX on gateway A:\n{}\n{}",
        flows.join("\n"),
        topo.logs()
    );
}

/// Item e: gateway B (on q35: SeaBIOS runs again) reboots; the tunnel comes back by
/// itself.
#[test]
fn tunnel_recovers_after_gateway_b_reboots() {
    let mut topo = Topology::build("reboot", "rb", ["microvm", "q35"], Fabric::Bridge);
    assert!(
        topo.ping_until_reply(Duration::from_secs(30)).is_some(),
        "no tunnel before the reboot\n{}",
        topo.logs()
    );
    topo.b.reboot();
    let rebooted = Instant::now();
    let back = topo.ping_until_reply(Duration::from_secs(60));
    assert!(
        back.is_some(),
        "no traffic through the tunnel 60 s after B rebooted\n{}",
        topo.logs()
    );
    eprintln!(
        "e2e reboot: tunnel back {:?} after B's prompt",
        rebooted.elapsed()
    );
    topo.transfer(256 << 10, 5003, Duration::from_secs(120));
    let sessions = topo.a.cmd("sessions");
    assert!(
        sessions.contains("gw-b"),
        "gateway A shows no session with B:\n{sessions}\n{}",
        topo.logs()
    );
}

/// Item f: `openssl s_client -dtls1_2`, its certificate pinned on A (on q35),
/// completes a handshake with A's wan, and A presents the identity its console reports.
#[test]
fn openssl_s_client_handshakes_with_gateway_a() {
    let mut topo = Topology::build("openssl", "os", ["q35", "microvm"], Fabric::Bridge);
    let dir = topo.logs.path().to_path_buf();
    let (key, cert) = (dir.join("client.key"), dir.join("client.pem"));
    let (key_s, cert_s) = (key.to_str().expect("UTF-8"), cert.to_str().expect("UTF-8"));
    run(&[
        "openssl",
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        key_s,
    ]);
    #[rustfmt::skip]
    run(&["openssl", "req", "-new", "-x509", "-key", key_s, "-out", cert_s, "-days", "1", "-subj", "/CN=e2e-client"]);
    let fp = spki_sha256(&["openssl", "x509", "-in", cert_s, "-pubkey", "-noout"]);
    let port = "5555";
    topo.a.set(&format!(
        "peer add ossl endpoint {FABRIC_ADDR}:{port} fingerprint {fp} prefix 10.9.0.0/24"
    ));
    // s_client quits when its stdin closes: keep it open until the handshake's summary
    // is out (or 30 s passed), not for a fixed time.
    let transcript = dir.join("s_client.out");
    let t = transcript.to_str().expect("UTF-8");
    let cmd = format!(
        "(i=0; while [ $i -lt 300 ] && ! grep -q 'Verify return code' {t}; do sleep 0.1; i=$((i+1)); done) \
         | timeout 30 openssl s_client -dtls1_2 -connect {}:{DTLS_PORT} -bind {FABRIC_ADDR}:{port} -cert {cert_s} -key {key_s} -showcerts > {t} 2>&1; cat {t}",
        A.wan
    );
    std::fs::write(&transcript, "").expect("create the s_client transcript");
    let out = topo.fabric.output(&["sh", "-c", &cmd]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("Cipher is ECDHE-ECDSA-AES"),
        "s_client did not complete a DTLS 1.2 handshake with gateway A:\n{text}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        topo.logs()
    );
    if let Some(line) = text.lines().find(|l| l.contains("Cipher is")) {
        eprintln!("e2e s_client: {}", line.trim());
    }
    // The server certificate's key is gateway A's identity.
    let pem: String = text
        .split_inclusive('\n')
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .scan(false, |done, l| {
            if *done {
                return None;
            }
            *done = l.starts_with("-----END CERTIFICATE");
            Some(l)
        })
        .collect();
    let server_pem = dir.join("server.pem");
    std::fs::write(&server_pem, pem).expect("write server.pem");
    let server_fp = spki_sha256(&[
        "openssl",
        "x509",
        "-in",
        server_pem.to_str().expect("UTF-8"),
        "-pubkey",
        "-noout",
    ]);
    assert_eq!(
        server_fp, topo.fingerprints[0],
        "gateway A presented another identity"
    );
    let sessions = topo.a.cmd("sessions");
    assert!(
        sessions.contains("ossl"),
        "gateway A shows no session with s_client:\n{sessions}\n{}",
        topo.logs()
    );
}

/// SHA-256 of the DER SubjectPublicKeyInfo printed (as PEM) by `cmd`.
fn spki_sha256(cmd: &[&str]) -> String {
    let pubkey = String::from_utf8_lossy(&run(cmd).stdout).into_owned();
    let script = "openssl pkey -pubin -outform der | sha256sum";
    let mut child = std::process::Command::new("sh")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run openssl pkey");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(pubkey.as_bytes())
        .expect("write the key");
    let out = child.wait_with_output().expect("openssl pkey");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// Item g: loss, duplication and reordering on the fabric; the transfer completes
/// intact.
#[test]
fn transfer_survives_an_impaired_fabric() {
    let impaired = Fabric::Impaired {
        loss: 0.01,
        dup: 0.01,
        reorder: 0.03,
        seed: 7,
    };
    let mut topo = Topology::build("impaired", "im", ["microvm", "microvm"], impaired);
    assert!(
        topo.ping_until_reply(Duration::from_secs(60)).is_some(),
        "no tunnel over the impaired fabric\n{}",
        topo.logs()
    );
    let took = topo.transfer(TRANSFER, 5004, Duration::from_secs(600));
    let counts = topo.stop_impairer();
    eprintln!("e2e impaired: {TRANSFER} bytes in {took:?}; fabric {counts:?}");
    for what in ["lost", "duplicated", "reordered"] {
        assert!(
            counts.get(what).copied().unwrap_or(0) > 0,
            "the fabric forwarder did not impair the transfer ({what}): {counts:?}"
        );
    }
}

/// `make run`'s demo, without a terminal (it then skips the interactive console):
/// it shows the ping, an intact transfer, `X` flows and a DTLS-only fabric, and
/// removes what it created.
#[test]
fn make_run_demo_shows_the_tunnel() {
    netns::require_root();
    let elf =
        std::env::var_os("VNETCRYPT_E2E_KERNEL").map_or_else(vnetcrypt_tests::kernel, Into::into);
    let out = std::process::Command::new("python3")
        .arg(vnetcrypt_tests::repo_root().join("qemu/topology"))
        .args(["demo", "--size", "262144", "--kernel"])
        .arg(&elf)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run qemu/topology demo");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let logs = text
        .lines()
        .find(|l| l.contains("logs in "))
        .unwrap_or("(no log directory printed)")
        .trim()
        .to_string();
    assert!(
        out.status.success(),
        "the demo failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "4 packets transmitted, 4 received",
        "intact",
        ",O,C,X,",
        " 0 other; the transfer's payload in the clear: nowhere",
        "Client Hello",
        "you are at gateway A's console",
        "== removed the namespaces",
    ] {
        assert!(
            text.contains(expected),
            "the demo did not show {expected:?}:\n{text}\n(see {logs})"
        );
    }
    let pid = text
        .split("ip netns exec e2e-hostA-")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("the demo names its namespaces")
        .to_string();
    let spaces = String::from_utf8_lossy(&run(&["ip", "netns", "list"]).stdout).into_owned();
    assert!(
        !spaces.contains(&format!("-{pid}")),
        "the demo left namespaces:\n{spaces}"
    );
}
