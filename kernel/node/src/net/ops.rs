//! The operations sockets, on the lan NIC only: the metrics endpoint's TCP listeners
//! and the SNTP client's UDP socket. They belong to the lan interface's smoltcp socket
//! set, so nothing arriving on wan ever reaches them (wan has its own interface and
//! sockets; a frame for the lan address arriving on wan is transit traffic for the
//! data plane, never the stack's).
//!
//! The HTTP server never wedges the node: at most [`CONNECTIONS`] connections at a
//! time (one listener each), a request head of at most `http::MAX_REQUEST` bytes,
//! one answer per connection, then close; a connection that is still open
//! [`CONNECTION_LIFETIME_US`] after it was accepted is aborted (whatever it is doing,
//! closing included), and smoltcp's own timeout ends one from which nothing arrives
//! for 5 s.

use super::nic::Nic;
use super::Interfaces;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Duration;
use smoltcp::wire::{IpAddress, IpEndpoint};
use vnetcrypt_console::config::{Config, Iface};
use vnetcrypt_ops::http::{self, Answer, Parsed, Status, MAX_REQUEST};

/// Connections served at once (each its own listening socket).
pub const CONNECTIONS: usize = 2;
/// A connection is aborted this long after it was accepted, whatever it is doing.
pub const CONNECTION_LIFETIME_US: u64 = 10_000_000;
/// smoltcp ends a connection from which nothing arrives for this long.
const TCP_TIMEOUT: Duration = Duration::from_secs(5);
/// The send buffer: a response larger than this is sent in pieces as it drains.
const TX_BYTES: usize = 8 * 1024;
/// The local port SNTP requests leave from.
pub const SNTP_LOCAL_PORT: u16 = 49_998;

#[derive(Debug)]
enum Phase {
    Listening,
    Reading,
    /// A complete request for the metrics; the body is rendered by the caller.
    AwaitingBody {
        head: bool,
    },
    Writing {
        data: Vec<u8>,
        sent: usize,
    },
    /// Closed or aborted by us: back to listening once smoltcp let it go.
    Closing,
}

struct Connection {
    handle: SocketHandle,
    phase: Phase,
    /// The request head so far (at most `MAX_REQUEST` bytes are kept).
    request: Vec<u8>,
    /// Uptime when the connection was accepted.
    since: u64,
}

/// What the metrics endpoint has done, for the metrics themselves.
#[derive(Debug, Default, Clone, Copy)]
pub struct ServerStats {
    /// Answers by status: 200, 400, 404, 405, 431, 505.
    pub answers: [u64; 6],
    /// Connections aborted at the lifetime limit.
    pub aborted: u64,
    /// Connections the client closed before sending a whole request.
    pub abandoned: u64,
}

impl ServerStats {
    pub const STATUSES: [Status; 6] = [
        Status::Ok,
        Status::BadRequest,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::HeaderTooLarge,
        Status::VersionNotSupported,
    ];
    fn count(&mut self, s: Status) {
        if let Some(i) = Self::STATUSES.iter().position(|&x| x == s) {
            self.answers[i] += 1;
        }
    }
}

pub struct MetricsServer {
    port: u16,
    conns: Vec<Connection>,
}

/// The operations sockets of one NIC.
#[derive(Default)]
pub struct OpsSockets {
    metrics: Option<MetricsServer>,
    sntp: Option<SocketHandle>,
    pub metrics_stats: ServerStats,
}

fn listener(sockets: &mut SocketSet<'static>, port: u16) -> SocketHandle {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; MAX_REQUEST]),
        tcp::SocketBuffer::new(vec![0u8; TX_BYTES]),
    );
    s.set_timeout(Some(TCP_TIMEOUT));
    // Port 0 is refused by the configuration; a failed listen leaves a closed socket
    // that `serve` tries again.
    let _ = s.listen(port);
    sockets.add(s)
}

