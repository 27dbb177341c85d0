//! A fabric attacker against real handshakes and sessions, on the virtual clock.
//!
//! The attacker (PRODUCT.md's attacker model) sends any datagram with the peers'
//! addresses, and in some tests also sees the genuine datagrams and races them (its
//! forgeries arrive 1 ms before the datagram they answer). None holds a pinned key.
//! Every test checks that the handshake completes or the session keeps working, and that
//! the forgeries were counted under their reason.

mod common;

use common::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use vnetcrypt_dtls::codec::Reader;
use vnetcrypt_dtls::handshake::fragment::FragmentHeader;
use vnetcrypt_dtls::record::Records;
use vnetcrypt_dtls::{
    Accept, Connection, Duration, Endpoint, Event, HandshakeFailure, Identity, Instant, HEADER_ROOM,
};

const HANDSHAKE: u8 = 22;
const ALERT: u8 = 21;
const CCS: u8 = 20;
const HVR: u8 = 3;
const CERTIFICATE: u8 = 11;
const CERTIFICATE_VERIFY: u8 = 15;

fn record(content_type: u8, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 0xfe, 0xfd];
    r.extend_from_slice(&epoch.to_be_bytes());
    r.extend_from_slice(&seq.to_be_bytes()[2..]);
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn fragment(msg_type: u8, length: u32, seq: u16, offset: u32, data: &[u8]) -> Vec<u8> {
    let mut f = vec![msg_type];
    f.extend_from_slice(&length.to_be_bytes()[1..]);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&offset.to_be_bytes()[1..]);
    f.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(data);
    f
}

/// A whole handshake message in one epoch-0 record.
fn message(msg_type: u8, seq: u16, body: &[u8]) -> Vec<u8> {
    record(
        HANDSHAKE,
        0,
        1000 + seq as u64,
        &fragment(msg_type, body.len() as u32, seq, 0, body),
    )
}

/// A copy of a genuine datagram with its (whole, epoch-0) message of `msg_type` replaced
/// by one with `body`: what an observer can build to race the genuine flight.
fn with_message_replaced(datagram: &[u8], msg_type: u8, body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut replaced = false;
    for (h, rec) in Records::new(datagram) {
        let frag = fragments(rec);
        match frag.first() {
            Some((fh, _)) if h.epoch == 0 && fh.msg_type == msg_type => {
                if fh.fragment_offset == 0 {
                    out.extend(record(
                        HANDSHAKE,
                        0,
                        h.seq,
                        &fragment(msg_type, body.len() as u32, fh.message_seq, 0, body),
                    ));
                    replaced = true;
                }
            }
            _ => out.extend_from_slice(rec),
        }
    }
    replaced.then_some(out)
}

/// The epoch-0 handshake fragments of a genuine datagram.
fn fragments(datagram: &[u8]) -> Vec<(FragmentHeader, Vec<u8>)> {
    let mut out = Vec::new();
    for (h, rec) in Records::new(datagram) {
        if h.epoch != 0 || rec[0] != HANDSHAKE {
            continue;
        }
        let mut r = Reader::new(&rec[13..]);
        while let Ok((fh, data)) = FragmentHeader::parse(&mut r) {
            out.push((fh, data.to_vec()));
        }
    }
    out
}

fn exchange_data(pair: &mut Pair) {
    let mut buf = [0u8; 128];
    buf[HEADER_ROOM..HEADER_ROOM + 4].copy_from_slice(b"ping");
    let n = pair.client.seal_in_place(&mut buf, 4).unwrap();
    let server = pair.server.as_mut().unwrap();
    let r = server.open_in_place(&mut buf[..n]).unwrap();
    assert_eq!(&buf[r], b"ping");
    let n = server.seal_in_place(&mut buf, 4).unwrap();
    assert!(pair.client.open_in_place(&mut buf[..n]).is_ok());
}

fn server_stats(pair: &Pair) -> vnetcrypt_dtls::Stats {
    pair.server.as_ref().unwrap().stats()
}

