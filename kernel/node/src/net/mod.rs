//! The appliance's two NICs, `wan` and `lan`, with an smoltcp underlay: ARP, ICMP echo,
//! static IPv4 or DHCPv4 (wan), default gateway, MTU, counters, the `interfaces`
//! console view, and hooks for the gateway data plane.
//!
//! All of this is safe code: the NICs are [`NetPort`]s (the appliance's virtio-net
//! driver holds the unsafe edge: DMA, descriptors).
//! Frames are never copied on the receive path: the buffer the device wrote is
//! screened, handed to smoltcp (which reads it in place) or to the data plane, which
//! may edit it, grow it into its headroom and queue it on the other NIC as is.

mod announce;
mod command;
mod dataplane;
mod nic;
mod ops;
mod phy;
mod sockets;
mod view;

pub use command::execute;
pub(crate) use dataplane::COLLECTOR_PORT;
pub use nic::{ApplyError, Nic};
pub use ops::ServerStats;

use crate::packet::PacketBuf;
use crate::platform::Platform;
use crate::port::NetPort;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use smoltcp::time::Instant;
use vnetcrypt_console::config::{Config, Iface};

/// Receive buffers each NIC keeps posted (and frames it may have queued to send).
pub const QUEUE_SIZE: usize = 64;
/// Screened frames waiting for the stack (it takes one per free transmit slot).
pub const BACKLOG: usize = 32;
/// Transit frames waiting for the data plane: one receive ring's worth, so that a
/// poll's batch fits when the data plane drains the queue every poll.
pub const TRANSIT: usize = QUEUE_SIZE;

/// A NIC handed to the node: the port and where it sits (`pci 00:02.0`,
/// `mmio 0xfeb00e00`), for messages.
pub struct PortSlot {
    pub port: Box<dyn NetPort>,
    pub location: String,
}

/// Both interfaces, the shared packet-buffer pool and the tracer switch.
pub struct Interfaces {
    nics: Vec<Nic>,
    pool: RefCell<Vec<PacketBuf>>,
    trace: bool,
    transit: bool,
    /// Test mode (`net.bridge`): transit frames cross to the other NIC unchanged.
    bridge: bool,
}

fn now(p: &dyn Platform) -> (Instant, u64) {
    let us = p.now_us();
    (Instant::from_micros(us as i64), us)
}

fn seed(p: &dyn Platform) -> u64 {
    let mut b = [0u8; 8];
    // Not a secret: smoltcp uses it for ports and TCP sequence numbers.
    let _ = p.fill_random(&mut b);
    u64::from_le_bytes(b) ^ p.now_us()
}

impl Interfaces {
    /// Brings up `ports` (the first `wan`, the second `lan`; more are ignored).
    pub fn new(ports: Vec<PortSlot>, p: &dyn Platform, trace: bool, bridge: bool) -> Self {
        // Receive ring, transmit ring, stack backlog and transit backlog per NIC.
        let per_nic = 2 * QUEUE_SIZE + BACKLOG + TRANSIT;
        let n = ports.len().min(2);
        let pool = RefCell::new((0..per_nic * n).map(|_| PacketBuf::new()).collect());
        let mut nics = Vec::new();
        for (slot, role) in ports.into_iter().zip(Iface::ALL) {
            let (t, _) = now(p);
            match Nic::new(role, slot.location, slot.port, &pool, seed(p), t) {
                Some(nic) => {
                    p.log(format_args!(
                        "{}: NIC at {}, MAC {:02x?}",
                        role.name(),
                        nic.location,
                        nic.mac.0
                    ));
                    nics.push(nic);
                }
                None => p.log(format_args!(
                    "{}: MAC is not unicast; NIC not used",
                    role.name()
                )),
            }
        }
        Self {
            nics,
            pool,
            trace,
            transit: bridge,
            bridge,
        }
    }

    pub fn nic(&self, role: Iface) -> Option<&Nic> {
        self.nics.iter().find(|n| n.role == role)
    }

    fn nic_mut(&mut self, role: Iface) -> Option<&mut Nic> {
        self.nics.iter_mut().find(|n| n.role == role)
    }

