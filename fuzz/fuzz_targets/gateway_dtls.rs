//! Two gateways over the REAL DTLS session layer (`vnetcrypt_gateway::dtls::DtlsLayer`,
//! the `dtls` feature) attacked from the fabric.
//!
//! Every input starts from the same established tunnel: identities come from a seeded
//! RNG at run time (no committed keys), a first packet each way completes the handshake
//! deterministically, and every genuine wan datagram so far is kept (what an observing
//! attacker saw). The input is then a sequence of attacker actions: datagrams into
//! either gateway from the peer's endpoint, another port of it, or a stranger (raw
//! bytes, replayed or bit-flipped genuine datagrams, forged alerts, ClientHellos alone
//! or behind a ChangeCipherSpec), clock advances (up to past handshake and rekey
//! timers), and lan packets. Nothing may panic, and under DropUnencrypted no packet may
//! leave in the clear on wan (the harness panics on any).
//!
//! Input: chunks of [action, side/source, a, b, len, bytes...]. A seed corpus is
//! written at start-up into the corpus directory given on the command line when it is
//! empty (see `seed_corpus`): nothing binary is committed.
#![no_main]

#[path = "../../kernel/gateway/tests/common/mod.rs"]
#[allow(dead_code, unused_imports)]
mod common;

use common::dtls_net::Net;
use libfuzzer_sys::fuzz_target;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::OnceLock;
use std::time::Duration;
use vnetcrypt_gateway::Verdict;

const SEED: u64 = 11;
/// Rekeys never come from the timer here unless the fuzzer jumps the clock that far.
const REKEY: Duration = Duration::from_secs(600);
const MAX_ACTIONS: usize = 48;

/// The endpoint gateway `i` listens on (as `common::dtls_net` builds them).
fn wan(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, i as u8 + 1), 4433)
}

/// Two gateways with an established tunnel, and the wan datagrams that crossed.
fn established() -> (Net, Vec<Vec<u8>>) {
    let mut n = Net::new(SEED, REKEY);
    n.host_send(0, b"warmup-0");
    n.run(300);
    n.host_send(1, b"warmup-1");
    n.run(50);
    assert_eq!(n.payloads(1).len(), 1, "the first handshake completes");
    assert_eq!(n.payloads(0).len(), 1);
    let log = n.log.clone();
    (n, log)
}

/// The genuine datagrams, computed once (a handshake costs milliseconds; every input
/// still builds its own gateways, so no state leaks between inputs).
fn genuine_log() -> &'static Vec<Vec<u8>> {
    static LOG: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(|| established().1)
}

/// Hands `d` to gateway `to` as if sent from `from`; whatever it answers to the other
/// gateway's endpoint is delivered there (answers to strangers are dropped).
fn inject(n: &mut Net, to: usize, from: SocketAddrV4, d: &[u8]) {
    let now = n.now;
    let mut buf = d.to_vec();
    let len = buf.len();
    let reply = match n.sides[to]
        .gw
        .handle_wan_datagram(now, from, &mut buf, 0, len)
    {
        Verdict::ToWanClear { .. } => panic!("clear packet on wan under DropUnencrypted"),
        Verdict::ToPeer { to: dst, datagram } if dst == wan(1 - to) => Some(datagram.to_vec()),
        _ => None,
    };
    if let Some(r) = reply {
        let len = r.len();
        let mut r = r;
        if let Verdict::ToWanClear { .. } =
            n.sides[1 - to]
                .gw
                .handle_wan_datagram(now, wan(to), &mut r, 0, len)
        {
            panic!("clear packet on wan under DropUnencrypted");
        }
    }
}