#[test]
fn forged_plaintext_alerts_and_garbage_do_not_end_a_handshake() {
    let (c, s) = configs(30);
    let mut pair = Pair::new(c, s, 30, Link::default());
    let mut rng = ChaCha20Rng::seed_from_u64(30);
    pair.attacker = Some(Box::new(move |to_server, _| {
        let mut garbage = vec![0u8; 1 + rng.next_u32() as usize % 200];
        rng.fill_bytes(&mut garbage);
        let mut bad_epoch1 = record(23, 1, rng.next_u32() as u64, &[0; 40]);
        bad_epoch1[0] = HANDSHAKE;
        vec![
            // Fatal handshake_failure, fatal access_denied, close_notify: all plaintext.
            (to_server, record(ALERT, 0, 7, &[2, 40])),
            (to_server, record(ALERT, 0, 8, &[2, 49])),
            (to_server, record(ALERT, 0, 9, &[1, 0])),
            (to_server, garbage),
            (to_server, bad_epoch1),
            (to_server, record(ALERT, 1, 9, &[2, 40])),
        ]
    }));
    pair.connect_within(10);
    assert!(pair.forged > 0);
    for st in [pair.client.stats(), server_stats(&pair)] {
        assert!(st.alerts_ignored >= 3, "{st:?}");
        assert!(st.malformed + st.bad_tag > 0, "{st:?}");
    }
    assert_eq!(pair.client.failure(), None);
    // The session works and goes on ignoring them.
    let limit = pair.now + Duration::from_secs(2);
    pair.client.send_app_data(b"hello").unwrap();
    pair.run_until(limit, |_| false);
    assert!(pair.both_connected());
    assert!(pair
        .server_events
        .contains(&Event::AppData(b"hello".to_vec())));
    exchange_data(&mut pair);
}

#[test]
fn forged_hello_verify_requests_are_ignored_or_harmless() {
    let (c, s) = configs(31);
    let mut pair = Pair::new(c, s, 31, Link::default());
    let mut sent_to_client = 0;
    pair.attacker = Some(Box::new(move |to_server, d| {
        let mut out = Vec::new();
        if to_server {
            // One blind HVR for the client's very first hello: it is followed (HVRs are
            // never authenticated), and the handshake still completes.
            if sent_to_client == 0 {
                out.push((false, message(HVR, 0, &[0xfe, 0xff, 4, 1, 2, 3, 4])));
            }
            return out;
        }
        sent_to_client += 1;
        // HVRs for every message_seq while the client waits for the Finished or is
        // established (along every protected datagram to it): none answers its hello.
        if Records::new(d).any(|(h, _)| h.epoch == 1) {
            for seq in 0..8 {
                out.push((false, message(HVR, seq, &[0xfe, 0xff, 4, 9, 9, 9, 9])));
            }
        }
        out
    }));
    pair.connect_within(10);
    let limit = pair.now + Duration::from_secs(1);
    pair.server.as_mut().unwrap().send_app_data(b"x").unwrap();
    pair.run_until(limit, |_| false);
    assert!(pair.both_connected());
    assert!(pair.client_events.contains(&Event::AppData(b"x".to_vec())));
    let st = pair.client.stats();
    // 8 with flight 6 (client waiting for the Finished), 8 with the data record, and the
    // server's genuine answer to the hello the blind forgery had already answered.
    assert!(st.hello_verify_ignored >= 16, "{st:?}");
    exchange_data(&mut pair);
}

