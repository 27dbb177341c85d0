//! `make bench`: handshakes per second, and record seal/open nanoseconds next to raw
//! `ring` and `openssl speed`, all measured in this run. Medians of several rounds.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant as StdInstant;
use vnetcrypt_dtls::crypto::aead::{all_backends, AeadKey};
use vnetcrypt_dtls::record::{
    ContentType, OpeningKey, RecordLimits, SealingKey, HEADER_ROOM, TAG_ROOM,
};
use vnetcrypt_dtls::{
    Accept, AeadBackend, CipherSuite, ClientAuth, Config, Connection, Endpoint, Identity, Instant,
    PeerPolicy,
};

const SIZES: [usize; 3] = [64, 512, 1400];
const ROUNDS: usize = 21;
const BATCH: usize = 1024;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn handshakes_per_second() -> (f64, usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let cid = Identity::generate(&mut rng, "bench-client").unwrap();
    let sid = Identity::generate(&mut rng, "bench-server").unwrap();
    let client_cfg = Arc::new(Config::new(
        cid.clone(),
        PeerPolicy::Pinned(vec![sid.fingerprint()]),
    ));
    let mut server_cfg = Config::new(sid, PeerPolicy::Pinned(vec![cid.fingerprint()]));
    server_cfg.client_auth = ClientAuth::Require;
    let mut endpoint = Endpoint::new(Arc::new(server_cfg), &mut rng);
    let now = Instant::from_millis(1);
    let start = StdInstant::now();
    let mut done = 0;
    let mut buf = [0u8; 2048];
    while start.elapsed().as_secs_f64() < 3.0 {
        let mut client = Connection::client(client_cfg.clone(), now, &mut rng);
        let mut server: Option<Connection> = None;
        for _ in 0..20 {
            let mut to_server = Vec::new();
            while let Some(n) = client.poll_transmit(&mut buf) {
                to_server.push(buf[..n].to_vec());
            }
            for d in to_server {
                match server.as_mut() {
                    Some(s) => s.handle_datagram(now, &d),
                    None => {
                        match endpoint.handle_datagram(now, b"client", &d, &mut buf, &mut rng) {
                            Accept::Reply(n) => client.handle_datagram(now, &buf[..n]),
                            Accept::Connection(c) => server = Some(*c),
                            Accept::Ignore => {}
                        }
                    }
                }
            }
            if let Some(s) = server.as_mut() {
                while let Some(n) = s.poll_transmit(&mut buf) {
                    let d = buf[..n].to_vec();
                    client.handle_datagram(now, &d);
                }
            }
            if client.is_established() && server.as_ref().is_some_and(|s| s.is_established()) {
                break;
            }
        }
        assert!(client.is_established(), "bench handshake failed");
        done += 1;
    }
    (done as f64 / start.elapsed().as_secs_f64(), done)
}

/// One round: (seal ns, open ns) per record through the record layer.
fn record_layer(backend: AeadBackend, key_len: usize, size: usize) -> (f64, f64) {
    let key = vec![0x11u8; key_len];
    let rec_len = HEADER_ROOM + size + TAG_ROOM;
    {
        let mut s = SealingKey::new(
            AeadKey::new(backend, &key).unwrap(),
            [1; 4],
            1,
            RecordLimits::default(),
        );
        let mut o = OpeningKey::new(
            AeadKey::new(backend, &key).unwrap(),
            [1; 4],
            1,
            RecordLimits::default(),
        );
        let mut records = vec![0u8; rec_len * BATCH];
        let t = StdInstant::now();
        for rec in records.chunks_mut(rec_len) {
            s.seal_in_place(ContentType::ApplicationData, rec, size)
                .unwrap();
        }
        let seal = t.elapsed().as_nanos() as f64 / BATCH as f64;
        let t = StdInstant::now();
        for rec in records.chunks_mut(rec_len) {
            let r = o.open_in_place(rec).unwrap();
            std::hint::black_box(r);
        }
        (seal, t.elapsed().as_nanos() as f64 / BATCH as f64)
    }
}