fn record(content_type: u8, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 0xfe, 0xfd];
    r.extend_from_slice(&epoch.to_be_bytes());
    r.extend_from_slice(&seq.to_be_bytes()[2..]);
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn run_actions(data: &[u8]) {
    let (mut n, log) = established();
    let hellos: Vec<&Vec<u8>> = log
        .iter()
        .filter(|d| vnetcrypt_dtls::datagram_has_client_hello(d))
        .collect();
    let mut rest = data;
    for _ in 0..MAX_ACTIONS {
        let [op, who, a, b, len, tail @ ..] = rest else {
            break;
        };
        let n_bytes = usize::from(*len).min(tail.len());
        let (bytes, after) = tail.split_at(n_bytes);
        rest = after;
        let to = usize::from(who & 1);
        let from = match (who >> 1) % 3 {
            0 => wan(1 - to),
            1 => SocketAddrV4::new(*wan(1 - to).ip(), 4434 + u16::from(*a)),
            _ => SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, *a), 4433),
        };
        match op % 8 {
            0 => inject(&mut n, to, from, bytes),
            1 => {
                // A genuine datagram again, possibly with some bytes flipped.
                if let Some(g) = log.get(usize::from(*a) % log.len().max(1)) {
                    let mut d = g.clone();
                    for (i, x) in bytes.iter().enumerate() {
                        let at = (usize::from(*b) + i) % d.len().max(1);
                        if let Some(y) = d.get_mut(at) {
                            *y ^= x;
                        }
                    }
                    inject(&mut n, to, from, &d);
                }
            }
            2 => n.run(1 + u64::from(*a)),
            3 => n.host_send(to, bytes),
            4 => {
                // A plaintext alert (any level and description), epoch 0 or 1.
                let d = record(21, u16::from(b & 1), u64::from(*a), &[*a, *b]);
                inject(&mut n, to, from, &d);
            }
            5 => {
                // A ClientHello that crossed, alone or behind a ChangeCipherSpec.
                if let Some(h) = hellos.get(usize::from(*a) % hellos.len().max(1)) {
                    let mut d = Vec::new();
                    if b & 1 == 1 {
                        d = record(20, 0, u64::from(*b), &[1]);
                    }
                    d.extend_from_slice(h);
                    inject(&mut n, to, from, &d);
                }
            }
            6 => {
                // Time passes with nothing arriving: handshake timers, rekey, liveness.
                n.now = n.now + Duration::from_secs(u64::from(*a));
                n.run(1 + u64::from(*b));
            }
            _ => {
                // Many datagrams at once: the same forged bytes `a` times.
                for _ in 0..(*a % 32) {
                    inject(&mut n, to, from, bytes);
                }
            }
        }
    }
    // The tunnel still runs its timers and traffic after the attack without panicking or
    // leaking in the clear.
    n.host_send(0, b"after");
    n.host_send(1, b"after");
    n.run(300);
}

/// Writes a few inputs built from the genuine traffic into the corpus directory on the
/// command line, if it is empty: replays of each genuine datagram into both gateways,
/// ClientHellos from the peer and from strangers, alert floods, time jumps.
fn seed_corpus() {
    let Some(dir) = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-') && std::path::Path::new(a).is_dir())
    else {
        return;
    };
    let empty = std::fs::read_dir(&dir).map_or(false, |mut d| d.next().is_none());
    if !empty {
        return;
    }
    let log = genuine_log();
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for i in 0..log.len().min(40) {
        seeds.push(vec![
            1, 0, i as u8, 0, 0, 1, 1, i as u8, 0, 0, 2, 0, 50, 0, 0,
        ]);
    }
    seeds.push(vec![
        5, 0, 0, 0, 0, 5, 1, 1, 1, 0, 5, 4, 7, 0, 0, 2, 0, 200, 0, 0,
    ]);
    seeds.push(vec![
        4, 0, 0, 2, 0, 4, 1, 0, 40, 0, 7, 0, 31, 0, 2, 21, 0xfe, 6, 0, 0,
    ]);
    seeds.push(vec![
        6, 0, 200, 10, 0, 3, 0, 0, 0, 4, 1, 2, 3, 4, 6, 1, 250, 200, 0,
    ]);
    seeds.push(vec![
        0, 4, 9, 0, 16, 22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 3, 1, 0, 0,
    ]);
    for (i, s) in seeds.iter().enumerate() {
        let _ = std::fs::write(format!("{dir}/seed-{i:03}"), s);
    }
}

fuzz_target!(init: { seed_corpus(); }, |data: &[u8]| {
    run_actions(data);
});