#[test]
fn forged_fragments_with_conflicting_lengths_and_types_do_not_stall() {
    for mtu in [1200, 200] {
        let (mut c, mut s) = configs(32);
        c.mtu = mtu;
        s.mtu = mtu;
        let mut pair = Pair::new(c, s, 32, Link::default());
        let mut rng = ChaCha20Rng::seed_from_u64(32);
        pair.attacker = Some(Box::new(move |to_server, d| {
            let mut out = Vec::new();
            for (fh, data) in fragments(d) {
                let seq = fh.message_seq;
                let n = data.len().min(8);
                // The genuine type with another length, and the same bytes' place.
                out.push(fragment(fh.msg_type, fh.length + 7, seq, 0, &data[..n]));
                // Another type (a Finished, a ServerHelloDone) at the same position.
                out.push(fragment(20, 12, seq, 0, &[0; 12]));
                out.push(fragment(14, 0, seq, 0, &[]));
                // The genuine type and length with wrong bytes where the genuine go.
                let mut wrong = data.clone();
                wrong.iter_mut().for_each(|b| *b ^= 0x5a);
                out.push(fragment(
                    fh.msg_type,
                    fh.length,
                    seq,
                    fh.fragment_offset,
                    &wrong,
                ));
                // Messages ahead with random types and lengths.
                for ahead in 1..4 {
                    let t = (rng.next_u32() % 24) as u8;
                    let len = rng.next_u32() % 3000;
                    out.push(fragment(t, len, seq + ahead, 0, &[1, 2, 3]));
                }
            }
            out.into_iter()
                .map(|f| (to_server, record(HANDSHAKE, 0, 5, &f)))
                .collect()
        }));
        pair.connect_within(60);
        let (cs, ss) = (pair.client.stats(), server_stats(&pair));
        assert!(
            cs.fragments_refused > 0 && ss.fragments_refused > 0,
            "{cs:?} {ss:?}"
        );
        assert!(cs.flights_refused + ss.flights_refused > 0, "{cs:?} {ss:?}");
        exchange_data(&mut pair);
    }
}

/// An attacker that sees the genuine flight puts a complete Certificate with its own key
/// in front of the server's, every time the server sends it: the client refuses that
/// flight (counting a pin mismatch), keeps the genuine Certificate, and completes.
#[test]
fn forged_certificate_with_another_key_does_not_poison_the_handshake() {
    let (c, s) = configs(33);
    let mut rng = ChaCha20Rng::seed_from_u64(133);
    let mallory = Identity::generate(&mut rng, "server").unwrap();
    let mut cert = Vec::new();
    let der = mallory.certificate_der();
    let chain_len = der.len() + 3;
    cert.extend_from_slice(&(chain_len as u32).to_be_bytes()[1..]);
    cert.extend_from_slice(&(der.len() as u32).to_be_bytes()[1..]);
    cert.extend_from_slice(der);
    let mut pair = Pair::new(c, s, 33, Link::default());
    pair.attacker = Some(Box::new(move |to_server, d| {
        match (to_server, with_message_replaced(d, CERTIFICATE, &cert)) {
            (false, Some(forged)) => vec![(false, forged)],
            _ => Vec::new(),
        }
    }));
    pair.connect_within(30);
    let st = pair.client.stats();
    assert!(st.pin_mismatch >= 1, "{st:?}");
    assert!(st.flights_refused >= 1, "{st:?}");
    assert_eq!(pair.client.failure(), None);
    exchange_data(&mut pair);
}

/// The same against the server: a CertificateVerify with a bad signature raced in front
/// of the client's.
#[test]
fn forged_certificate_verify_does_not_poison_the_server() {
    let (c, s) = configs(34);
    let mut pair = Pair::new(c, s, 34, Link::default());
    // ecdsa_secp256r1_sha256 and a well-formed signature that does not verify.
    let body = [4, 3, 0, 8, 0x30, 6, 2, 1, 1, 2, 1, 1];
    pair.attacker = Some(Box::new(move |to_server, d| {
        match (
            to_server,
            with_message_replaced(d, CERTIFICATE_VERIFY, &body),
        ) {
            (true, Some(forged)) => vec![(true, forged)],
            _ => Vec::new(),
        }
    }));
    pair.connect_within(30);
    let st = server_stats(&pair);
    assert!(st.flights_refused >= 1, "{st:?}");
    exchange_data(&mut pair);
}

