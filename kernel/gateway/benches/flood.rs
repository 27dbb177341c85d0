//! `make bench` (bench-gateway): how long a legitimate handshake between two gateway
//! engines over the real DTLS layer takes while gateway B is flooded with forged
//! ClientHellos and alerts, next to the same handshake without the flood, in one run.
//!
//! The engines run on the harness's virtual clock (1 ms steps); the flood is injected at
//! B every virtual millisecond: well-formed ClientHellos (fresh ones from strangers'
//! addresses and from A's endpoint, and replays of A's genuine ClientHellos as an
//! observer would send them), and plaintext fatal alerts from both. What B answers to A's
//! endpoint reaches A, as it would on the fabric. Two figures per case: the compute time
//! both engines (and the injected flood) took until the first packet crossed
//! (`std::time` wall time over batches of handshakes, best and median of interleaved
//! rounds: the machine is shared, and the best is the least disturbed), and the virtual
//! time it took.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use common::dtls_net::Net;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use vnetcrypt_dtls::{Config, Connection, Identity, PeerPolicy};
use vnetcrypt_gateway::Verdict;

const SEED: u64 = 21;
const ROUNDS: usize = 15;
/// Forged datagrams B receives per virtual millisecond during the flood.
const HELLOS_PER_MS: usize = 16;
const ALERTS_PER_MS: usize = 16;
/// A handshake that has not completed after this much virtual time is reported as such.
const GIVE_UP: Duration = Duration::from_secs(30);

fn wan(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, i as u8 + 1), 4433)
}

/// Well-formed ClientHellos (no cookie) from throwaway clients.
fn forged_hellos(n: usize) -> Vec<Vec<u8>> {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED + 100);
    let id = Identity::generate(&mut rng, "mallory").unwrap();
    let config = Arc::new(Config::new(id, PeerPolicy::AnyKey));
    (0..n)
        .map(|_| {
            let mut c = Connection::client(config.clone(), vnetcrypt_dtls::Instant::ZERO, &mut rng);
            let mut buf = [0u8; 1500];
            let len = c.poll_transmit(&mut buf).unwrap();
            buf[..len].to_vec()
        })
        .collect()
}

fn alert(seq: u64, description: u8) -> Vec<u8> {
    let mut r = vec![21, 0xfe, 0xfd, 0, 0];
    r.extend_from_slice(&seq.to_be_bytes()[2..]);
    r.extend_from_slice(&[0, 2, 2, description]);
    r
}

/// Gives `d` to gateway `to` as if from `from`; an answer to the other gateway's
/// endpoint is delivered there.
fn inject(n: &mut Net, to: usize, from: SocketAddrV4, d: &[u8]) {
    let now = n.now;
    let mut buf = d.to_vec();
    let len = buf.len();
    let reply = match n.sides[to]
        .gw
        .handle_wan_datagram(now, from, &mut buf, 0, len)
    {
        Verdict::ToPeer { to: dst, datagram } if dst == wan(1 - to) => Some(datagram.to_vec()),
        Verdict::ToWanClear { .. } => panic!("clear packet on wan under DropUnencrypted"),
        _ => None,
    };
    if let Some(mut r) = reply {
        let len = r.len();
        let _ = n.sides[1 - to]
            .gw
            .handle_wan_datagram(now, wan(to), &mut r, 0, len);
    }
}

struct Outcome {
    /// Wall time (ns) both engines and the flood took until the packet crossed, per
    /// handshake.
    compute_ns: u64,
    /// Virtual time until the packet crossed.
    virtual_ms: u64,
    forged: u64,
}

/// Handshakes per timed batch (a single one is about a millisecond).
const BATCH: usize = 8;

/// `BATCH` handshakes, each from a fresh pair (A starts it with a packet for B's side),
/// with the flood when `hellos` is given. The pairs (identities, engines) are made before
/// the clock starts.
fn handshakes(hellos: Option<&[Vec<u8>]>) -> Outcome {
    let mut nets: Vec<Net> = (0..BATCH)
        .map(|_| Net::new(SEED, Duration::from_secs(3600)))
        .collect();
    let mut rng = ChaCha20Rng::seed_from_u64(SEED + 7);
    let mut forged = 0u64;
    let mut virtual_ms = 0;
    let start = StdInstant::now();
    for n in nets.iter_mut() {
        let (f, v) = handshake(n, hellos, &mut rng);
        forged += f;
        virtual_ms = v;
    }
    Outcome {
        compute_ns: start.elapsed().as_nanos() as u64 / BATCH as u64,
        virtual_ms,
        forged: forged / BATCH as u64,
    }
}

