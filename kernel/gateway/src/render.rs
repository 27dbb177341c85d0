//! Text for the console's `counters` and `flows` commands: written into any
//! `fmt::Write` (the console's line buffer), no allocation.

use core::fmt::{self, Write};

use crate::engine::Gateway;
use crate::session::SessionLayer;
use crate::Instant;

/// Interface, drop-reason and per-peer counters, one item per line.
pub fn counters<L: SessionLayer, W: Write>(
    w: &mut W,
    gw: &Gateway<L>,
    now: Instant,
) -> fmt::Result {
    let c = gw.counters();
    for (name, i) in [("lan", &c.lan), ("wan", &c.wan)] {
        writeln!(
            w,
            "if {name}: rx {} pkts {} bytes, tx {} pkts {} bytes",
            i.rx_packets, i.rx_bytes, i.tx_packets, i.tx_bytes
        )?;
    }
    writeln!(
        w,
        "mtu: icmp-frag-needed {}, fragments {}, mss-clamped {}; arp: replies {}, requests {}",
        c.icmp_frag_needed, c.fragments_out, c.mss_clamped, c.arp_replies, c.arp_requests
    )?;
    writeln!(w, "transit: relayed {}", c.relayed)?;
    writeln!(w, "drops: {} total", c.dropped_total())?;
    for (reason, n) in c.drops() {
        writeln!(w, "  {reason}: {n}")?;
    }
    let f = gw.flow_stats();
    writeln!(
        w,
        "flows: {} created, {} evicted, {} evicted unreported",
        f.created, f.evicted, f.evicted_unreported
    )?;
    for (id, peer) in gw.peers() {
        let (Some(p), Some(state)) = (gw.peer_counters(id), gw.session_state(now, id)) else {
            continue;
        };
        let endpoint = gw.peer_status(id).and_then(|s| s.endpoint);
        writeln!(
            w,
            "peer {} {}: {:?}; sealed {} pkts {} bytes, opened {} pkts {} bytes; handshakes {}/{}/{} (started/completed/failed), rekeys {}, replaced {}, drops {}",
            peer.name,
            Endpoint(endpoint),
            state,
            p.sealed_packets,
            p.sealed_bytes,
            p.opened_packets,
            p.opened_bytes,
            p.handshakes_started,
            p.handshakes_completed,
            p.handshakes_failed,
            p.rekeys,
            p.sessions_replaced,
            p.drops
        )?;
    }
    Ok(())
}

/// The current flows as version-4 tuples, one per line, after a header naming the
/// fields. `epoch_ms` is the Unix time in milliseconds at `Instant::ZERO`.
pub fn flows<L: SessionLayer, W: Write>(
    w: &mut W,
    gw: &Gateway<L>,
    now: Instant,
    epoch_ms: u64,
) -> fmt::Result {
    writeln!(
        w,
        "time,srcIP,dstIP,srcPort,dstPort,protocol,direction,state,encryption,packetsSent,bytesSent,packetsReceived,bytesReceived"
    )?;
    for t in gw.flows(now, epoch_ms) {
        writeln!(w, "{t}")?;
    }
    Ok(())
}

/// An endpoint, or `-` while none is known (a peer that calls us).
struct Endpoint(Option<core::net::SocketAddrV4>);

impl core::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(e) => write!(f, "{e}"),
            None => f.write_str("-"),
        }
    }
}
