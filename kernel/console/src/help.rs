//! `help`: every command with its usage, what it does and an example.

use core::fmt::{self, Write};

/// One entry of the help: the topic (first word), usage, summary and an example.
struct Entry {
    topic: &'static str,
    usage: &'static str,
    what: &'static str,
    example: &'static str,
}

const fn e(
    topic: &'static str,
    usage: &'static str,
    what: &'static str,
    example: &'static str,
) -> Entry {
    Entry {
        topic,
        usage,
        what,
        example,
    }
}

const FP: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// Every command, in the order `help` lists them.
const ENTRIES: &[Entry] = &[
    e("help", "help [COMMAND]", "list commands, or explain one", "help peer"),
    e("version", "version", "show the appliance version", "version"),
    e("status", "status", "health at a glance (peers configured/up/down/failing, enforcement, uptime), boot time, memory, CPU crypto features, devices", "status"),
    e("identity", "identity [show]", "this appliance's public key and its fingerprint", "identity"),
    e("identity", "identity next", "make the next identity key and show its fingerprint; the current key keeps serving (peers pin both: fingerprint OLD,NEW)", "identity next"),
    e("identity", "identity rotate", "handshakes use the next key from now on; every tunnel rekeys at once, without loss; the old key stays as the next one (rotate again goes back)", "identity rotate"),
    e("identity", "identity retire", "forget the next key (after a rotation: the old one)", "identity retire"),
    e("interface", "interfaces", "addresses, driver state, MTU and counters of wan and lan", "interfaces"),
    e("interface", "interface roles wan-lan|lan-wan", "which NIC is wan: the first (default) or the second", "interface roles lan-wan"),
    e("interface", "interface wan|lan address A.B.C.D/LEN|none", "static IPv4 address", "interface lan address 10.1.0.1/24"),
    e("interface", "interface wan|lan gateway A.B.C.D|none", "default gateway", "interface wan gateway 192.0.2.254"),
    e("interface", "interface wan dhcp on|off", "DHCPv4 on wan", "interface wan dhcp on"),
    e("interface", "interface wan|lan mtu 576-9000", "interface MTU", "interface wan mtu 1500"),
    e("listen", "listen port PORT", "UDP port for DTLS on wan (default 4433)", "listen port 4433"),
    e("enforcement", "enforcement allow|drop", "AllowUnencrypted or DropUnencrypted, globally (default drop)", "enforcement allow"),
    e("private", "private PREFIX[,PREFIX...]|default", "destinations that count as private", "private 10.0.0.0/8,192.168.0.0/16"),
    e("proxy-arp", "proxy-arp on|off", "answer ARP on lan for peer prefixes", "proxy-arp on"),
    e("peer", "peers | peer list", "per peer: endpoint (configured or learned), idle/connecting/up/down, since when, last handshake, last authenticated record, suite, records and bytes each way, rekeys, last failure, endpoint moves, pin in use", "peers"),
    e("peer", "peers json", "the same as one JSON document on one line", "peers json"),
    e("peer", "peer show NAME", "one peer in detail (fingerprint, prefixes, counters)", "peer show gw-b"),
    e("peer", "peer add NAME [endpoint A.B.C.D:PORT|none] fingerprint HEX[,HEX] prefix P[,P...] [enforcement allow|drop] [transit on|off]",
      "add a peer gateway; without an endpoint it calls us (behind NAT) and its address is learned from its handshake; two fingerprints are both accepted (identity rotation)", FP),
    e("peer", "peer set NAME [endpoint A.B.C.D:PORT|none] [fingerprint HEX[,HEX]] [prefix ..] [enforcement allow|drop|default] [transit on|off]",
      "change a peer (endpoint and fingerprints change without cutting its tunnel)", "peer set gw-b enforcement drop"),
    e("peer", "peer remove NAME", "remove a peer", "peer remove gw-b"),
    e("peer", "peer set NAME transit on|off", "hub-and-spoke: relay traffic opened from this peer to other transit peers, re-sealed (default off; also on 'peer add')", "peer set spoke-a transit on"),
    e("route", "routes | route show", "routes on lan: prefix, next hop, whether the next hop's MAC is resolved", "routes"),
    e("route", "route add PREFIX via A.B.C.D", "protect a prefix behind a lan router (pod range, subnet, VIP); the next hop must be on the lan subnet", "route add 10.244.1.0/24 via 10.1.0.20"),
    e("route", "route remove PREFIX", "remove a route on lan", "route remove 10.244.1.0/24"),
    e("rekey", "rekey interval SECONDS", "rekey sessions after this long (default 3600)", "rekey interval 600"),
    e("rekey", "rekey records COUNT", "rekey after this many records under one key (default 2^32)", "rekey records 1000000"),
    e("keepalive", "keepalive interval SECONDS", "idle tunnels send an authenticated keepalive this often (default 10)", "keepalive interval 10"),
    e("dead-peer", "dead-peer after SECONDS", "a peer with no authenticated record this long is down (default 30; longer than the keepalive interval)", "dead-peer after 30"),
    e("fallback", "fallback after SECONDS", "allow only: traffic to a peer goes clear only after every handshake failed this long (default 30)", "fallback after 60"),
    e("sessions", "sessions", "DTLS sessions: peer, endpoint, state (the words of 'peers') and for how long, suite, age, records and bytes each way, rekeys, last failure", "sessions"),
    e("sessions", "sessions json", "the same as one JSON document on one line", "sessions json"),
    e("counters", "counters", "counters per interface, per peer and per drop reason", "counters"),
    e("counters", "counters json", "the same as one JSON document on one line", "counters json"),
    e("flows", "flows", "flow log tuples (Azure VNet flow log v4)", "flows"),
    e("flows", "flows json", "the flow tuples as one JSON document on one line", "flows json"),
    e("events", "events [N]", "the newest N events (all kept if no N): boot, handshakes, peer up/down, rekeys, endpoint moves, configuration changes and saves, disk errors", "events 20"),
    e("events", "events json", "the kept events as one JSON document on one line", "events json"),
    e("syslog", "syslog A.B.C.D:PORT | syslog off", "send events as RFC 5424 syslog over UDP; the server must be on the lan subnet or behind a peer (sent through its tunnel), never clear on wan", "syslog 10.1.0.9:514"),
    e("collector", "collector A.B.C.D:PORT [interval SECONDS] | collector off", "export flow records as JSON lines over UDP; the collector must be on the lan subnet or behind a peer (sent through its tunnel), never clear on wan", "collector 10.1.0.9:5140 interval 60"),
    e("metrics", "metrics on [port PORT] | metrics off", "Prometheus metrics over HTTP on the lan address only (GET /metrics; default port 9100; off by default)", "metrics on port 9100"),
    e("ntp", "ntp A.B.C.D | ntp off", "set the wall clock from an SNTP server on the lan subnet (the RTC until its first good answer)", "ntp 10.1.0.5"),
    e("time", "time", "the wall clock: source (rtc or sntp), last sync, offset, delay", "time"),
    e("config", "config show", "the running configuration as commands", "config show"),
    e("config", "config save", "persist the running configuration to disk", "config save"),
    e("config", "config reset", "back to defaults (the identity is kept)", "config reset"),
    e("config", "config initialize confirm", "after an unreadable configuration disk: start anew (new identity if none; the next 'config save' overwrites the disk)", "config initialize confirm"),
    e("reboot", "reboot", "restart the appliance", "reboot"),
    e("poweroff", "poweroff", "stop the appliance", "poweroff"),
];

