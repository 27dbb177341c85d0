//! Two established gateways (the simulation's, with the session double, each with a
//! route on lan) fed arbitrary lan frames, wan datagrams (raw, or genuine records with bytes flipped), plaintext
//! wan packets and timer ticks. Nothing may panic; every wan input is counted.
//! Input: chunks of [kind, len_hi, len_lo, advance_ms, bytes...].
#![no_main]

#[path = "../../kernel/gateway/tests/common/mod.rs"]
#[allow(dead_code, unused_imports)]
mod common;

use common::pair::Pair;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let mut pair = Pair::new(1);
    // Routed prefixes behind lan routers on both sides, so that arbitrary lan frames
    // meet the routed-source check and opened packets the routed delivery.
    for (gw, route) in [
        (&mut pair.a, "10.244.1.0/24 10.1.0.20"),
        (&mut pair.b, "10.245.0.0/16 10.2.0.20"),
    ] {
        let (prefix, via) = route.split_once(' ').unwrap();
        let r = vnetcrypt_gateway::LanRoute {
            prefix: prefix.parse().unwrap(),
            via: via.parse().unwrap(),
        };
        gw.set_routes(&[r]).unwrap();
    }
    let off = Pair::FRAME_OFFSET;
    let genuine = pair.frame(200, 4000);
    let mut wan_inputs = 0u64;
    let start_rx = pair.b.counters().wan.rx_packets;
    let mut rest = data;
    while rest.len() >= 4 {
        let (kind, len, adv) = (
            rest[0],
            usize::from(u16::from_be_bytes([rest[1], rest[2]])),
            rest[3],
        );
        rest = &rest[4..];
        let n = len.min(rest.len()).min(1600);
        let bytes = &rest[..n];
        rest = &rest[n..];
        pair.now = pair.now + Duration::from_millis(u64::from(adv));
        let now = pair.now;
        let mut buf = vec![0u8; 4096];
        match kind % 4 {
            0 => {
                buf[off..off + n].copy_from_slice(bytes);
                let _ = pair.a.handle_lan_frame(now, &mut buf, off, n);
            }
            1 => {
                buf[..n].copy_from_slice(bytes);
                let from = pair.a.config().wan_endpoint;
                let _ = pair.b.handle_wan_datagram(now, from, &mut buf, 0, n);
                wan_inputs += 1;
            }
            2 => {
                buf[14..14 + n].copy_from_slice(bytes);
                let _ = pair.b.handle_wan_packet(now, &mut buf, 14, n);
                wan_inputs += 1;
            }
            _ => {
                // A genuine record from A, with the fuzz bytes XORed into it.
                buf[off..off + genuine.len()].copy_from_slice(&genuine);
                let (start, dlen) = match pair.a.handle_lan_frame(now, &mut buf, off, genuine.len())
                {
                    vnetcrypt_gateway::Verdict::ToPeer { datagram, .. } => {
                        (datagram.as_ptr() as usize, datagram.len())
                    }
                    _ => continue,
                };
                let s = start - buf.as_ptr() as usize;
                for (i, b) in bytes.iter().enumerate() {
                    if let Some(x) = buf.get_mut(s + i % dlen.max(1)) {
                        *x ^= b;
                    }
                }
                let from = pair.a.config().wan_endpoint;
                let _ = pair.b.handle_wan_datagram(now, from, &mut buf, s, dlen);
                wan_inputs += 1;
            }
        }
        for gw in [&mut pair.a, &mut pair.b] {
            if gw.poll_timeout().is_some_and(|t| t <= now) {
                gw.handle_timeout(now);
            }
            let mut out = vec![0u8; 4096];
            let mut guard = 0;
            while gw.poll_transmit(now, &mut out).is_some() && guard < 1000 {
                guard += 1;
            }
        }
    }
    assert_eq!(pair.b.counters().wan.rx_packets - start_rx, wan_inputs);
});
