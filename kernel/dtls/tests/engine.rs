//! Engine-to-engine tests on a virtual clock.

mod common;

use common::*;
use vnetcrypt_dtls::{
    CipherSuite, Duration, Error, Event, Instant, PeerPolicy, RecordError, HEADER_ROOM, TAG_ROOM,
};

fn connect(seed: u64, link: Link) -> Pair {
    let (c, s) = configs(seed);
    let mut pair = Pair::new(c, s, seed, link);
    let limit = pair.now + Duration::from_secs(120);
    assert!(
        pair.run_until(limit, |p| p.both_connected()),
        "no handshake: {:?} {:?}",
        pair.client_events,
        pair.server_events
    );
    pair
}

#[test]
fn clean_handshake_both_suites() {
    for suite in CipherSuite::ALL {
        let (mut c, s) = configs(1);
        c.suites = vec![suite];
        let mut pair = Pair::new(c, s, 1, Link::default());
        let limit = pair.now + Duration::from_secs(10);
        assert!(pair.run_until(limit, |p| p.both_connected()));
        let server = pair.server.as_ref().unwrap();
        assert_eq!(pair.client.negotiated().unwrap().suite, suite);
        assert_eq!(server.negotiated().unwrap().suite, suite);
        assert!(server.negotiated().unwrap().extended_master_secret);
        // No loss: nothing was retransmitted, and the handshake took well under a second.
        assert_eq!(pair.client.stats().retransmits, 0);
        // The client's Finished, behind its key exchange in one datagram, did not need
        // the early-record buffer.
        assert_eq!(server.stats().buffered_early, 0);
        assert!(pair.now < Instant::from_millis(2000));
    }
}

#[test]
fn connected_events_carry_pinned_fingerprints() {
    let (cid, sid) = identities(1);
    let pair = connect(1, Link::default());
    assert!(pair.client_events.contains(&Event::Connected {
        peer_fingerprint: Some(sid.fingerprint()),
        suite: CipherSuite::EcdheEcdsaAes128GcmSha256,
        extended_master_secret: true,
    }));
    assert!(pair.server_events.iter().any(|e| matches!(e,
        Event::Connected { peer_fingerprint: Some(f), .. } if *f == cid.fingerprint())));
}

#[test]
fn data_plane_in_place_both_ways_and_replay_rejected() {
    let mut pair = connect(2, Link::default());
    let server = pair.server.as_mut().unwrap();
    let mut buf = [0u8; 1500];
    for len in [0usize, 1, 64, 512, 1400] {
        for i in 0..len {
            buf[HEADER_ROOM + i] = i as u8;
        }
        let n = pair.client.seal_in_place(&mut buf, len).unwrap();
        assert_eq!(n, HEADER_ROOM + len + TAG_ROOM);
        let mut copy = buf;
        let r = server.open_in_place(&mut buf[..n]).unwrap();
        assert_eq!(r.len(), len);
        assert!(buf[r].iter().enumerate().all(|(i, b)| *b == i as u8));
        assert_eq!(
            server.open_in_place(&mut copy[..n]),
            Err(RecordError::Replayed)
        );
        let n = server.seal_in_place(&mut buf, len).unwrap();
        let r = pair.client.open_in_place(&mut buf[..n]).unwrap();
        assert_eq!(r.len(), len);
    }
    assert_eq!(server.stats().replayed, 5);
    // A flipped bit is refused and counted.
    let n = pair.client.seal_in_place(&mut buf, 10).unwrap();
    buf[HEADER_ROOM + 3] ^= 4;
    assert_eq!(
        server.open_in_place(&mut buf[..n]),
        Err(RecordError::BadTag)
    );
    assert_eq!(server.stats().bad_tag, 1);
}

#[test]
fn app_data_through_connection_api_and_close() {
    let mut pair = connect(3, Link::default());
    pair.client.send_app_data(b"hello server").unwrap();
    pair.server
        .as_mut()
        .unwrap()
        .send_app_data(b"hello client")
        .unwrap();
    let limit = pair.now + Duration::from_secs(1);
    pair.run_until(limit, |_| false);
    assert!(pair
        .server_events
        .contains(&Event::AppData(b"hello server".to_vec())));
    assert!(pair
        .client_events
        .contains(&Event::AppData(b"hello client".to_vec())));
    pair.client.close();
    let limit = pair.now + Duration::from_secs(1);
    pair.run_until(limit, |_| false);
    assert!(pair.server.as_ref().unwrap().is_closed());
    assert!(pair.server_events.contains(&Event::Closed(None)));
    assert_eq!(pair.client.send_app_data(b"x"), Err(Error::Closed));
}