/// A ClientHello reaching an established connection, alone or as the second record of
/// a datagram behind a ChangeCipherSpec, changes nothing: the connection counts it and
/// the owner may start a new connection for it.
#[test]
fn client_hellos_into_an_established_connection_change_nothing() {
    let mut pair = connect_pair(35);
    let hello = {
        let (c, _) = configs(35);
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let mut fresh = Connection::client(Arc::new(c), pair.now, &mut rng);
        let mut buf = [0u8; 1500];
        let n = fresh.poll_transmit(&mut buf).unwrap();
        buf[..n].to_vec()
    };
    let mut ccs_then_hello = record(CCS, 0, 3, &[1]);
    ccs_then_hello.extend_from_slice(&hello);
    assert!(vnetcrypt_dtls::datagram_has_client_hello(&hello));
    assert!(vnetcrypt_dtls::datagram_has_client_hello(&ccs_then_hello));
    let now = pair.now;
    for d in [&hello, &ccs_then_hello] {
        pair.server.as_mut().unwrap().handle_datagram(now, d);
        pair.client.handle_datagram(now, d);
    }
    let server = pair.server.as_mut().unwrap();
    assert!(server.is_established());
    assert_eq!(server.stats().client_hellos_ignored, 2);
    assert_eq!(pair.client.stats().client_hellos_ignored, 2);
    assert_eq!(server.poll_event(), None);
    let mut out = [0u8; 1500];
    assert_eq!(server.poll_transmit(&mut out), None, "nothing answered");
    exchange_data(&mut pair);
}

/// An observer replays the client's ClientHello that carried a valid cookie. The
/// established connection ignores it; the front door (where the owner sends it) makes a
/// new connection, which never completes and times out, while the session keeps working.
#[test]
fn replayed_cookie_client_hello_cannot_replace_a_session() {
    let (c, s) = configs(36);
    let mut pair = Pair::new(c, s, 36, Link::default());
    let seen: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let log = seen.clone();
    pair.attacker = Some(Box::new(move |to_server, d| {
        if to_server && vnetcrypt_dtls::datagram_has_client_hello(d) {
            log.borrow_mut().push(d.to_vec());
        }
        Vec::new()
    }));
    pair.connect_within(10);
    pair.attacker = None;
    // The second hello is the one with the cookie.
    let replay = seen.borrow()[1].clone();
    let now = pair.now;
    pair.in_flight.push((now, true, replay.clone()));
    pair.run_until(now + Duration::from_millis(20), |_| false);
    assert!(pair.new_server.is_some(), "the cookie is still valid");
    // Keep the session busy while the replayed handshake runs out.
    let limit = pair.now + Duration::from_secs(200);
    while pair.now < limit && pair.new_server.is_some() {
        exchange_data(&mut pair);
        let next = pair.now + Duration::from_secs(5);
        pair.run_until(next, |_| false);
    }
    assert!(
        pair.new_server.is_none(),
        "the replayed handshake timed out"
    );
    assert_eq!(pair.replaced, 0);
    assert!(pair.server_events.contains(&Event::Closed(Some(
        vnetcrypt_dtls::Error::HandshakeTimeout
    ))));
    assert!(pair.server.as_ref().unwrap().stats().client_hellos_ignored >= 1);
    assert!(pair.both_connected());
    exchange_data(&mut pair);
}

fn connect_pair(seed: u64) -> Pair {
    let (c, s) = configs(seed);
    let mut pair = Pair::new(c, s, seed, Link::default());
    pair.connect_within(10);
    pair
}