    /// Applies the interface part of the running configuration. Errors name the
    /// interface; an absent interface is not an error (the setting waits for it).
    pub fn apply(&mut self, config: &Config, p: &dyn Platform) -> Result<(), (Iface, ApplyError)> {
        // Roles follow discovery order: the first NIC is wan unless configured otherwise.
        let order = if config.roles_swapped {
            [Iface::Lan, Iface::Wan]
        } else {
            Iface::ALL
        };
        for (nic, role) in self.nics.iter_mut().zip(order) {
            nic.role = role;
        }
        for nic in &mut self.nics {
            let wanted = config.interface(nic.role);
            nic.apply(wanted).map_err(|e| (nic.role, e))?;
        }
        // Announce a new address (and ask for the gateway) before the console answers,
        // so that the gateway's ARP reply usually beats the first packet for us.
        self.poll(p);
        Ok(())
    }

    /// Moves frames on every NIC. Call often (the main loop calls it between
    /// console bytes). Returns how many frames arrived.
    pub fn poll(&mut self, p: &dyn Platform) -> usize {
        let (t, us) = now(p);
        let mut received = 0;
        for nic in &mut self.nics {
            received += nic.poll(t, us, &self.pool, self.trace, self.transit, p);
        }
        if self.bridge {
            self.bridge_transit();
        }
        received
    }

    /// When the stacks next need a poll with nothing received (DHCP, ARP retries), in
    /// microseconds of uptime; `Some(now)` while frames wait in a backlog.
    pub fn poll_at(&mut self, p: &dyn Platform) -> Option<u64> {
        let (t, us) = now(p);
        self.nics
            .iter_mut()
            .filter_map(|nic| nic.poll_at(t, us))
            .min()
    }

    /// The zero-copy path the data plane will use, exercised without it: each transit
    /// frame's buffer goes, as received, to the other NIC's transmit queue.
    fn bridge_transit(&mut self) {
        for (from, to) in [(Iface::Lan, Iface::Wan), (Iface::Wan, Iface::Lan)] {
            // Frames wait in the transit queue while the other NIC's ring is full.
            while self.can_send(to) {
                let Some(buf) = self.take_transit(from) else {
                    break;
                };
                self.send(to, buf);
            }
        }
    }

    /// Data-plane hook: from now on, IPv4 frames for other hosts are kept for
    /// [`Self::take_transit`] instead of being dropped as `not-ours`.
    #[allow(dead_code)] // for the gateway data plane
    pub fn set_transit(&mut self, on: bool) {
        self.transit = on;
    }

    /// Data-plane hook: whether `role` can take a frame to send now.
    pub fn can_send(&self, role: Iface) -> bool {
        self.nic(role).is_some_and(Nic::can_send)
    }

    /// Data-plane hook: the next transit frame received on `role`.
    pub fn take_transit(&mut self, role: Iface) -> Option<PacketBuf> {
        self.nic_mut(role)?.take_transit()
    }

    /// Data-plane hook: sends `buf` (edited in place, possibly received on the other
    /// NIC) on `role`. On failure the buffer goes back to the pool and `false` is
    /// returned (counted as a transmit error).
    pub fn send(&mut self, role: Iface, buf: PacketBuf) -> bool {
        let result = match self.nic_mut(role) {
            Some(nic) => nic.send(buf),
            None => Err(Some(buf)),
        };
        match result {
            Ok(()) => true,
            Err(buf) => {
                self.pool.borrow_mut().extend(buf);
                false
            }
        }
    }

    /// Data-plane hook: an empty buffer to build a frame in (`None` when the pool is
    /// exhausted), and the way back for a buffer that will not be sent.
    #[allow(dead_code)] // for the gateway data plane
    pub fn buffer(&mut self) -> Option<PacketBuf> {
        self.pool.borrow_mut().pop()
    }
    #[allow(dead_code)] // for the gateway data plane
    pub fn recycle(&mut self, buf: PacketBuf) {
        self.pool.borrow_mut().push(buf);
    }

    /// Buffers in the pool (for the console).
    pub fn pool_free(&self) -> usize {
        self.pool.borrow().len()
    }
}