#[test]
fn lossy_reordering_duplicating_link_still_connects_and_delivers_in_order() {
    let mut retransmits = 0;
    for seed in 0..12 {
        let link = Link {
            loss: 250,
            dup: 150,
            reorder: 250,
        };
        let mut pair = connect(100 + seed, link);
        retransmits +=
            pair.client.stats().retransmits + pair.server.as_ref().unwrap().stats().retransmits;
        // After the handshake: the data plane on a clean link, every record opened once, in order.
        let server = pair.server.as_mut().unwrap();
        let mut buf = [0u8; 200];
        for i in 0..300u32 {
            buf[HEADER_ROOM..HEADER_ROOM + 4].copy_from_slice(&i.to_be_bytes());
            let n = pair.client.seal_in_place(&mut buf, 4).unwrap();
            let r = server.open_in_place(&mut buf[..n]).unwrap();
            assert_eq!(buf[r], i.to_be_bytes());
        }
    }
    // The impairments really hit the handshakes: flights were retransmitted.
    assert!(retransmits > 0);
}

#[test]
fn lossy_link_connection_api_data_arrives_once() {
    let link = Link {
        loss: 100,
        dup: 200,
        reorder: 300,
    };
    let mut pair = connect(7, link);
    for i in 0..50u8 {
        pair.client.send_app_data(&[i]).unwrap();
    }
    let limit = pair.now + Duration::from_secs(2);
    pair.run_until(limit, |_| false);
    let got: Vec<u8> = pair
        .server_events
        .iter()
        .filter_map(|e| match e {
            Event::AppData(d) => Some(d[0]),
            _ => None,
        })
        .collect();
    // Lost records stay lost (DTLS is unreliable) but none arrives twice.
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len(), "duplicate delivered: {got:?}");
    assert!(got.len() >= 30, "{}", got.len());
}

#[test]
fn retransmission_timer_doubles_and_gives_up() {
    let (c, s) = configs(4);
    let mut pair = Pair::new(
        c,
        s,
        4,
        Link {
            loss: 1000,
            dup: 0,
            reorder: 0,
        },
    );
    let start = pair.now;
    let mut deadlines = Vec::new();
    let limit = start + Duration::from_secs(1000);
    while pair.now < limit {
        if let Some(t) = pair.client.poll_timeout() {
            if deadlines.last() != Some(&t) {
                deadlines.push(t);
            }
        }
        if !pair.step() {
            break;
        }
    }
    let gaps: Vec<u64> = std::iter::once(start)
        .chain(deadlines.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs())
        .collect();
    assert_eq!(gaps, [1, 2, 4, 8, 16, 32, 60, 60]);
    assert!(pair
        .client_events
        .contains(&Event::Closed(Some(Error::HandshakeTimeout))));
}

/// A key that is not pinned is refused without ending the handshake (the Certificate
/// could be forged): the flight is discarded each time it comes, and when the handshake
/// times out the reason is the key.
#[test]
fn unpinned_server_key_is_refused() {
    let (mut c, s) = configs(5);
    let (other, _) = identities(99);
    c.peers = PeerPolicy::Pinned(vec![other.fingerprint()]);
    let mut pair = Pair::new(c, s, 5, Link::default());
    let limit = pair.now + Duration::from_secs(400);
    pair.run_until(limit, |p| p.client.is_closed());
    assert!(pair
        .client_events
        .contains(&Event::Closed(Some(Error::PeerKeyMismatch))));
    let st = pair.client.stats();
    assert!(st.pin_mismatch >= 2, "{st:?}");
    assert_eq!(st.pin_mismatch, st.flights_refused);
    assert_eq!(
        pair.client.failure(),
        Some(vnetcrypt_dtls::HandshakeFailure::PinMismatch)
    );
    assert!(!pair.server.as_ref().is_some_and(|s| s.is_established()));
}

