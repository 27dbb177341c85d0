//! Optional frame tracer: each frame the NIC receives or sends is written to the defmt
//! log (COM2) as a pcap-style record (interface, direction, timestamp, bytes), which
//! `tests/tests/nic/trace2pcap.py` turns into a pcap file for tshark/Wireshark. Enabled with
//! `net.trace` on the kernel command line; off by default (it costs a defmt write per
//! frame).

use crate::clock;

#[derive(Debug, Clone, Copy)]
pub enum Direction {
    In,
    Out,
}

/// At most this many bytes of each frame are recorded (the snap length).
pub const SNAPLEN: usize = 256;

pub fn frame(role: &str, dir: Direction, bytes: &[u8]) {
    let at = clock::uptime_us();
    let snap = &bytes[..bytes.len().min(SNAPLEN)];
    let dir = match dir {
        Direction::In => "in",
        Direction::Out => "out",
    };
    defmt::info!(
        "pcap {=str} {=str} {=u64} {=usize} {=[u8]:x}",
        role,
        dir,
        at,
        bytes.len(),
        snap
    );
}