impl Nic {
    /// Opens or closes this NIC's operations sockets to match `config` (on lan only).
    fn apply_ops(&mut self, config: &Config) {
        let lan = self.role == Iface::Lan;
        let want_port = config.metrics.filter(|_| lan);
        if self.ops.metrics.as_ref().map(|m| m.port) != want_port {
            if let Some(m) = self.ops.metrics.take() {
                for c in m.conns {
                    self.sockets.remove(c.handle);
                }
            }
            if let Some(port) = want_port {
                let conns = (0..CONNECTIONS)
                    .map(|_| Connection {
                        handle: listener(&mut self.sockets, port),
                        phase: Phase::Listening,
                        request: Vec::with_capacity(MAX_REQUEST),
                        since: 0,
                    })
                    .collect();
                self.ops.metrics = Some(MetricsServer { port, conns });
            }
        }
        let want_sntp = lan && config.ntp.is_some();
        match (want_sntp, self.ops.sntp) {
            (true, None) => {
                let buf = |n| {
                    udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; n], vec![0u8; n * 128])
                };
                let mut s = udp::Socket::new(buf(4), buf(2));
                if s.bind(SNTP_LOCAL_PORT).is_ok() {
                    self.ops.sntp = Some(self.sockets.add(s));
                }
            }
            (false, Some(h)) => {
                self.sockets.remove(h);
                self.ops.sntp = None;
            }
            _ => {}
        }
    }

    /// Moves each metrics connection along; returns whether any wants the body.
    fn advance_metrics(&mut self, now: u64) -> bool {
        let Some(server) = self.ops.metrics.as_mut() else {
            return false;
        };
        let stats = &mut self.ops.metrics_stats;
        let mut wants_body = false;
        for c in &mut server.conns {
            let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
            // Done, reset by the client, aborted by us (in an earlier call, so that
            // smoltcp has sent the reset), or never listening: listen again.
            if matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait) {
                let _ = s.listen(server.port);
                c.phase = Phase::Listening;
            }
            if matches!(c.phase, Phase::Listening) && !s.is_listening() && s.is_open() {
                c.phase = Phase::Reading;
                c.request.clear();
                c.since = now;
            }
            // Closing counts too: a client that keeps acknowledging but never sends
            // its FIN would hold the socket in FIN-WAIT-2.
            if !matches!(c.phase, Phase::Listening)
                && now.saturating_sub(c.since) >= CONNECTION_LIFETIME_US
            {
                s.abort();
                stats.aborted += 1;
                c.phase = Phase::Closing;
                continue;
            }
            if let Phase::Reading = c.phase {
                let room = MAX_REQUEST - c.request.len();
                if room > 0 && s.can_recv() {
                    let _ = s.recv(|b| {
                        let n = b.len().min(room);
                        c.request.extend_from_slice(&b[..n]);
                        (n, ())
                    });
                }
                match http::parse(&c.request) {
                    Parsed::Incomplete if !s.may_recv() && s.state() != tcp::State::SynReceived => {
                        stats.abandoned += 1;
                        s.abort();
                        c.phase = Phase::Closing;
                    }
                    Parsed::Incomplete => {}
                    Parsed::Invalid(status) => {
                        stats.count(status);
                        c.phase = error_response(status);
                    }
                    Parsed::Request(r) => match http::answer(&r) {
                        Answer::Metrics { head } => {
                            stats.count(Status::Ok);
                            c.phase = Phase::AwaitingBody { head };
                            wants_body = true;
                        }
                        Answer::Error(status) => {
                            stats.count(status);
                            c.phase = error_response(status);
                        }
                    },
                }
            }
        }
        wants_body
    }

    /// Gives waiting connections the body, and sends what fits.
    fn write_metrics(&mut self, body: Option<&str>) -> bool {
        let Some(server) = self.ops.metrics.as_mut() else {
            return false;
        };
        let mut wrote = false;
        for c in &mut server.conns {
            let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
            if let (Phase::AwaitingBody { head }, Some(body)) = (&c.phase, body) {
                let mut text = String::with_capacity(body.len() + 160);
                let _ = http::write_head(&mut text, Status::Ok, http::CONTENT_TYPE, body.len());
                if !head {
                    text.push_str(body);
                }
                c.phase = Phase::Writing {
                    data: text.into_bytes(),
                    sent: 0,
                };
            }
            if let Phase::Writing { data, sent } = &mut c.phase {
                if let Ok(n) = s.send_slice(&data[*sent..]) {
                    *sent += n;
                    wrote |= n > 0;
                }
                if *sent == data.len() {
                    s.close();
                    c.phase = Phase::Closing;
                }
            }
        }
        wrote
    }

    /// The next deadline of the metrics connections (uptime microseconds).
    fn metrics_deadline(&self) -> Option<u64> {
        let server = self.ops.metrics.as_ref()?;
        server
            .conns
            .iter()
            .filter(|c| !matches!(c.phase, Phase::Listening))
            .map(|c| c.since + CONNECTION_LIFETIME_US)
            .min()
    }
}