#[test]
fn unpinned_client_key_is_refused_by_server() {
    let (c, mut s) = configs(6);
    let (_, other) = identities(98);
    s.peers = PeerPolicy::Pinned(vec![other.fingerprint()]);
    let mut pair = Pair::new(c, s, 6, Link::default());
    let limit = pair.now + Duration::from_secs(400);
    pair.run_until(limit, |p| p.server.as_ref().is_some_and(|s| s.is_closed()));
    assert!(pair
        .server_events
        .contains(&Event::Closed(Some(Error::PeerKeyMismatch))));
    let server = pair.server.as_ref().unwrap();
    assert!(server.stats().pin_mismatch >= 2);
    assert_eq!(
        server.failure(),
        Some(vnetcrypt_dtls::HandshakeFailure::PinMismatch)
    );
    assert!(!pair.client.is_established());
}

#[test]
fn client_without_certificate_against_required_and_requested() {
    // Required: refused.
    let (mut c, s) = configs(8);
    c.send_client_certificate = false;
    let mut pair = Pair::new(c.clone(), s.clone(), 8, Link::default());
    let limit = pair.now + Duration::from_secs(400);
    pair.run_until(limit, |p| p.server.as_ref().is_some_and(|s| s.is_closed()));
    assert!(pair
        .server_events
        .contains(&Event::Closed(Some(Error::CertificateRequired))));
    // Requested only: accepted without a peer fingerprint.
    let mut s2 = s;
    s2.client_auth = vnetcrypt_dtls::ClientAuth::Request;
    let mut pair = Pair::new(c, s2, 8, Link::default());
    let limit = pair.now + Duration::from_secs(5);
    assert!(pair.run_until(limit, |p| p.both_connected()));
    assert!(pair.server_events.iter().any(|e| matches!(
        e,
        Event::Connected {
            peer_fingerprint: None,
            ..
        }
    )));
}

#[test]
fn small_mtu_fragments_flights() {
    let (mut c, mut s) = configs(9);
    c.mtu = 200;
    s.mtu = 200;
    let mut pair = Pair::new(
        c,
        s,
        9,
        Link {
            loss: 0,
            dup: 100,
            reorder: 300,
        },
    );
    let limit = pair.now + Duration::from_secs(30);
    assert!(pair.run_until(limit, |p| p.both_connected()));
    assert!(pair.delivered > 12, "{}", pair.delivered);
}

/// A restarted client's ClientHello does not touch the established session; the owner
/// runs a new connection next to it and swaps only once that one is established.
#[test]
fn restarted_client_gets_a_new_session_next_to_the_old_one() {
    let (c, _) = configs(10);
    let mut pair = connect(10, Link::default());
    let old_fp = pair.client.negotiated().unwrap().peer;
    // A record of the old session, to check the old keys stay in place meanwhile.
    let mut old = [0u8; 64];
    let n = pair.client.seal_in_place(&mut old, 5).unwrap();
    // The client restarts: a brand-new connection from the same address.
    let mut rng =
        <rand_chacha::ChaCha20Rng as rand_chacha::rand_core::SeedableRng>::seed_from_u64(77);
    pair.client = vnetcrypt_dtls::Connection::client(std::sync::Arc::new(c), pair.now, &mut rng);
    pair.client_events.clear();
    pair.run_until(pair.now + Duration::from_millis(15), |_| false);
    let server = pair.server.as_mut().unwrap();
    assert!(server.is_established());
    assert_eq!(server.stats().client_hellos_ignored, 1);
    assert!(server.open_in_place(&mut old[..n]).is_ok());
    pair.connect_within(10);
    assert_eq!(pair.replaced, 1);
    assert!(!pair.server_events.contains(&Event::PeerRestarted));
    assert_eq!(pair.client.negotiated().unwrap().peer, old_fp);
    // The new keys work.
    let mut buf = [0u8; 64];
    let n = pair.client.seal_in_place(&mut buf, 5).unwrap();
    assert!(pair
        .server
        .as_mut()
        .unwrap()
        .open_in_place(&mut buf[..n])
        .is_ok());
}

