//! Interop harness: drives the engine over loopback UDP against external DTLS peers
//! (OpenSSL `s_server`/`s_client`, GnuTLS `gnutls-serv`/`gnutls-cli`). Keys and
//! certificates are generated into a temporary directory for each test.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant as StdInstant};
use vnetcrypt_dtls::{
    Accept, CipherSuite, Config, Connection, Endpoint, Event, Fingerprint, Identity, Instant,
    PeerPolicy,
};

pub const WAIT: StdDuration = StdDuration::from_secs(20);

/// The interop cases, against every external peer: (suite, MTU, CertificateRequest).
pub const CASES: [(CipherSuite, usize, bool); 8] = [
    (CipherSuite::EcdheEcdsaAes128GcmSha256, 1400, false),
    (CipherSuite::EcdheEcdsaAes256GcmSha384, 1400, false),
    (CipherSuite::EcdheEcdsaAes128GcmSha256, 1400, true),
    (CipherSuite::EcdheEcdsaAes256GcmSha384, 1400, true),
    (CipherSuite::EcdheEcdsaAes128GcmSha256, 256, false),
    (CipherSuite::EcdheEcdsaAes256GcmSha384, 256, false),
    (CipherSuite::EcdheEcdsaAes128GcmSha256, 256, true),
    (CipherSuite::EcdheEcdsaAes256GcmSha384, 256, true),
];

/// Our configuration for one case: pinned to the peer's key, one suite, the case's
/// MTU. At the small MTU our Certificate message cannot fit one record, so the
/// handshake is fragmented; asserted here, so that every such case proves it.
pub fn case_config(keys: &Keys, suite: CipherSuite, mtu: usize) -> Config {
    let mut config = Config::new(
        keys.ours.clone(),
        PeerPolicy::Pinned(vec![keys.peer_fingerprint]),
    );
    config.suites = vec![suite];
    config.mtu = mtu;
    assert_eq!(
        mtu < 13 + 12 + keys.ours.certificate_der().len(),
        mtu == 256
    );
    config
}

/// A child process killed on drop, with its merged output collected.
pub struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<Mutex<String>>,
}

