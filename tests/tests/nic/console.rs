//! The appliance's console as the NIC tests drive it: one line and its answer, and
//! the counters of the `interfaces` view. Shared by `nic.rs` and `nic_vf.rs`.

use super::vm::Vm;
use std::collections::BTreeMap;
use std::time::Duration;
use vnetcrypt_tests::PROMPT;

/// Types one console line and returns what came back up to the next prompt.
pub fn cmd(con: &mut Vm, line: &str) -> String {
    con.send(format!("{line}\r").as_bytes());
    con.wait_for(PROMPT, Duration::from_secs(30))
}

/// Like `cmd`, and fails on an `error:` answer.
pub fn set(con: &mut Vm, line: &str) {
    let out = cmd(con, line);
    assert!(!out.contains("error"), "{line:?} was refused:\n{out}");
}

/// The counters of one interface in the `interfaces` view, as `rx.packets`,
/// `drops.runt`, ... (every `name=value` on the lines of the interface's block).
pub fn counters(view: &str, role: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut inside = false;
    for line in view.lines() {
        let line = line.trim_end_matches('\r');
        if !line.starts_with(' ') {
            inside = line.starts_with(&format!("{role}:"));
            continue;
        }
        if !inside {
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(group) = words.next() else { continue };
        for w in words {
            if let Some((k, v)) = w.split_once('=') {
                if let Ok(v) = v.parse() {
                    out.insert(format!("{group}.{k}"), v);
                }
            }
        }
    }
    assert!(
        out.contains_key("rx.packets"),
        "no counters for {role} in:\n{view}"
    );
    out
}