#[test]
fn garbage_datagrams_are_counted_not_fatal() {
    let mut pair = connect(11, Link::default());
    let server = pair.server.as_mut().unwrap();
    let now = pair.now;
    server.handle_datagram(now, &[23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 99, 0, 40]);
    server.handle_datagram(now, &[0xff; 30]);
    let mut rec = vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 99, 0, 30];
    rec.extend_from_slice(&[0u8; 30]);
    server.handle_datagram(now, &rec);
    assert!(server.is_established());
    let st = server.stats();
    assert_eq!(st.malformed, 2);
    assert_eq!(st.bad_tag, 1);
}

#[test]
fn early_epoch1_records_are_buffered_not_lost() {
    // Small MTU: the client's flight 5 spans several datagrams. Deliver them to the server
    // in reverse order, so the encrypted Finished arrives before the ClientKeyExchange.
    let (mut c, mut s) = configs(12);
    c.mtu = 200;
    s.mtu = 200;
    let mut pair = Pair::new(c, s, 12, Link::default());
    let limit = pair.now + Duration::from_secs(5);
    // Run until the server has sent flight 4 and the client answered with flight 5.
    pair.run_until(limit, |p| {
        p.server.is_some()
            && p.client.poll_timeout().is_some()
            && p.client.stats().datagrams_sent >= 3
            && !p.in_flight.iter().any(|d| !d.1)
    });
    let mut to_server: Vec<_> = pair.in_flight.drain(..).filter(|d| d.1).collect();
    assert!(
        to_server.len() >= 3,
        "flight 5 should span datagrams: {}",
        to_server.len()
    );
    to_server.reverse();
    let now = pair.now + Duration::from_millis(20);
    let server = pair.server.as_mut().unwrap();
    for (_, _, d) in &to_server {
        server.handle_datagram(now, d);
    }
    assert!(server.stats().buffered_early > 0);
    assert!(server.is_established(), "{:?}", server.stats());
    assert_eq!(server.stats().retransmits, 0);
}

/// A fatal alert under the session's keys ends the connection, and `failure()` names it.
#[test]
fn authenticated_fatal_alert_reaches_the_peer() {
    let (c, mut s) = configs(13);
    s.limits.max_failed_opens = 1;
    let mut pair = Pair::new(c, s, 13, Link::default());
    pair.connect_within(5);
    // One record that fails authentication exhausts the server's key: it gives up with a
    // bad_record_mac alert, sealed with the session's keys.
    let mut buf = [0u8; 64];
    let n = pair.client.seal_in_place(&mut buf, 5).unwrap();
    buf[n - 1] ^= 1;
    let now = pair.now;
    pair.server
        .as_mut()
        .unwrap()
        .handle_datagram(now, &buf[..n]);
    let limit = pair.now + Duration::from_secs(1);
    pair.run_until(limit, |p| p.client.is_closed());
    assert!(pair
        .client_events
        .contains(&Event::Closed(Some(Error::PeerAlert(
            vnetcrypt_dtls::AlertDescription::BadRecordMac
        )))));
    assert_eq!(
        pair.client.failure(),
        Some(vnetcrypt_dtls::HandshakeFailure::AlertFromPeer(
            vnetcrypt_dtls::AlertDescription::BadRecordMac
        ))
    );
    assert_eq!(
        pair.server.as_ref().unwrap().failure(),
        Some(vnetcrypt_dtls::HandshakeFailure::Protocol)
    );
}

#[test]
fn replayed_record_through_handle_datagram_is_delivered_once() {
    let mut pair = connect(14, Link::default());
    let mut buf = [0u8; 100];
    buf[HEADER_ROOM..HEADER_ROOM + 3].copy_from_slice(b"abc");
    let n = pair.client.seal_in_place(&mut buf, 3).unwrap();
    let server = pair.server.as_mut().unwrap();
    let now = pair.now;
    server.handle_datagram(now, &buf[..n]);
    server.handle_datagram(now, &buf[..n]);
    let mut got = 0;
    while let Some(e) = server.poll_event() {
        if e == Event::AppData(b"abc".to_vec()) {
            got += 1;
        }
    }
    assert_eq!(got, 1);
    assert_eq!(server.stats().replayed, 1);
}

