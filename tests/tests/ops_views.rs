//! Operations end to end (issue 16): the health line, the JSON views over the serial
//! console (parsed by serde_json) and the event log exported as RFC 5424 syslog to a
//! real receiver: rsyslog in hostA's namespace, with a temporary configuration (imudp
//! on 10.1.0.10:5514, a template that writes the fields rsyslog parsed). Gateway A
//! sends on lan; gateway B's messages travel through the tunnel to A's lan (never in
//! the clear on the fabric). One boot of the two-gateway topology serves every
//! assertion. Root needed, like the other end-to-end tests (`make test-ops-views`).
#![cfg(feature = "nic")]

#[allow(dead_code)]
#[path = "nic/netns.rs"]
mod netns;

#[allow(dead_code)]
#[path = "../src/e2e/mod.rs"]
mod e2e;

use e2e::gateway::Gateway;
use e2e::topology::{Fabric, Topology, A};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SYSLOG_PORT: u16 = 5514;

/// rsyslog's configuration: UDP input on hostA's address, one line per message with
/// the fields it parsed, separated by `|`.
fn rsyslog_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "global(workDirectory=\"{d}\")\n\
         module(load=\"imudp\")\n\
         template(name=\"fields\" type=\"string\" \
         string=\"%msgid%|%app-name%|%hostname%|%syslogseverity-text%|%structured-data%|%msg%\\n\")\n\
         ruleset(name=\"vnetcrypt\") {{ action(type=\"omfile\" file=\"{d}/events.log\" template=\"fields\") }}\n\
         input(type=\"imudp\" address=\"{}\" port=\"{SYSLOG_PORT}\" ruleset=\"vnetcrypt\")\n",
        A.host
    )
}

/// The parsed messages so far: `[msgid, app-name, hostname, severity, sd, msg]`.
fn received(log: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| l.splitn(6, '|').map(str::to_string).collect())
        .collect()
}

/// Waits until rsyslog has written a message that `want` accepts.
fn wait_for_message(
    log: &Path,
    what: &str,
    topo: &Topology,
    want: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let start = Instant::now();
    loop {
        if let Some(m) = received(log).into_iter().find(|m| want(m)) {
            return m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "rsyslog parsed no {what} within 60 s; it has:\n{}\n{}",
            std::fs::read_to_string(log).unwrap_or_default(),
            topo.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs a `... json` view and parses the one document it prints.
fn json(gw: &mut Gateway, line: &str) -> serde_json::Value {
    let out = gw.cmd(line);
    let doc = out
        .lines()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("{line}: no JSON document in {out:?}"));
    let value = serde_json::from_str(doc.trim()).unwrap_or_else(|e| panic!("{line}: {e}: {doc}"));
    // Python's own parser accepts it too (what a script over the serial line uses).
    let mut tool = Command::new("python3")
        .args(["-m", "json.tool"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    tool.stdin
        .take()
        .expect("stdin")
        .write_all(doc.trim().as_bytes())
        .expect("write to json.tool");
    let out = tool.wait_with_output().expect("json.tool");
    assert!(
        out.status.success(),
        "{line}: python3 -m json.tool refused it: {}\n{doc}",
        String::from_utf8_lossy(&out.stderr)
    );
    value
}

#[test]
fn health_json_views_and_syslog_to_rsyslog() {
    let mut topo = Topology::build("ops", "op", ["microvm", "microvm"], Fabric::Bridge);
    let dir = topo.logs.path().join("rsyslog");
    std::fs::create_dir_all(&dir).expect("rsyslog directory");
    let conf = dir.join("rsyslog.conf");
    std::fs::write(&conf, rsyslog_conf(&dir)).expect("rsyslog.conf");
    let log = dir.join("events.log");
    let (conf_s, pid) = (conf.to_str().unwrap(), dir.join("rsyslogd.pid"));
    let _rsyslog =
        topo.host_a
            .spawn(&["rsyslogd", "-n", "-f", conf_s, "-i", pid.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(500));

    let server = format!("syslog {}:{SYSLOG_PORT}", A.host);
    topo.a.set(&server);
    topo.b.set(&server);
    // A's own events leave on lan at once: its boot and the change just made.
    let boot = wait_for_message(&log, "BOOT from A", &topo, |m| {
        m[0] == "BOOT" && m[2] == A.lan
    });
    assert_eq!(boot[1], "vnetcrypt");
    assert!(boot[4].contains("vnetcrypt@32473 version="), "{boot:?}");
    let change = wait_for_message(&log, "CONFIG_CHANGED from A", &topo, |m| {
        m[0] == "CONFIG_CHANGED" && m[2] == A.lan
    });
    assert!(
        change[4].contains(&format!("added=\"{server}\"")),
        "{change:?}"
    );

    // A handshake: both gateways report it, B's messages through the tunnel.
    assert!(
        topo.ping_until_reply(Duration::from_secs(60)).is_some(),
        "no tunnel\n{}",
        topo.logs()
    );
    for host in [A.lan, "10.2.0.1"] {
        let ok = wait_for_message(&log, &format!("HANDSHAKE_OK from {host}"), &topo, |m| {
            m[0] == "HANDSHAKE_OK" && m[2] == host
        });
        assert!(ok[4].contains("suite=\"ECDHE-ECDSA-AES"), "{ok:?}");
        assert_eq!(ok[3], "info");
        let up = wait_for_message(&log, &format!("PEER_UP from {host}"), &topo, |m| {
            m[0] == "PEER_UP" && m[2] == host
        });
        assert!(up[4].contains("peer=\"gw-"), "{up:?}");
        assert_eq!(up[3], "notice");
    }
    topo.b.set("keepalive interval 5");
    let change = wait_for_message(&log, "B's CONFIG_CHANGED", &topo, |m| {
        m[0] == "CONFIG_CHANGED" && m[2] == "10.2.0.1" && m[4].contains("keepalive interval 5")
    });
    assert!(change[5].contains("configuration changed"), "{change:?}");

    // Health at the top of status, and the JSON views.
    let status = topo.a.cmd("status");
    assert!(
        status.contains("health    1 peers: 1 up, 0 down, 0 failing; enforcement drop; uptime "),
        "{status}"
    );
    let peers = json(&mut topo.a, "peers json");
    assert_eq!(peers["peers"][0]["name"], "gw-b");
    assert_eq!(peers["peers"][0]["state"], "up");
    assert!(peers["peers"][0]["sent"]["records"].as_u64().unwrap() > 0);
    let sessions = json(&mut topo.a, "sessions json");
    assert_eq!(sessions["sessions"][0]["state"], "up");
    assert!(sessions["sessions"][0]["suite"].is_string());
    let counters = json(&mut topo.b, "counters json");
    assert!(
        counters["syslog"]["tunnelled"].as_u64().unwrap() >= 3,
        "{counters}"
    );
    let flows = json(&mut topo.a, "flows json");
    assert!(
        flows["flows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["protocol"] == 1 && f["encryption"] == "X"),
        "{flows}"
    );
    let events = json(&mut topo.a, "events json");
    assert!(events["events"].as_array().unwrap().len() >= 4, "{events}");
    let text = topo.a.cmd("events 3");
    assert!(text.contains("events: "), "{text}");
    eprintln!("ops: status\n{status}\nevents\n{text}");
    for view in ["peers", "sessions", "peers json"] {
        eprintln!("ops: {view}\n{}", topo.a.cmd(view));
    }
    eprintln!(
        "ops: rsyslog parsed\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