fn error_response(status: Status) -> Phase {
    let body = alloc::format!("{} {}\n", status.code(), status.reason());
    let mut text = String::new();
    let _ = http::write_head(&mut text, status, "text/plain; charset=utf-8", body.len());
    text.push_str(&body);
    Phase::Writing {
        data: text.into_bytes(),
        sent: 0,
    }
}

impl Interfaces {
    /// Opens or closes the operations sockets to match `config`: they live on
    /// whichever NIC is lan now.
    pub fn apply_ops(&mut self, config: &Config) {
        for nic in &mut self.nics {
            nic.apply_ops(config);
        }
    }

    /// Serves the metrics endpoint: reads requests, answers them (rendering the body
    /// with `render` at most once per call, only when a request wants it) and closes.
    /// Returns whether anything was written (poll again soon to send it).
    pub fn serve_metrics(
        &mut self,
        now: u64,
        render: &mut dyn FnMut(&Interfaces) -> String,
    ) -> bool {
        let Some(lan) = self.nic_mut(Iface::Lan) else {
            return false;
        };
        let wants = lan.advance_metrics(now);
        let body = wants.then(|| render(self));
        self.nic_mut(Iface::Lan)
            .is_some_and(|lan| lan.write_metrics(body.as_deref()))
    }

    /// The metrics endpoint's counters (lan).
    pub fn metrics_stats(&self) -> ServerStats {
        self.nic(Iface::Lan)
            .map(|n| n.ops.metrics_stats)
            .unwrap_or_default()
    }

    /// When the operations sockets next need [`Self::serve_metrics`] with nothing
    /// received.
    pub fn ops_deadline(&self) -> Option<u64> {
        self.nic(Iface::Lan)?.metrics_deadline()
    }

    /// Sends an SNTP request to `server` from the lan NIC's SNTP socket.
    pub fn sntp_send(&mut self, server: Ipv4Addr, packet: &[u8]) -> bool {
        let Some(nic) = self.nic_mut(Iface::Lan) else {
            return false;
        };
        let Some(h) = nic.ops.sntp else {
            return false;
        };
        let to = IpEndpoint::new(server.into(), vnetcrypt_ops::sntp::PORT);
        nic.sockets
            .get_mut::<udp::Socket>(h)
            .send_slice(packet, to)
            .is_ok()
    }

    /// The next datagram on the SNTP socket, copied into `buf`, with its source.
    pub fn sntp_recv(&mut self, buf: &mut [u8]) -> Option<(usize, SocketAddrV4)> {
        let nic = self.nic_mut(Iface::Lan)?;
        let h = nic.ops.sntp?;
        let s = nic.sockets.get_mut::<udp::Socket>(h);
        loop {
            match s.recv_slice(buf) {
                Ok((n, meta)) => {
                    let IpAddress::Ipv4(ip) = meta.endpoint.addr;
                    return Some((n, SocketAddrV4::new(ip, meta.endpoint.port)));
                }
                // Larger than any reply we accept: skipped.
                Err(udp::RecvError::Truncated) => continue,
                Err(udp::RecvError::Exhausted) => return None,
            }
        }
    }
}
