//! The operations endpoints of a node on the simulated fabric, on a virtual clock: the
//! metrics endpoint over real TCP (a smoltcp client on the lan host), its bounds
//! (slow clients, oversized heads) and its absence on wan; the SNTP client against a
//! test server on lan, with a spoofed reply that must change nothing.

mod sim;

use sim::fabric::Faults;
use sim::host::Host;
use sim::{lan_ip, wan_ip, Sim};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::IpEndpoint;
use std::net::Ipv4Addr;
use vnetcrypt_ops::sntp::unix_us_to_ntp;

const PORT: u16 = 9100;

fn tcp_client(host: &mut Host, to: Ipv4Addr, port: u16, local: u16) -> SocketHandle {
    let s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        tcp::SocketBuffer::new(vec![0; 8 * 1024]),
    );
    let h = host.add_socket(s);
    let (s, cx) = host.socket::<tcp::Socket>(h);
    s.connect(cx, IpEndpoint::new(to.into(), port), local)
        .expect("connect");
    h
}

/// Sends `request` on a new connection from host `i` and collects the answer until the
/// node closes; `None` if no answer came within `max_ms`.
fn exchange(sim: &mut Sim, i: usize, request: &[u8], local: u16, max_ms: u64) -> Option<String> {
    let to = lan_ip(sim.nodes[i].n);
    let h = tcp_client(&mut sim.hosts[i], to, PORT, local);
    let mut sent = false;
    let mut answer = Vec::new();
    let done = sim.run_until(max_ms, |sim| {
        let (s, _) = sim.hosts[i].socket::<tcp::Socket>(h);
        if !sent && s.can_send() {
            s.send_slice(request).expect("room for the request");
            sent = true;
        }
        while s.can_recv() {
            let _ = s.recv(|b| {
                answer.extend_from_slice(b);
                (b.len(), ())
            });
        }
        sent && !s.may_recv() && !answer.is_empty()
    });
    let (s, _) = sim.hosts[i].socket::<tcp::Socket>(h);
    s.abort();
    // Let the reset reach the node, which listens again at its next poll.
    sim.run_for(5);
    done.then(|| String::from_utf8_lossy(&answer).into_owned())
}

fn metrics_node() -> Sim {
    let mut sim = Sim::new(7, Faults::default());
    sim.add_node(1);
    sim.set(0, "metrics on");
    sim.run_for(50);
    sim
}