#[test]
fn sequence_limits_ask_for_rekey_then_refuse() {
    let (mut c, s) = configs(15);
    c.limits = vnetcrypt_dtls::record::RecordLimits {
        soft_seal: 3,
        hard_seal: 5,
        max_failed_opens: 1 << 20,
    };
    let mut pair = Pair::new(c, s, 15, Link::default());
    let limit = pair.now + Duration::from_secs(5);
    assert!(pair.run_until(limit, |p| p.both_connected()));
    // The client's Finished used one epoch-1 record already.
    let mut buf = [0u8; 64];
    let mut results = Vec::new();
    for _ in 0..5 {
        results.push(pair.client.seal_in_place(&mut buf, 1).is_ok());
    }
    assert_eq!(results, [true, true, true, true, false]);
    assert_eq!(
        pair.client.seal_in_place(&mut buf, 1),
        Err(RecordError::SequenceExhausted)
    );
    let mut rekey = 0;
    while let Some(e) = pair.client.poll_event() {
        rekey += (e == Event::RekeyNeeded) as u32;
    }
    assert_eq!(rekey, 1);
}

#[allow(dead_code)]
fn connect_with(c: vnetcrypt_dtls::Config, s: vnetcrypt_dtls::Config, seed: u64) -> Pair {
    let mut pair = Pair::new(c, s, seed, Link::default());
    let limit = pair.now + Duration::from_secs(10);
    assert!(pair.run_until(limit, |p| p.both_connected()));
    pair
}

#[test]
fn hello_verify_request_reuses_the_client_hello_record_sequence() {
    // Both front doors: the stateless Endpoint and a server Connection.
    let (c, s) = configs(17);
    let mut rng =
        <rand_chacha::ChaCha20Rng as rand_chacha::rand_core::SeedableRng>::seed_from_u64(5);
    let now = vnetcrypt_dtls::Instant::from_millis(1);
    let mut client = vnetcrypt_dtls::Connection::client(std::sync::Arc::new(c), now, &mut rng);
    let mut ch = [0u8; 1500];
    let n = client.poll_transmit(&mut ch).unwrap();
    let mut ch = ch[..n].to_vec();
    ch[5..11].copy_from_slice(&[0, 0, 0, 0, 0, 42]);
    let config = std::sync::Arc::new(s);
    let mut endpoint = vnetcrypt_dtls::Endpoint::new(config.clone(), &mut rng);
    let mut reply = [0u8; 256];
    let vnetcrypt_dtls::Accept::Reply(m) =
        endpoint.handle_datagram(now, b"a", &ch, &mut reply, &mut rng)
    else {
        panic!("no HelloVerifyRequest");
    };
    assert_eq!(reply[..m][5..11], [0, 0, 0, 0, 0, 42]);
    let mut server = vnetcrypt_dtls::Connection::server(config, b"a", &mut rng);
    server.handle_datagram(now, &ch);
    let m = server.poll_transmit(&mut reply).unwrap();
    assert_eq!(reply[0], 22);
    assert_eq!(reply[..m][5..11], [0, 0, 0, 0, 0, 42]);
    assert_eq!(reply[13], 3, "HelloVerifyRequest");
}

#[test]
fn failure_reason_tells_a_dead_peer_from_a_wrong_key() {
    use vnetcrypt_dtls::HandshakeFailure;
    // Nothing arrives at all: NoResponse.
    let (c, s) = configs(20);
    let mut pair = Pair::new(
        c,
        s,
        20,
        Link {
            loss: 1000,
            ..Link::default()
        },
    );
    assert_eq!(pair.client.failure(), None);
    let limit = pair.now + Duration::from_secs(400);
    pair.run_until(limit, |p| p.client.is_closed());
    assert_eq!(pair.client.failure(), Some(HandshakeFailure::NoResponse));
    // The server's key is not the pinned one: PinMismatch.
    let (mut c, s) = configs(21);
    let (other, _) = identities(96);
    c.peers = PeerPolicy::Pinned(vec![other.fingerprint()]);
    let mut pair = Pair::new(c, s, 21, Link::default());
    let limit = pair.now + Duration::from_secs(400);
    pair.run_until(limit, |p| p.client.is_closed());
    assert_eq!(pair.client.failure(), Some(HandshakeFailure::PinMismatch));
    // A good handshake has no failure.
    let pair = connect(22, Link::default());
    assert_eq!(pair.client.failure(), None);
    assert_eq!(pair.server.as_ref().unwrap().failure(), None);
}
