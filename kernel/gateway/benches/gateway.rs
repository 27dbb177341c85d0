//! `make bench` (bench-gateway): encapsulation + decapsulation through two gateway
//! engines in one process, next to the raw AEAD seal+open of the same sizes measured in
//! the same run. Sizes are inner IPv4 packet lengths; IMIX is 7×64 B, 4×576 B, 1×1400 B.
//! The gateway figure is everything both engines do per packet (parsing, policy, flow
//! accounting, MSS check, sealing, anti-replay, opening, anti-spoof, Ethernet header).
//! Frames are transformed in place and come back intact but for their Ethernet header,
//! which is restored before each round trip (standing for the NIC's DMA). The first
//! table's session layer is the test double with RustCrypto AES-128-GCM, the AEAD of
//! its raw figure; the second (feature `dtls`) is the real DTLS engine with `ring`.

#[path = "../tests/common/mod.rs"]
mod common;
#[cfg(feature = "dtls")]
#[path = "support/raw_ring.rs"]
mod raw_ring;
#[path = "support/timing.rs"]
mod timing;

use std::hint::black_box;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use common::pair::Pair;
use timing::{imix, time_pair, ROUNDS};

fn main() {
    let mut pair = Pair::new(71);
    let key: [u8; 16] = common::double::Rng::new(72).bytes32()[..16]
        .try_into()
        .unwrap();
    let aead = Aes128Gcm::new(&key.into());
    let off = Pair::FRAME_OFFSET;

    println!("gateway encap+decap (two engines, one core) vs raw AES-128-GCM seal+open, same run");
    println!(
        "{:>6} | {:>9} {:>7} {:>8} | {:>9} {:>7} {:>8} | {:>5}",
        "size", "gw ns/pkt", "Mpps", "Gbit/s", "aead ns", "Mpps", "Gbit/s", "ratio"
    );
    let cases: Vec<(String, Vec<usize>)> = vec![
        ("64".into(), vec![64]),
        ("512".into(), vec![512]),
        ("1400".into(), vec![1400]),
        ("IMIX".into(), imix()),
    ];
    for (name, sizes) in cases {
        let frames: Vec<Vec<u8>> = sizes.iter().map(|s| pair.frame(*s, 5000)).collect();
        let avg_bytes = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
        // Check once that the path delivers, so the figure is of real forwarding.
        let mut bufs: Vec<Vec<u8>> = frames.iter().map(|_| vec![0u8; 4096]).collect();
        for (f, b) in frames.iter().zip(bufs.iter_mut()) {
            b[off..off + f.len()].copy_from_slice(f);
            assert_eq!(pair.encap_decap(b, f.len()), f.len(), "forwarding works");
            assert_eq!(
                &b[off + 14..off + f.len()],
                &f[14..],
                "opened in place, intact"
            );
        }
        let mut failures = 0u64;
        let mut data = vec![0u8; 1600];
        let mut seq = 0u64;
        let (gw, raw) = time_pair(
            |i| {
                // Sealed and opened in place, the frame comes back intact but for its
                // Ethernet header: restoring that stands for the NIC's DMA.
                let (f, b) = (&frames[i], &mut bufs[i]);
                b[off..off + 14].copy_from_slice(&f[..14]);
                if pair.encap_decap(black_box(b), f.len()) != f.len() {
                    failures += 1;
                }
            },
            |i| {
                let len = sizes[i];
                seq += 1;
                let mut n = [0u8; 12];
                n[4..].copy_from_slice(&seq.to_be_bytes());
                let nonce = Nonce::from(n);
                let aad = [0u8; 13];
                let body = &mut data[..len];
                let tag: Tag = aead.encrypt_in_place_detached(&nonce, &aad, body).unwrap();
                aead.decrypt_in_place_detached(&nonce, &aad, black_box(body), &tag)
                    .unwrap();
            },
            &sizes,
        );
        assert_eq!(failures, 0);
        let gbps = |ns: f64| avg_bytes * 8.0 / ns;
        println!(
            "{:>6} | {:>9.0} {:>7.2} {:>8.2} | {:>9.0} {:>7.2} {:>8.2} | {:>5.2}",
            name,
            gw,
            1e3 / gw,
            gbps(gw),
            raw,
            1e3 / raw,
            gbps(raw),
            raw / gw
        );
    }
    println!("ratio = raw AEAD time / gateway time (throughput ratio); target >= 0.80 at 1400 B");
    println!("(times are on-CPU time per packet, best of {ROUNDS} alternating rounds)");
    #[cfg(feature = "dtls")]
    real_dtls();
}

/// The same through the real DTLS engine (its default `ring` AES-GCM backend), next to
/// raw `ring` AES-128-GCM seal+open.
#[cfg(feature = "dtls")]
fn real_dtls() {
    use common::dtls_net::{Gw, Net};
    use raw_ring::RawRing;

    let mut net = Net::new(73, std::time::Duration::from_secs(3600));
    net.host_send(0, b"warmup");
    net.host_send(1, b"warmup");
    net.run(300);
    assert_eq!(net.payloads(1).len(), 1, "the DTLS pair forwards");
    let off = Gw::HEADROOM;
    println!();
    println!("gateway over vnetcrypt-dtls (AES-128-GCM, ring) vs raw ring AES-128-GCM seal+open, same run");
    println!(
        "{:>6} | {:>9} {:>7} {:>8} | {:>9} {:>7} {:>8} | {:>5}",
        "size", "gw ns/pkt", "Mpps", "Gbit/s", "aead ns", "Mpps", "Gbit/s", "ratio"
    );
    let cases: Vec<(String, Vec<usize>)> = vec![
        ("64".into(), vec![64]),
        ("512".into(), vec![512]),
        ("1400".into(), vec![1400]),
        ("IMIX".into(), imix()),
    ];
    for (name, sizes) in cases {
        let frames: Vec<Vec<u8>> = sizes.iter().map(|s| net.frame(*s)).collect();
        let avg_bytes = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
        let mut bufs: Vec<Vec<u8>> = frames.iter().map(|_| vec![0u8; 4096]).collect();
        for (f, b) in frames.iter().zip(bufs.iter_mut()) {
            b[off..off + f.len()].copy_from_slice(f);
            assert_eq!(net.encap_decap(b, f.len()), f.len(), "forwarding works");
            assert_eq!(
                &b[off + 14..off + f.len()],
                &f[14..],
                "opened in place, intact"
            );
        }
        let mut failures = 0u64;
        let mut raw_ring = RawRing::new(1600);
        let (gw, raw) = time_pair(
            |i| {
                // Sealed and opened in place, the frame comes back intact but for its
                // Ethernet header: restoring that stands for the NIC's DMA.
                let (f, b) = (&frames[i], &mut bufs[i]);
                b[off..off + 14].copy_from_slice(&f[..14]);
                if net.encap_decap(black_box(b), f.len()) != f.len() {
                    failures += 1;
                }
            },
            |i| raw_ring.seal_open(sizes[i]),
            &sizes,
        );
        assert_eq!(failures, 0);
        let gbps = |ns: f64| avg_bytes * 8.0 / ns;
        println!(
            "{:>6} | {:>9.0} {:>7.2} {:>8.2} | {:>9.0} {:>7.2} {:>8.2} | {:>5.2}",
            name,
            gw,
            1e3 / gw,
            gbps(gw),
            raw,
            1e3 / raw,
            gbps(raw),
            raw / gw
        );
    }
}
