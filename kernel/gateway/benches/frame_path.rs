//! `make bench` (bench-gateway): the copy-free frame path through two gateway engines
//! over the real DTLS engine (`ring`), whole frames in to whole frames out, next to raw
//! `ring` AES-128-GCM seal+open of the same sizes in the same run.
//!
//! Each packet: a buffer holding a lan frame is "received" on A's lan port; A turns it
//! into a whole wan frame in the same buffer (record sealed in place, outer
//! IPv4/UDP/Ethernet in the headroom), which goes to A's wan send queue, across the
//! wire to B's wan receive queue; B checks the outer headers, opens the record and
//! writes the lan Ethernet header, in the same buffer, onto B's lan send queue; the
//! buffer is reclaimed and reposted. Ports move descriptors (a buffer's index and the
//! frame's range), never bytes. Only the lan
//! frame's Ethernet header is rewritten per round (it comes back with B's MACs),
//! standing for the receiving NIC's DMA. Sizes are inner IPv4 packet lengths.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/raw_ring.rs"]
mod raw_ring;
#[path = "support/timing.rs"]
mod timing;

use std::collections::VecDeque;
use std::hint::black_box;
use std::ops::Range;
use std::time::Duration;

use common::dtls_net::Net;
use common::frames::{host_ip, FramePair};
use common::pkt;
use raw_ring::RawRing;
use timing::{imix, time_pair, ROUNDS};
use vnetcrypt_gateway::dtls::DtlsLayer;
use vnetcrypt_gateway::{FrameVerdict, Gateway};

type Gw = Gateway<DtlsLayer>;

/// One NIC queue: descriptors (a buffer's index in the pool, and the range of the
/// frame it holds), as a virtqueue holds them.
type Queue = VecDeque<(usize, Range<usize>)>;

/// The fake ports of the two nodes on the path A(lan) -> A(wan) -> B(wan) -> B(lan).
#[derive(Default)]
struct Ports {
    a_lan_rx: Queue,
    a_wan_tx: Queue,
    b_wan_rx: Queue,
    b_lan_tx: Queue,
}

/// Moves buffer `i` of `pool` along the whole path; the range of the lan frame B sent,
/// or `None` if anything else happened. The buffer ends up reclaimed either way.
fn forward(
    p: &mut FramePair<DtlsLayer>,
    ports: &mut Ports,
    pool: &mut [Vec<u8>],
    i: usize,
    len: usize,
) -> Option<Range<usize>> {
    let now = p.now;
    let [a, b] = &mut p.sides;
    ports
        .a_lan_rx
        .push_back((i, Gw::FRAME_OFFSET..Gw::FRAME_OFFSET + len));
    let (i, r) = ports.a_lan_rx.pop_front()?;
    let buf = &mut pool[i];
    match a
        .gw
        .process_lan_frame(now, buf, r.start, r.len(), &mut a.link)
    {
        FrameVerdict::ToWan(r) => ports.a_wan_tx.push_back((i, r)),
        _ => return None,
    }
    // The wire.
    let sent = ports.a_wan_tx.pop_front()?;
    ports.b_wan_rx.push_back(sent);
    let (i, r) = ports.b_wan_rx.pop_front()?;
    let buf = &mut pool[i];
    match b
        .gw
        .process_wan_frame(now, buf, r.start, r.len(), &mut b.link)
    {
        FrameVerdict::ToLan(r) => ports.b_lan_tx.push_back((i, r)),
        _ => return None,
    }
    // Reclaimed after sending, and reposted.
    ports.b_lan_tx.pop_front().map(|(_, r)| r)
}

fn main() {
    let mut net = Net::new(81, Duration::from_secs(3600));
    net.reconfigure(|_| {});
    let now = net.now;
    let [a, b] = net.sides;
    let mut pair = FramePair::new([a.gw, b.gw], now);
    pair.establish();
    let off = Gw::FRAME_OFFSET;
    let buf_len = pair.sides[0].gw.frame_buffer_len();
    let mut ports = Ports::default();

    println!(
        "frame path: two engines over fake ports, vnetcrypt-dtls (AES-128-GCM, ring), \
         whole frames in and out, vs raw ring AES-128-GCM seal+open, same run"
    );
    println!(
        "{:>6} | {:>9} {:>7} {:>8} | {:>9} {:>7} {:>8} | {:>5}",
        "size", "path ns", "Mpps", "Gbit/s", "aead ns", "Mpps", "Gbit/s", "ratio"
    );
    let cases: Vec<(String, Vec<usize>)> = vec![
        ("64".into(), vec![64]),
        ("512".into(), vec![512]),
        ("1400".into(), vec![1400]),
        ("IMIX".into(), imix()),
    ];
    for (name, sizes) in cases {
        let frames: Vec<Vec<u8>> = sizes
            .iter()
            .map(|s| {
                let ip = pkt::udp(host_ip(0), host_ip(1), 5000, 9, &vec![0x5a; s - 28], false);
                FramePair::<DtlsLayer>::lan_frame(0, &ip)
            })
            .collect();
        let avg_bytes = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
        let mut pool: Vec<Vec<u8>> = frames
            .iter()
            .map(|f| {
                let mut b = vec![0u8; buf_len];
                b[off..off + f.len()].copy_from_slice(f);
                b
            })
            .collect();
        // Check once that the path delivers, in place and intact.
        for (i, f) in frames.iter().enumerate() {
            let r = forward(&mut pair, &mut ports, &mut pool, i, f.len());
            assert_eq!(r, Some(off..off + f.len()), "forwarding works, in place");
            assert_eq!(&pool[i][off + 14..off + f.len()], &f[14..], "intact");
        }
        let copied = [0, 1].map(|i| pair.sides[i].gw.bytes_copied());
        let mut failures = 0u64;
        let mut raw_ring = RawRing::new(1600);
        let (path, raw) = time_pair(
            |i| {
                let f = &frames[i];
                pool[i][off..off + 14].copy_from_slice(&f[..14]);
                let r = forward(&mut pair, &mut ports, black_box(&mut pool), i, f.len());
                if r.map(|r| r.len()) != Some(f.len()) {
                    failures += 1;
                }
            },
            |i| raw_ring.seal_open(sizes[i]),
            &sizes,
        );
        assert_eq!(failures, 0);
        let after = [0, 1].map(|i| pair.sides[i].gw.bytes_copied());
        assert_eq!(after, copied, "no byte copied by the engines");
        let gbps = |ns: f64| avg_bytes * 8.0 / ns;
        println!(
            "{:>6} | {:>9.0} {:>7.2} {:>8.2} | {:>9.0} {:>7.2} {:>8.2} | {:>5.2}",
            name,
            path,
            1e3 / path,
            gbps(path),
            raw,
            1e3 / raw,
            gbps(raw),
            raw / path
        );
    }
    println!(
        "ratio = raw AEAD time / frame-path time (throughput ratio); target >= 0.85 at 1400 B"
    );
    println!(
        "(on-CPU time per packet, best of {ROUNDS} alternating rounds; engine bytes copied: 0)"
    );
}