/// Runs one handshake on `n`; the forged datagrams sent and the virtual time it took.
fn handshake(n: &mut Net, hellos: Option<&[Vec<u8>]>, rng: &mut ChaCha20Rng) -> (u64, u64) {
    let start_virtual = n.now;
    let mut forged = 0u64;
    n.host_send(0, b"first packet");
    while n.payloads(1).is_empty() && n.now - start_virtual < GIVE_UP {
        if let Some(hellos) = hellos {
            // Genuine ClientHellos seen on the fabric so far, replayed by an observer.
            let seen: Vec<Vec<u8>> = n
                .log
                .iter()
                .filter(|d| vnetcrypt_dtls::datagram_has_client_hello(d))
                .cloned()
                .collect();
            for i in 0..HELLOS_PER_MS {
                let r = rng.next_u32();
                let from = if i % 2 == 0 {
                    wan(0)
                } else {
                    SocketAddrV4::new(
                        Ipv4Addr::new(198, 51, 100, r as u8),
                        1024 + (r >> 16) as u16,
                    )
                };
                let d = match seen.get(i % 4) {
                    Some(g) if i % 4 == 0 => g.clone(),
                    _ => hellos[r as usize % hellos.len()].clone(),
                };
                inject(n, 1, from, &d);
            }
            for i in 0..ALERTS_PER_MS {
                let from = if i % 2 == 0 {
                    wan(0)
                } else {
                    SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, i as u8), 4433)
                };
                let description = 40 + (i as u8 % 12);
                inject(n, 1, from, &alert(u64::from(rng.next_u32()), description));
            }
            forged += (HELLOS_PER_MS + ALERTS_PER_MS) as u64;
        }
        n.step();
    }
    assert!(
        !n.payloads(1).is_empty(),
        "the handshake did not complete within {GIVE_UP:?} of virtual time"
    );
    assert!(n
        .log
        .iter()
        .all(|d| !d.windows(12).any(|w| w == b"first packet")));
    (forged, (n.now - start_virtual).as_millis() as u64)
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let hellos = forged_hellos(64);
    let (mut quiet, mut flooded) = (Vec::new(), Vec::new());
    // Interleaved, so that load from elsewhere on the machine hits both alike.
    for _ in 0..ROUNDS {
        quiet.push(handshakes(None));
        flooded.push(handshakes(Some(&hellos)));
    }
    let forged = flooded[0].forged;
    let best = |v: &[Outcome]| v.iter().map(|o| o.compute_ns).min().unwrap_or(0);
    let med = |v: &[Outcome]| median(v.iter().map(|o| o.compute_ns).collect());
    let (q_best, f_best) = (best(&quiet), best(&flooded));
    let (q_med, f_med) = (med(&quiet), med(&flooded));
    let q_ms = median(quiet.iter().map(|o| o.virtual_ms).collect());
    let f_ms = median(flooded.iter().map(|o| o.virtual_ms).collect());
    println!("legitimate handshake between two gateways (real DTLS), {ROUNDS} interleaved rounds");
    println!(
        "{:>20} | {:>15} | {:>17} | {:>10} | {:>11}",
        "case", "compute ms best", "compute ms median", "virtual ms", "forged at B"
    );
    let ms = |ns: u64| ns as f64 / 1e6;
    println!(
        "{:>20} | {:>15.2} | {:>17.2} | {:>10} | {:>11}",
        "no flood",
        ms(q_best),
        ms(q_med),
        q_ms,
        0
    );
    println!(
        "{:>20} | {:>15.2} | {:>17.2} | {:>10} | {:>11}",
        format!("flood {HELLOS_PER_MS}+{ALERTS_PER_MS} per ms"),
        ms(f_best),
        ms(f_med),
        f_ms,
        forged
    );
    let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
    println!(
        "flood / no flood: compute {:.2}x (best), {:.2}x (median); virtual time {:.2}x",
        ratio(f_best, q_best),
        ratio(f_med, q_med),
        ratio(f_ms, q_ms)
    );
}
