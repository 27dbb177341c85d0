//! Interop against OpenSSL 3's `s_server` and `s_client` in DTLS 1.2 mode.

mod interop;

use interop::*;
use std::process::Command;
use vnetcrypt_dtls::{CipherSuite, ClientAuth, Config, Event, PeerPolicy};

#[test]
fn fingerprint_helper_matches_openssl() {
    let keys = Keys::new(1);
    let ours = keys.peer_fingerprint.to_string().replace(':', "");
    assert_eq!(ours, openssl_spki_fingerprint(&keys.path("peer.pem")));
    let mine = keys.ours.fingerprint().to_string().replace(':', "");
    assert_eq!(mine, openssl_spki_fingerprint(&keys.path("ours.pem")));
}

#[test]
fn our_client_against_openssl_s_server() {
    for (i, (suite, mtu, request)) in CASES.into_iter().enumerate() {
        let keys = Keys::new(10 + i as u64);
        let port = free_udp_port();
        let mut cmd = Command::new("openssl");
        cmd.args(["s_server", "-dtls1_2", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(keys.path("peer.pem"))
            .arg("-key")
            .arg(keys.path("peer.key"))
            .args(["-cipher", suite.openssl_name(), "-mtu", &mtu.to_string()]);
        if request {
            cmd.args(["-Verify", "1"]);
        }
        let mut server = Peer::spawn(&mut cmd);
        assert!(
            server.wait_for("ACCEPT", WAIT),
            "s_server did not start: {}",
            server.output()
        );

        let config = case_config(&keys, suite, mtu);
        let mut client = UdpClient::connect(config, format!("127.0.0.1:{port}").parse().unwrap());
        let ok = client.run_until(WAIT, |c| c.conn.is_established() || c.conn.is_closed());
        assert!(
            ok && client.conn.is_established(),
            "{suite:?}/{mtu}/{request}: {:?}\n{}",
            client.events,
            server.output()
        );
        assert_eq!(client.conn.negotiated().unwrap().suite, suite);
        assert!(client.conn.negotiated().unwrap().extended_master_secret);

        client.conn.send_app_data(b"ping from vnetcrypt\n").unwrap();
        client.run_until(std::time::Duration::from_millis(200), |_| false);
        assert!(
            server.wait_for("ping from vnetcrypt", WAIT),
            "{}",
            server.output()
        );
        server.write_line("pong from openssl");
        assert!(
            client.run_until(WAIT, |c| String::from_utf8_lossy(&c.received())
                .contains("pong from openssl")),
            "{:?}",
            client.events
        );
        if request {
            // s_server saw our certificate.
            assert!(
                server.output().contains("CN = vnetcrypt-test"),
                "{}",
                server.output()
            );
        }
        client.conn.close();
        client.run_until(std::time::Duration::from_millis(100), |_| false);
        assert!(client.events.contains(&Event::Closed(None)));
    }
}

#[test]
fn our_server_against_openssl_s_client() {
    for (i, (suite, mtu, request)) in CASES.into_iter().enumerate() {
        let keys = Keys::new(20 + i as u64);
        let mut config = case_config(&keys, suite, mtu);
        config.client_auth = if request {
            ClientAuth::Require
        } else {
            ClientAuth::None
        };
        let mut server = UdpServer::bind(config);
        let mut cmd = Command::new("openssl");
        cmd.args(["s_client", "-dtls1_2", "-connect"])
            .arg(server.addr().to_string())
            .args(["-cipher", suite.openssl_name(), "-mtu", &mtu.to_string()]);
        if request {
            cmd.arg("-cert")
                .arg(keys.path("peer.pem"))
                .arg("-key")
                .arg(keys.path("peer.key"));
        }
        let mut peer = Peer::spawn(&mut cmd);
        let ok = server.run_until(WAIT, |s| s.connected().is_some());
        assert!(
            ok,
            "{suite:?}/{mtu}/{request}: {:?}\n{}",
            server.events,
            peer.output()
        );
        let want_fp = if request {
            Some(keys.peer_fingerprint)
        } else {
            None
        };
        assert!(
            matches!(server.connected(), Some(Event::Connected { peer_fingerprint, suite: s, .. }) if *peer_fingerprint == want_fp && *s == suite),
            "{:?}",
            server.events
        );
        assert!(peer.wait_for("Verify return code", WAIT));
        peer.write_line("hello from openssl");
        assert!(
            server.run_until(WAIT, |s| String::from_utf8_lossy(&s.received())
                .contains("hello from openssl")),
            "{:?}\n{}",
            server.events,
            peer.output()
        );
        server.run_until(std::time::Duration::from_millis(200), |_| false);
        assert!(
            peer.wait_for("echo:hello from openssl", WAIT),
            "{}",
            peer.output()
        );
    }
}

/// Renegotiation is refused both ways: a HelloRequest from s_server and a new ClientHello
/// from s_client (their `R` command) are answered with a no_renegotiation warning alert.
#[test]
fn renegotiation_is_refused() {
    let suite = CipherSuite::EcdheEcdsaAes128GcmSha256;
    // s_server asks our client to renegotiate.
    let keys = Keys::new(60);
    let port = free_udp_port();
    let mut cmd = Command::new("openssl");
    cmd.args(["s_server", "-dtls1_2", "-msg", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(keys.path("peer.pem"))
        .arg("-key")
        .arg(keys.path("peer.key"));
    let mut server = Peer::spawn(&mut cmd);
    assert!(server.wait_for("ACCEPT", WAIT), "{}", server.output());
    let config = Config::new(
        keys.ours.clone(),
        PeerPolicy::Pinned(vec![keys.peer_fingerprint]),
    );
    let mut client = UdpClient::connect(config, format!("127.0.0.1:{port}").parse().unwrap());
    assert!(
        client.run_until(WAIT, |c| c.conn.is_established()),
        "{:?}",
        client.events
    );
    server.write_line("R");
    // Our client answers the HelloRequest only while it is driven: drive it until
    // s_server has printed the refusal (a fixed window lost it on a loaded machine).
    client.run_until(WAIT, |_| server.output().contains("no renegotiation"));
    assert!(
        server.output().contains("no renegotiation"),
        "{}",
        server.output()
    );
    assert!(client.conn.is_established() || client.conn.is_closed());

    // s_client tries to renegotiate with our server.
    let keys = Keys::new(61);
    let mut config = Config::new(keys.ours.clone(), PeerPolicy::AnyKey);
    config.suites = vec![suite];
    config.client_auth = ClientAuth::None;
    let mut server = UdpServer::bind(config);
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-dtls1_2", "-msg", "-connect"])
        .arg(server.addr().to_string());
    let mut peer = Peer::spawn(&mut cmd);
    assert!(
        server.run_until(WAIT, |s| s.connected().is_some()),
        "{:?}",
        server.events
    );
    assert!(peer.wait_for("Verify return code", WAIT));
    peer.write_line("R");
    server.run_until(WAIT, |_| peer.output().contains("no renegotiation"));
    assert!(
        peer.output().contains("no renegotiation"),
        "{}",
        peer.output()
    );
}

/// OpenSSL parses our generated certificate and finds its self-signature valid.
#[test]
fn openssl_accepts_our_certificate() {
    let keys = Keys::new(70);
    let cert = keys.path("ours.pem");
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("ecdsa-with-SHA256"), "{text}");
    assert!(text.contains("Digital Signature"), "{text}");
    assert!(text.contains("Subject: CN = vnetcrypt-test"), "{text}");
    let verify = Command::new("openssl")
        .args(["verify", "-check_ss_sig", "-partial_chain", "-CAfile"])
        .arg(&cert)
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

/// A CertificateRequest we cannot satisfy (s_server asks for RSA signatures only) is
/// answered with an empty Certificate; s_server, only requesting, completes without one.
#[test]
fn certificate_request_we_cannot_satisfy() {
    let keys = Keys::new(80);
    let port = free_udp_port();
    let mut cmd = Command::new("openssl");
    cmd.args(["s_server", "-dtls1_2", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(keys.path("peer.pem"))
        .arg("-key")
        .arg(keys.path("peer.key"))
        .args(["-verify", "1", "-client_sigalgs", "RSA+SHA256"]);
    let server = Peer::spawn(&mut cmd);
    assert!(server.wait_for("ACCEPT", WAIT), "{}", server.output());
    let config = Config::new(
        keys.ours.clone(),
        PeerPolicy::Pinned(vec![keys.peer_fingerprint]),
    );
    let mut client = UdpClient::connect(config, format!("127.0.0.1:{port}").parse().unwrap());
    let ok = client.run_until(WAIT, |c| c.conn.is_established() || c.conn.is_closed());
    assert!(
        ok && client.conn.is_established(),
        "{:?}\n{}",
        client.events,
        server.output()
    );
    client.conn.send_app_data(b"no certificate here\n").unwrap();
    client.run_until(std::time::Duration::from_millis(200), |_| false);
    assert!(
        server.wait_for("no certificate here", WAIT),
        "{}",
        server.output()
    );
    // With a certificate, s_server prints its subject (see our_client_against_openssl_s_server).
    assert!(
        !server.output().contains("CN = vnetcrypt-test"),
        "{}",
        server.output()
    );
}

/// Lost datagrams during the handshake against s_server: our flight-5 datagram and one
/// of the server's flight-4 datagrams are dropped; both sides' retransmissions recover.
#[test]
fn handshake_recovers_from_loss_against_s_server() {
    for (drop_sent, drop_received) in [(vec![2], vec![]), (vec![], vec![2])] {
        let keys = Keys::new(90);
        let port = free_udp_port();
        let mut cmd = Command::new("openssl");
        cmd.args(["s_server", "-dtls1_2", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(keys.path("peer.pem"))
            .arg("-key")
            .arg(keys.path("peer.key"))
            .args(["-mtu", "256"]);
        let server = Peer::spawn(&mut cmd);
        assert!(server.wait_for("ACCEPT", WAIT), "{}", server.output());
        let mut config = Config::new(
            keys.ours.clone(),
            PeerPolicy::Pinned(vec![keys.peer_fingerprint]),
        );
        config.mtu = 256;
        let mut client = UdpClient::connect(config, format!("127.0.0.1:{port}").parse().unwrap());
        // Datagrams: sent 0 = ClientHello, 1 = ClientHello with cookie, 2.. = flight 5;
        // received 0 = HelloVerifyRequest, 1.. = flight 4 (fragmented at this MTU).
        client.drop_sent = drop_sent.clone();
        client.drop_received = drop_received.clone();
        let ok = client.run_until(WAIT, |c| c.conn.is_established() || c.conn.is_closed());
        assert!(
            ok && client.conn.is_established(),
            "{drop_sent:?}/{drop_received:?}: {:?}\n{}",
            client.events,
            server.output()
        );
        assert!(client.conn.stats().retransmits > 0);
        client.conn.send_app_data(b"after loss\n").unwrap();
        client.run_until(std::time::Duration::from_millis(200), |_| false);
        assert!(server.wait_for("after loss", WAIT), "{}", server.output());
    }
}