impl Peer {
    pub fn spawn(cmd: &mut Command) -> Peer {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let output = Arc::new(Mutex::new(String::new()));
        for mut stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = output.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let stdin = child.stdin.take();
        Peer {
            child,
            stdin,
            output,
        }
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    pub fn write_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits until the output contains `needle`.
    pub fn wait_for(&self, needle: &str, timeout: StdDuration) -> bool {
        let start = StdInstant::now();
        while start.elapsed() < timeout {
            if self.output().contains(needle) {
                return true;
            }
            std::thread::sleep(StdDuration::from_millis(20));
        }
        false
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory with an OpenSSL-generated P-256 key and self-signed certificate
/// for the external peer, and our identity's certificate.
pub struct Keys {
    pub dir: tempfile::TempDir,
    pub peer_fingerprint: Fingerprint,
    pub ours: Identity,
}

impl Keys {
    pub fn new(seed: u64) -> Keys {
        use rand_chacha::rand_core::SeedableRng;
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ])
            .arg("-keyout")
            .arg(dir.path().join("peer.key"))
            .arg("-out")
            .arg(dir.path().join("peer.pem"))
            .args(["-days", "2", "-subj", "/CN=interop-peer"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl req");
        assert!(status.success());
        let pem = std::fs::read_to_string(dir.path().join("peer.pem")).unwrap();
        let peer_fingerprint = vnetcrypt_dtls::fingerprint_of_certificate_pem(&pem).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let ours = Identity::generate(&mut rng, "vnetcrypt-test").unwrap();
        std::fs::write(dir.path().join("ours.pem"), ours.certificate_pem()).unwrap();
        let key = ours.private_key_pkcs8_pem().unwrap();
        std::fs::write(dir.path().join("ours.key"), key.as_bytes()).unwrap();
        Keys {
            dir,
            peer_fingerprint,
            ours,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The SPKI fingerprint of a PEM certificate as OpenSSL computes it:
/// `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256`.
pub fn openssl_spki_fingerprint(cert: &Path) -> String {
    let sh = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -r",
        cert.display()
    );
    let out = Command::new("sh").arg("-c").arg(sh).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn now_of(start: StdInstant) -> Instant {
    Instant::from_micros(start.elapsed().as_micros() as u64)
}

/// Our client over a UDP socket.
pub struct UdpClient {
    pub conn: Connection,
    sock: UdpSocket,
    start: StdInstant,
    pub events: Vec<Event>,
    /// Indices (0-based, in order) of datagrams to drop instead of sending / receiving.
    pub drop_sent: Vec<usize>,
    pub drop_received: Vec<usize>,
    sent: usize,
    received: usize,
}

impl UdpClient {
    pub fn connect(config: Config, server: SocketAddr) -> UdpClient {
        use rand_chacha::rand_core::SeedableRng;
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.connect(server).unwrap();
        let start = StdInstant::now();
        let mut rng = rand_chacha::ChaCha20Rng::from_entropy();
        let conn = Connection::client(Arc::new(config), now_of(start), &mut rng);
        UdpClient {
            conn,
            sock,
            start,
            events: Vec::new(),
            drop_sent: Vec::new(),
            drop_received: Vec::new(),
            sent: 0,
            received: 0,
        }
    }

    /// Runs the engine until `done` or the timeout.
    pub fn run_until(
        &mut self,
        timeout: StdDuration,
        mut done: impl FnMut(&UdpClient) -> bool,
    ) -> bool {
        let deadline = StdInstant::now() + timeout;
        let mut buf = [0u8; 2048];
        loop {
            while let Some(n) = self.conn.poll_transmit(&mut buf) {
                if !self.drop_sent.contains(&self.sent) {
                    let _ = self.sock.send(&buf[..n]);
                }
                self.sent += 1;
            }
            while let Some(e) = self.conn.poll_event() {
                self.events.push(e);
            }
            if done(self) {
                return true;
            }
            if StdInstant::now() >= deadline {
                return false;
            }
            let mut wait = StdDuration::from_millis(20);
            if let Some(t) = self.conn.poll_timeout() {
                let now = now_of(self.start);
                wait = wait.min((t - now).max(StdDuration::from_millis(1)));
            }
            self.sock.set_read_timeout(Some(wait)).unwrap();
            if let Ok(n) = self.sock.recv(&mut buf) {
                if !self.drop_received.contains(&self.received) {
                    self.conn.handle_datagram(now_of(self.start), &buf[..n]);
                }
                self.received += 1;
            }
            self.conn.handle_timeout(now_of(self.start));
        }
    }

    pub fn received(&self) -> Vec<u8> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::AppData(d) => Some(d.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

/// Our server (Endpoint + connections) over a UDP socket, echoing application data back
/// with a prefix.
pub struct UdpServer {
    pub endpoint: Endpoint,
    pub sock: UdpSocket,
    pub conns: HashMap<SocketAddr, Connection>,
    start: StdInstant,
    pub events: Vec<Event>,
    pub echo_prefix: &'static [u8],
}

impl UdpServer {
    pub fn bind(config: Config) -> UdpServer {
        use rand_chacha::rand_core::SeedableRng;
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::from_entropy();
        UdpServer {
            endpoint: Endpoint::new(Arc::new(config), &mut rng),
            sock,
            conns: HashMap::new(),
            start: StdInstant::now(),
            events: Vec::new(),
            echo_prefix: b"echo:",
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    pub fn run_until(
        &mut self,
        timeout: StdDuration,
        mut done: impl FnMut(&UdpServer) -> bool,
    ) -> bool {
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::from_entropy();
        let deadline = StdInstant::now() + timeout;
        let mut buf = [0u8; 2048];
        loop {
            for (addr, c) in self.conns.iter_mut() {
                while let Some(e) = c.poll_event() {
                    if let Event::AppData(d) = &e {
                        let mut reply = self.echo_prefix.to_vec();
                        reply.extend_from_slice(d);
                        let _ = c.send_app_data(&reply);
                    }
                    self.events.push(e);
                }
                while let Some(n) = c.poll_transmit(&mut buf) {
                    let _ = self.sock.send_to(&buf[..n], addr);
                }
            }
            if done(self) {
                return true;
            }
            if StdInstant::now() >= deadline {
                return false;
            }
            self.sock
                .set_read_timeout(Some(StdDuration::from_millis(20)))
                .unwrap();
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                let now = now_of(self.start);
                if let Some(c) = self.conns.get_mut(&from) {
                    c.handle_datagram(now, &buf[..n]);
                } else {
                    let key = from.to_string();
                    let mut reply = [0u8; 512];
                    match self.endpoint.handle_datagram(
                        now,
                        key.as_bytes(),
                        &buf[..n],
                        &mut reply,
                        &mut rng,
                    ) {
                        Accept::Reply(len) => {
                            let _ = self.sock.send_to(&reply[..len], from);
                        }
                        Accept::Connection(c) => {
                            self.conns.insert(from, *c);
                        }
                        Accept::Ignore => {}
                    }
                }
            }
            let now = now_of(self.start);
            for c in self.conns.values_mut() {
                c.handle_timeout(now);
            }
        }
    }

    pub fn received(&self) -> Vec<u8> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::AppData(d) => Some(d.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub fn connected(&self) -> Option<&Event> {
        self.events
            .iter()
            .find(|e| matches!(e, Event::Connected { .. }))
    }
}
