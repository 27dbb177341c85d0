//! Interop against GnuTLS 3.7's `gnutls-serv --udp` and `gnutls-cli --udp`.

mod interop;

use interop::*;
use std::process::Command;
use vnetcrypt_dtls::{CipherSuite, ClientAuth, Config, Event, PeerPolicy};

fn priority(suite: CipherSuite) -> String {
    let cipher = match suite {
        CipherSuite::EcdheEcdsaAes128GcmSha256 => "+AES-128-GCM",
        CipherSuite::EcdheEcdsaAes256GcmSha384 => "+AES-256-GCM",
    };
    format!("NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:{cipher}:-KX-ALL:+ECDHE-ECDSA")
}

#[test]
fn our_client_against_gnutls_serv() {
    for (i, (suite, mtu, request)) in CASES.into_iter().enumerate() {
        let keys = Keys::new(30 + i as u64);
        let port = free_udp_port();
        let mut cmd = Command::new("gnutls-serv");
        cmd.args(["--udp", "--echo", "--port", &port.to_string()])
            .arg("--x509certfile")
            .arg(keys.path("peer.pem"))
            .arg("--x509keyfile")
            .arg(keys.path("peer.key"))
            .arg(format!("--priority={}", priority(suite)))
            .arg(format!("--mtu={mtu}"));
        cmd.arg(if request {
            "--require-client-cert"
        } else {
            "--disable-client-cert"
        });
        let server = Peer::spawn(&mut cmd);
        assert!(
            server.wait_for("listening on IPv4", WAIT),
            "gnutls-serv did not start: {}",
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

        // gnutls-serv --echo sends every record back.
        client.conn.send_app_data(b"ping from vnetcrypt").unwrap();
        assert!(
            client.run_until(WAIT, |c| c.received() == b"ping from vnetcrypt"),
            "{:?}\n{}",
            client.events,
            server.output()
        );
        client.conn.close();
        client.run_until(std::time::Duration::from_millis(100), |_| false);
        assert!(client.events.contains(&Event::Closed(None)));
    }
}

#[test]
fn our_server_against_gnutls_cli() {
    for (i, (suite, mtu, request)) in CASES.into_iter().enumerate() {
        let keys = Keys::new(40 + i as u64);
        let mut config = case_config(&keys, suite, mtu);
        config.client_auth = if request {
            ClientAuth::Require
        } else {
            ClientAuth::None
        };
        let mut server = UdpServer::bind(config);
        let addr = server.addr();
        let mut cmd = Command::new("gnutls-cli");
        cmd.args(["--udp", "--insecure", "--port", &addr.port().to_string()])
            .arg(format!("--priority={}", priority(suite)))
            .arg(format!("--mtu={mtu}"));
        if request {
            cmd.arg("--x509certfile")
                .arg(keys.path("peer.pem"))
                .arg("--x509keyfile")
                .arg(keys.path("peer.key"));
        }
        cmd.arg("127.0.0.1");
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
        assert!(
            peer.wait_for("Handshake was completed", WAIT),
            "{}",
            peer.output()
        );
        peer.write_line("hello from gnutls");
        assert!(
            server.run_until(WAIT, |s| String::from_utf8_lossy(&s.received())
                .contains("hello from gnutls")),
            "{:?}\n{}",
            server.events,
            peer.output()
        );
        server.run_until(std::time::Duration::from_millis(200), |_| false);
        assert!(
            peer.wait_for("echo:hello from gnutls", WAIT),
            "{}",
            peer.output()
        );
    }
}

/// GnuTLS with `%NO_SESSION_HASH` does not negotiate the extended master secret: we refuse
/// it by default, and complete the classic-master-secret handshake when told not to
/// require EMS.
#[test]
fn extended_master_secret_against_gnutls_without_it() {
    let suite = CipherSuite::EcdheEcdsaAes128GcmSha256;
    for require in [true, false] {
        let keys = Keys::new(50);
        let port = free_udp_port();
        let mut cmd = Command::new("gnutls-serv");
        cmd.args([
            "--udp",
            "--echo",
            "--disable-client-cert",
            "--port",
            &port.to_string(),
        ])
        .arg("--x509certfile")
        .arg(keys.path("peer.pem"))
        .arg("--x509keyfile")
        .arg(keys.path("peer.key"))
        .arg(format!("--priority={}:%NO_SESSION_HASH", priority(suite)));
        let server = Peer::spawn(&mut cmd);
        assert!(
            server.wait_for("listening on IPv4", WAIT),
            "{}",
            server.output()
        );
        let mut config = Config::new(
            keys.ours.clone(),
            PeerPolicy::Pinned(vec![keys.peer_fingerprint]),
        );
        config.require_extended_master_secret = require;
        // The refusal is not final until the handshake's own time is over (ServerHello
        // is not authenticated): keep that short here.
        config.handshake_timeout = vnetcrypt_dtls::Duration::from_secs(3);
        let mut client = UdpClient::connect(config, format!("127.0.0.1:{port}").parse().unwrap());
        client.run_until(WAIT, |c| c.conn.is_established() || c.conn.is_closed());
        if require {
            assert!(
                client.events.contains(&Event::Closed(Some(
                    vnetcrypt_dtls::Error::MissingExtendedMasterSecret
                ))),
                "{:?}",
                client.events
            );
        } else {
            assert!(
                client.conn.is_established(),
                "{:?}\n{}",
                client.events,
                server.output()
            );
            assert!(!client.conn.negotiated().unwrap().extended_master_secret);
            client.conn.send_app_data(b"classic master secret").unwrap();
            assert!(client.run_until(WAIT, |c| c.received() == b"classic master secret"));
        }
    }
    // Our server refuses a client without EMS.
    let keys = Keys::new(51);
    let mut config = Config::new(keys.ours.clone(), PeerPolicy::AnyKey);
    config.client_auth = ClientAuth::None;
    config.handshake_timeout = vnetcrypt_dtls::Duration::from_secs(3);
    let mut server = UdpServer::bind(config);
    let mut cmd = Command::new("gnutls-cli");
    cmd.args([
        "--udp",
        "--insecure",
        "--port",
        &server.addr().port().to_string(),
    ])
    .arg(format!("--priority={}:%NO_SESSION_HASH", priority(suite)))
    .arg("127.0.0.1");
    let peer = Peer::spawn(&mut cmd);
    let refused = |s: &UdpServer| {
        s.events.contains(&Event::Closed(Some(
            vnetcrypt_dtls::Error::MissingExtendedMasterSecret,
        )))
    };
    assert!(server.run_until(WAIT, refused), "{:?}", server.events);
    // We send no alert for an unauthenticated refusal; nothing completes.
    server.run_until(std::time::Duration::from_secs(1), |_| false);
    assert!(server.connected().is_none());
    assert!(!peer.output().contains("Handshake was completed"));
}