#[test]
fn a_scrape_over_tcp_and_the_errors() {
    let mut sim = metrics_node();
    let get = b"GET /metrics HTTP/1.1\r\nHost: 10.1.0.1\r\n\r\n";
    let text = exchange(&mut sim, 0, get, 40_001, 2000).expect("an answer");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(text.contains("\nvnetcrypt_interface_rx_packets_total{interface=\"lan\"} "));
    assert!(text.contains("\n# TYPE vnetcrypt_handshake_duration_seconds histogram\n"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body.len(), len);

    let ask = |sim: &mut Sim, req: &[u8], local| exchange(sim, 0, req, local, 2000).unwrap();
    assert!(ask(&mut sim, b"GET / HTTP/1.1\r\n\r\n", 40_002).starts_with("HTTP/1.1 404"));
    let post = ask(&mut sim, b"POST /metrics HTTP/1.1\r\n\r\n", 40_003);
    assert!(post.starts_with("HTTP/1.1 405") && post.contains("Allow: GET, HEAD"));
    assert!(ask(&mut sim, b"GET /metrics SPDY\r\n\r\n", 40_004).starts_with("HTTP/1.1 400"));
    let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    big.resize(4000, b'a');
    assert!(ask(&mut sim, &big, 40_005).starts_with("HTTP/1.1 431"));
    let head = ask(&mut sim, b"HEAD /metrics HTTP/1.1\r\n\r\n", 40_006);
    assert!(
        head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    // The endpoint counts its answers.
    let text = ask(&mut sim, get, 40_007);
    assert!(text.contains("vnetcrypt_metrics_http_responses_total{code=\"404\"} 1\n"));
    assert!(text.contains("vnetcrypt_metrics_http_responses_total{code=\"431\"} 1\n"));
}

#[test]
fn silent_clients_are_cut_off_and_never_wedge_the_endpoint() {
    let mut sim = metrics_node();
    // Two clients connect and say nothing: both slots taken.
    let silent: Vec<_> = (0..2)
        .map(|k| tcp_client(&mut sim.hosts[0], lan_ip(1), PORT, 41_000 + k))
        .collect();
    sim.run_for(100);
    for &h in &silent {
        assert_eq!(
            sim.hosts[0].socket::<tcp::Socket>(h).0.state(),
            tcp::State::Established
        );
    }
    let get = b"GET /metrics HTTP/1.1\r\n\r\n";
    assert_eq!(
        exchange(&mut sim, 0, get, 41_100, 1000),
        None,
        "a third slot"
    );
    // Within the connection lifetime (10 s) the node aborts them and serves again.
    sim.run_for(10_000);
    for &h in &silent {
        assert_eq!(
            sim.hosts[0].socket::<tcp::Socket>(h).0.state(),
            tcp::State::Closed
        );
    }
    let text = exchange(&mut sim, 0, get, 41_101, 2000).expect("served after the cut-off");
    assert!(text.starts_with("HTTP/1.1 200"));

    // Two clients take their answer but never close their side: the node's sockets
    // wait in FIN-WAIT-2 with both slots taken, until the idle timeout (nothing from
    // the client for 5 s) or the lifetime (10 s after accept) ends them.
    let half: Vec<_> = (0..2)
        .map(|k| tcp_client(&mut sim.hosts[0], lan_ip(1), PORT, 41_200 + k))
        .collect();
    let mut sent = [false; 2];
    sim.run_until(2000, |sim| {
        for (k, &h) in half.iter().enumerate() {
            let (s, _) = sim.hosts[0].socket::<tcp::Socket>(h);
            if !sent[k] && s.can_send() {
                s.send_slice(get).unwrap();
                sent[k] = true;
            }
            while s.can_recv() {
                let _ = s.recv(|b| (b.len(), ()));
            }
        }
        half.iter()
            .all(|&h| sim.hosts[0].socket::<tcp::Socket>(h).0.state() == tcp::State::CloseWait)
    });
    for &h in &half {
        assert_eq!(
            sim.hosts[0].socket::<tcp::Socket>(h).0.state(),
            tcp::State::CloseWait
        );
    }
    assert_eq!(
        exchange(&mut sim, 0, get, 41_300, 1000),
        None,
        "both slots held"
    );
    sim.run_for(10_000);
    let text = exchange(&mut sim, 0, get, 41_301, 2000).expect("served after the cut-off");
    assert!(text.starts_with("HTTP/1.1 200"));
}

#[test]
fn wan_never_answers_on_the_metrics_port() {
    let mut sim = metrics_node();
    let now = sim.now_us();
    let wan = sim.wan;
    let fabric = sim.fabric.clone();
    let mut attacker = Host::new(
        &fabric,
        wan,
        [2, 0, 0, 9, 9, 9],
        Ipv4Addr::new(192, 0, 2, 99),
        24,
        None,
        now,
    );
    let to_wan = tcp_client(&mut attacker, wan_ip(1), PORT, 42_000);
    sim.hosts.push(attacker);
    let a = sim.hosts.len() - 1;
    sim.run_for(3000);
    let (s, _) = sim.hosts[a].socket::<tcp::Socket>(to_wan);
    assert!(
        !s.may_recv() && s.state() != tcp::State::Established,
        "{:?}",
        s.state()
    );
    // Nothing the node's lan stack serves is reachable from wan either: a SYN for the
    // lan address arriving on wan is not the stack's.
    let (s, _) = sim.hosts[a].socket::<tcp::Socket>(to_wan);
    s.abort();
    sim.run_for(10);
    let to_lan = tcp_client(&mut sim.hosts[a], lan_ip(1), PORT, 42_001);
    sim.run_for(3000);
    let (s, _) = sim.hosts[a].socket::<tcp::Socket>(to_lan);
    assert_ne!(s.state(), tcp::State::Established);
    assert!(!s.can_recv());
}

/// 2031-05-01T12:00:00Z in Unix microseconds.
const SERVED_US: i64 = 1_935_403_200_000_000;

/// A server reply to `request` carrying `time_us`; `nonce_override` forges the
/// originate timestamp (a spoofer who did not see the request).
fn reply(request: &[u8], time_us: i64, nonce_override: Option<[u8; 8]>) -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = 4 << 3 | 4;
    p[1] = 2;
    p[12..16].copy_from_slice(b"TEST");
    p[24..32]
        .copy_from_slice(&nonce_override.unwrap_or_else(|| request[40..48].try_into().unwrap()));
    let ts = unix_us_to_ntp(time_us).to_be_bytes();
    p[32..40].copy_from_slice(&ts);
    p[40..48].copy_from_slice(&ts);
    p
}

#[test]
fn the_clock_follows_a_lan_sntp_server_and_ignores_a_spoofed_reply() {
    let mut sim = Sim::new(9, Faults::default());
    sim.add_node(1);
    let buf = |n| udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; n], vec![0; n * 64]);
    let mut server = udp::Socket::new(buf(8), buf(8));
    server.bind(123).unwrap();
    let h = sim.hosts[0].add_socket(server);
    assert!(sim.cmd(0, "time").contains("source rtc"));
    sim.set(0, "ntp 10.1.0.10");
    // The first request arrives; a spoofed answer (wrong nonce) comes first, then the
    // genuine one.
    let mut answered = false;
    let ok = sim.run_until(1000, |sim| {
        let (s, _) = sim.hosts[0].socket::<udp::Socket>(h);
        if let Ok((req, meta)) = s.recv() {
            let req = req.to_vec();
            // The spoofer claims 1999.
            let spoofed = reply(&req, 915_148_800_000_000, Some([0xee; 8]));
            s.send_slice(&spoofed, meta.endpoint).unwrap();
            s.send_slice(&reply(&req, SERVED_US, None), meta.endpoint)
                .unwrap();
            answered = true;
        }
        answered && sim.cmd(0, "time").contains("source sntp")
    });
    let time = sim.cmd(0, "time");
    assert!(ok, "{time}");
    assert!(time.contains("time 2031-05-01T12:00:00"), "{time}");
    assert!(time.contains("rejected 1"), "{time}");
    // Off: back to the RTC.
    sim.set(0, "ntp off");
    sim.run_for(1);
    assert!(sim.cmd(0, "time").contains("source rtc"));
    // A server on the wan side is refused.
    assert!(sim
        .cmd(0, "ntp 192.0.2.50")
        .contains("not on the lan subnet"));
}