/// One round: (seal ns, open ns) with `ring` called directly (same nonce and AAD shapes).
fn raw_ring(key_len: usize, size: usize) -> (f64, f64) {
    use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_128_GCM, AES_256_GCM};
    let alg = if key_len == 16 {
        &AES_128_GCM
    } else {
        &AES_256_GCM
    };
    let key = LessSafeKey::new(UnboundKey::new(alg, &vec![0x11u8; key_len]).unwrap());
    let aad = [0u8; 13];
    let stride = size + 16;
    {
        let mut bufs = vec![0u8; stride * BATCH];
        let t = StdInstant::now();
        for (i, b) in bufs.chunks_mut(stride).enumerate() {
            let mut n = [0u8; 12];
            n[4..].copy_from_slice(&(i as u64).to_be_bytes());
            let (body, tag) = b.split_at_mut(size);
            let t = key
                .seal_in_place_separate_tag(Nonce::assume_unique_for_key(n), Aad::from(aad), body)
                .unwrap();
            tag.copy_from_slice(t.as_ref());
        }
        let seal = t.elapsed().as_nanos() as f64 / BATCH as f64;
        let t = StdInstant::now();
        for (i, b) in bufs.chunks_mut(stride).enumerate() {
            let mut n = [0u8; 12];
            n[4..].copy_from_slice(&(i as u64).to_be_bytes());
            let (body, tag) = b.split_at_mut(size);
            let tag = Tag::from(<[u8; 16]>::try_from(&tag[..]).unwrap());
            let r = key
                .open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(n),
                    Aad::from(aad),
                    tag,
                    body,
                    0..,
                )
                .unwrap();
            std::hint::black_box(r);
        }
        (seal, t.elapsed().as_nanos() as f64 / BATCH as f64)
    }
}

/// ns per seal from `openssl speed -evp <cipher> -aead -bytes <size> -mr` (seal only).
fn openssl_speed(cipher: &str, size: usize) -> Option<f64> {
    let out = Command::new("openssl")
        .args([
            "speed",
            "-evp",
            cipher,
            "-aead",
            "-bytes",
            &size.to_string(),
            "-seconds",
            "1",
            "-mr",
        ])
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // +R:<count>:<name>:<seconds>
    let line = text.lines().find(|l| l.starts_with("+R:"))?;
    let f: Vec<&str> = line.split(':').collect();
    let count: f64 = f.get(1)?.parse().ok()?;
    let secs: f64 = f.get(3)?.parse().ok()?;
    Some(secs * 1e9 / count)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read.
    println!("vnetcrypt-dtls bench (medians of {ROUNDS} interleaved rounds of {BATCH} records)");
    let (hs, n) = handshakes_per_second();
    println!("handshakes/s (client+server in one process, ECDHE-ECDSA P-256, mutual auth): {hs:.0} ({n} handshakes)");
    println!();
    println!(
        "{:<8} {:<10} {:>6} | {:>8} {:>8} {:>9} | {:>8} {:>8} | {:>9} | {:>8} {:>8}",
        "suite",
        "backend",
        "bytes",
        "seal ns",
        "open ns",
        "seal+open",
        "ring sl",
        "ring s+o",
        "vs ring",
        "ossl sl",
        "ring/ossl"
    );
    for suite in CipherSuite::ALL {
        let key_len = suite.key_len();
        let cipher = if key_len == 16 {
            "aes-128-gcm"
        } else {
            "aes-256-gcm"
        };
        let label = if key_len == 16 { "AES128" } else { "AES256" };
        for size in SIZES {
            let ossl = openssl_speed(cipher, size);
            // Interleave the contenders round by round so machine noise hits all alike.
            let backends = all_backends();
            let mut samples = vec![(Vec::new(), Vec::new()); backends.len() + 1];
            for _ in 0..ROUNDS {
                let (a, b) = raw_ring(key_len, size);
                samples[0].0.push(a);
                samples[0].1.push(b);
                for (i, &backend) in backends.iter().enumerate() {
                    let (a, b) = record_layer(backend, key_len, size);
                    samples[i + 1].0.push(a);
                    samples[i + 1].1.push(b);
                }
            }
            let med: Vec<(f64, f64)> = samples
                .into_iter()
                .map(|(a, b)| (median(a), median(b)))
                .collect();
            let (rs, ro) = med[0];
            for (i, &backend) in backends.iter().enumerate() {
                let (s, o) = med[i + 1];
                let ratio = (rs + ro) / (s + o);
                println!(
                    "{:<8} {:<10} {:>6} | {:>8.0} {:>8.0} {:>9.0} | {:>8.0} {:>8.0} | {:>8.2}x | {:>8} {:>8}",
                    label,
                    format!("{backend:?}"),
                    size,
                    s,
                    o,
                    s + o,
                    rs,
                    rs + ro,
                    ratio,
                    ossl.map_or("n/a".into(), |v| format!("{v:.0}")),
                    ossl.map_or("n/a".into(), |v| format!("{:.2}x", v / rs)),
                );
            }
        }
    }
    println!();
    println!("vs ring = raw ring (seal+open) / record layer (seal+open): 1.00x is parity, target >= 0.90x at 1400 B");
    println!("ring/ossl = openssl speed seal ns / raw ring seal ns (how much faster ring is)");
}