/// The client's first and second hellos (the second carries the endpoint's cookie).
fn hello_with_cookie(endpoint: &mut Endpoint, addr: &[u8], now: Instant) -> Vec<u8> {
    let (c, _) = configs(37);
    let mut rng = ChaCha20Rng::seed_from_u64(37);
    let mut client = Connection::client(Arc::new(c), now, &mut rng);
    let mut buf = [0u8; 1500];
    let n = client.poll_transmit(&mut buf).unwrap();
    let mut reply = [0u8; 256];
    let Accept::Reply(m) = endpoint.handle_datagram(now, addr, &buf[..n], &mut reply, &mut rng)
    else {
        panic!("no HelloVerifyRequest");
    };
    client.handle_datagram(now, &reply[..m]);
    let n = client.poll_transmit(&mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn cookies_are_bound_to_address_and_port_and_expire_across_rotations() {
    let (_, s) = configs(37);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut endpoint = Endpoint::new(Arc::new(s), &mut rng);
    endpoint.set_cookie_lifetime(Duration::from_secs(10));
    let t0 = Instant::from_millis(5_000);
    let addr = b"192.0.2.1:5000";
    let hello = hello_with_cookie(&mut endpoint, addr, t0);
    let mut reply = [0u8; 256];
    let mut try_at = |ep: &mut Endpoint, at_ms: u64, addr: &[u8]| {
        let at = t0 + Duration::from_millis(at_ms);
        matches!(
            ep.handle_datagram(at, addr, &hello, &mut reply, &mut rng),
            Accept::Connection(_)
        )
    };
    assert!(try_at(&mut endpoint, 1_000, addr));
    assert!(!try_at(&mut endpoint, 1_000, b"192.0.2.1:5001"), "port");
    assert!(!try_at(&mut endpoint, 1_000, b"192.0.2.2:5000"), "address");
    // One rotation later the previous secret still answers...
    assert!(try_at(&mut endpoint, 12_000, addr));
    assert_eq!(endpoint.stats().rotations, 1);
    // ...two rotations later it is gone, and the hello gets a new cookie instead.
    assert!(!try_at(&mut endpoint, 22_000, addr));
    assert_eq!(endpoint.stats().rotations, 2);
    assert!(endpoint.stats().cookies_sent >= 2);
}

/// A connection the front door created for a valid cookie, whose client never goes on,
/// fails on its own timeout; so does a server connection that only ever saw a hello
/// without a cookie.
#[test]
fn pending_server_connections_time_out() {
    let (_, s) = configs(38);
    let timeout = s.handshake_timeout;
    let config = Arc::new(s);
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut endpoint = Endpoint::new(config.clone(), &mut rng);
    let t0 = Instant::from_millis(1_000);
    let addr = b"192.0.2.1:5000";
    let hello = hello_with_cookie(&mut endpoint, addr, t0);
    let mut reply = [0u8; 256];
    let Accept::Connection(mut conn) =
        endpoint.handle_datagram(t0, addr, &hello, &mut reply, &mut rng)
    else {
        panic!("cookie refused");
    };
    let mut b = [0u8; 1500];
    while conn.poll_transmit(&mut b).is_some() {}
    run_timers(&mut conn, t0 + timeout);
    assert!(conn.is_closed());
    assert_eq!(conn.failure(), Some(HandshakeFailure::Timeout));

    // A server connection fed one forged hello without a cookie.
    let mut conn = Connection::server(config, addr, &mut rng);
    assert_eq!(conn.poll_timeout(), None);
    // Its cookie is the endpoint's, not this connection's.
    conn.handle_datagram(t0, &hello);
    let mut b = [0u8; 1500];
    assert!(conn.poll_transmit(&mut b).is_some(), "HelloVerifyRequest");
    assert!(conn.poll_timeout().is_some());
    run_timers(&mut conn, t0 + timeout);
    assert!(conn.is_closed());
    assert_eq!(conn.failure(), Some(HandshakeFailure::NoResponse));
}

/// Runs a connection's timers until it closes; checks it closes exactly at `deadline`.
fn run_timers(conn: &mut Connection, deadline: Instant) {
    let mut buf = [0u8; 1500];
    while let Some(t) = conn.poll_timeout() {
        assert!(t <= deadline, "timer beyond the handshake deadline");
        conn.handle_timeout(t);
        while conn.poll_transmit(&mut buf).is_some() {}
        if conn.is_closed() {
            break;
        }
    }
    assert!(conn.is_closed());
}

/// One datagram full of tiny records, or one record full of fragments: only a bounded
/// number is looked at, and the handshake is unharmed.
#[test]
fn reassembly_work_per_datagram_is_bounded() {
    let (c, s) = configs(40);
    let mut pair = Pair::new(c, s, 40, Link::default());
    let mut many_records = Vec::new();
    for i in 0..100 {
        many_records.extend(record(HANDSHAKE, 0, i, &fragment(2, 50, 1, 0, &[0; 4])));
    }
    let mut many_fragments = Vec::new();
    for i in 0..80u32 {
        many_fragments.extend(fragment(2, 500, 1, i * 4, &[7; 4]));
    }
    let one_record = record(HANDSHAKE, 0, 1, &many_fragments);
    assert!(one_record.len() < 1500);
    let now = pair.now;
    pair.client.handle_datagram(now, &many_records);
    pair.client.handle_datagram(now, &one_record);
    let st = pair.client.stats();
    assert_eq!(st.over_budget, 2, "{st:?}");
    // At most 32 fragments were looked at per datagram.
    assert!(st.fragments_refused + st.fragments_dropped <= 64, "{st:?}");
    pair.connect_within(10);
}

/// A blind attacker who knows what our ServerHello looks like floods well-formed ones
/// with random server randoms at every position the client might wait at, racing every
/// datagram to it. A flight built on a forged one yields to the genuine datagram (or
/// fails on the genuine ServerKeyExchange signature); the handshake completes.
#[test]
fn blind_server_hello_flood_does_not_stall() {
    const SERVER_HELLO: u8 = 2;
    // Learn the ServerHello's shape from one clean handshake.
    let (c, s) = configs(41);
    let mut clean = Pair::new(c.clone(), s.clone(), 41, Link::default());
    let shape: Rc<RefCell<Option<Vec<u8>>>> = Rc::default();
    let learned = shape.clone();
    clean.attacker = Some(Box::new(move |to_server, d| {
        for (fh, data) in fragments(d) {
            if !to_server && fh.msg_type == SERVER_HELLO && data.len() == fh.length as usize {
                *learned.borrow_mut() = Some(data);
            }
        }
        Vec::new()
    }));
    clean.connect_within(10);
    let template = shape.borrow().clone().expect("a ServerHello");

    let mut pair = Pair::new(c, s, 41, Link::default());
    let mut rng = ChaCha20Rng::seed_from_u64(41);
    pair.attacker = Some(Box::new(move |to_server, _| {
        if to_server {
            return Vec::new();
        }
        (0..5)
            .map(|seq| {
                let mut body = template.clone();
                rng.fill_bytes(&mut body[2..34]);
                (false, message(SERVER_HELLO, seq, &body))
            })
            .collect()
    }));
    pair.connect_within(30);
    let st = pair.client.stats();
    // Forged ServerHellos were taken (where the client waited for a HelloVerifyRequest or
    // its ServerHello) and given up when the genuine datagram came.
    assert!(st.flights_restarted + st.flights_refused >= 1, "{st:?}");
    exchange_data(&mut pair);
}

/// Junk epoch-1 records sent to the server before the client's last flight fill its
/// early-record buffer; the client's Finished, which comes behind its key exchange in
/// the same datagram, does not need that buffer, so no retransmission is needed.
#[test]
fn junk_protected_records_do_not_crowd_out_the_finished() {
    let (c, s) = configs(42);
    let mut pair = Pair::new(c, s, 42, Link::default());
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    pair.attacker = Some(Box::new(move |to_server, _| {
        if !to_server {
            return Vec::new();
        }
        (0..20)
            .map(|_| {
                let mut body = [0u8; 40];
                rng.fill_bytes(&mut body);
                (true, record(HANDSHAKE, 1, u64::from(rng.next_u32()), &body))
            })
            .collect()
    }));
    pair.connect_within(5);
    let st = server_stats(&pair);
    assert!(st.buffered_early >= 16, "{st:?}");
    assert_eq!(
        st.retransmits + pair.client.stats().retransmits,
        0,
        "{st:?}"
    );
    exchange_data(&mut pair);
}