/// Writes the command list, or the usage and examples of one topic.
pub fn write_help(topic: Option<&str>, w: &mut dyn Write) -> fmt::Result {
    let Some(topic) = topic else {
        w.write_str("commands (help COMMAND for examples):\r\n")?;
        for e in ENTRIES {
            write!(w, "  {}\r\n      {}\r\n", e.usage, e.what)?;
        }
        return w.write_str("keys: backspace edits, ^U clears the line, ^C abandons it\r\n");
    };
    // Plural views share the topic of their noun.
    let topic = match topic {
        "peers" => "peer",
        "interfaces" => "interface",
        "routes" => "route",
        t => t,
    };
    let mut found = false;
    for e in ENTRIES.iter().filter(|e| e.topic == topic) {
        let example = if e.example == FP {
            "peer add gw-b endpoint 192.0.2.2:4433 fingerprint 9f86d0...0a08 prefix 10.2.0.0/24"
        } else {
            e.example
        };
        write!(
            w,
            "{}\r\n    {}\r\n    example: {example}\r\n",
            e.usage, e.what
        )?;
        found = true;
    }
    if !found {
        write!(w, "error: no help for '{topic}' (try 'help')\r\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn lists_every_command() {
        let mut out = String::new();
        write_help(None, &mut out).unwrap();
        for e in ENTRIES {
            assert!(out.contains(e.usage), "{} missing from help", e.usage);
        }
    }

    #[test]
    fn explains_one_topic_with_examples() {
        let mut out = String::new();
        write_help(Some("peer"), &mut out).unwrap();
        assert!(out.contains("peer add NAME [endpoint"), "{out}");
        assert!(out.contains("example: peer remove gw-b"), "{out}");
        let mut out = String::new();
        write_help(Some("frobnicate"), &mut out).unwrap();
        assert!(out.starts_with("error: no help for 'frobnicate'"), "{out}");
    }

    #[test]
    fn every_example_parses() {
        for e in ENTRIES {
            let example = if e.example == FP {
                std::format!(
                    "peer add gw-b endpoint 192.0.2.2:4433 fingerprint {FP} prefix 10.2.0.0/24"
                )
            } else {
                e.example.into()
            };
            assert!(
                crate::parse(&example).is_ok(),
                "example '{example}' does not parse: {:?}",
                crate::parse(&example)
            );
        }
    }

    #[test]
    fn every_topic_has_help() {
        for t in ENTRIES.iter().map(|e| e.topic) {
            let mut out = String::new();
            write_help(Some(t), &mut out).unwrap();
            assert!(!out.starts_with("error"), "{t}");
        }
    }
}
