//! One NIC: its virtio queues, its role, its smoltcp interface (static IPv4 or DHCPv4,
//! default gateway, MTU), a backlog of screened frames for the stack and one of transit
//! frames for the data plane, and its counters.

use super::announce::arp_request;
use super::phy::Phy;
use super::sockets::{is_dataplane_udp, tap_arp, Sockets};
use super::{BACKLOG, QUEUE_SIZE, TRANSIT};
use crate::packet::{PacketBuf, MAX_FRAME};
use crate::platform::{Direction, Platform};
use crate::port::NetPort;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::net::Ipv4Addr;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::socket::dhcpv4;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Cidr};
use vnetcrypt_console::config::{Iface, InterfaceConfig};
use vnetcrypt_underlay::{screen, ArpLimiter, Counters, DropReason, Identity, Verdict};

/// Why a configuration could not be applied to a running interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyError {
    /// The address is not a unicast host address.
    NotUnicast(Ipv4Addr),
    /// The MTU does not fit the receive buffers.
    Mtu(u16),
}

impl core::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ApplyError::NotUnicast(a) => write!(f, "{a} is not a unicast host address"),
            ApplyError::Mtu(m) => write!(f, "MTU {m} exceeds what the NIC buffers hold"),
        }
    }
}

/// The DHCP client's state as shown on the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpState {
    Off,
    Discovering,
    Bound {
        address: Ipv4Cidr,
        router: Option<Ipv4Addr>,
        server: Ipv4Addr,
    },
}

/// An interface address (with prefix length) and a default gateway.
type Addressing = (Option<(Ipv4Addr, u8)>, Option<Ipv4Addr>);

pub struct Nic {
    pub role: Iface,
    /// Where the device sits (`pci 00:02.0`, `mmio 0xfeb00e00`).
    pub location: String,
    pub mac: EthernetAddress,
    queues: Box<dyn NetPort>,
    pub(super) iface: Interface,
    pub(super) sockets: SocketSet<'static>,
    dhcp: Option<SocketHandle>,
    pub dhcp_state: DhcpState,
    backlog: VecDeque<PacketBuf>,
    transit: VecDeque<PacketBuf>,
    pub counters: RefCell<Counters>,
    pub config: InterfaceConfig,
    arp: ArpLimiter,
    /// The address changed: announce it at the next poll.
    announce: bool,
    /// What `set_addressing` last installed (smoltcp flushes its neighbour cache on
    /// every address update, so an unchanged setting is not installed again).
    installed: Option<Addressing>,
    /// The data plane's sockets on this NIC (see `net::sockets`).
    pub(super) dataplane: Sockets,
    /// The metrics and SNTP sockets (lan only; see `net::ops`).
    pub(super) ops: super::ops::OpsSockets,
}

fn unicast(a: Ipv4Addr) -> bool {
    !(a.is_broadcast() || a.is_multicast() || a.is_unspecified())
}

impl Nic {
    /// Brings up a NIC with no address. `None` if the MAC is not unicast (smoltcp
    /// would refuse it).
    pub fn new(
        role: Iface,
        location: String,
        queues: Box<dyn NetPort>,
        pool: &RefCell<Vec<PacketBuf>>,
        seed: u64,
        now: Instant,
    ) -> Option<Self> {
        let mac = EthernetAddress(queues.mac());
        if !mac.is_unicast() {
            return None;
        }
        let config = InterfaceConfig::default();
        let counters = RefCell::new(Counters::default());
        let mut queues = queues;
        let mut backlog = VecDeque::with_capacity(BACKLOG);
        let iface = new_interface(
            mac,
            seed,
            now,
            &mut Phy {
                queues: &mut *queues,
                backlog: &mut backlog,
                pool,
                counters: &counters,
                mtu: config.mtu,
                role: role.name(),
                trace: None,
            },
        );
        Some(Self {
            role,
            location,
            mac,
            queues,
            iface,
            sockets: SocketSet::new(Vec::new()),
            dhcp: None,
            dhcp_state: DhcpState::Off,
            backlog,
            transit: VecDeque::with_capacity(TRANSIT),
            counters,
            config,
            arp: ArpLimiter::default(),
            announce: false,
            installed: None,
            dataplane: Sockets::default(),
            ops: Default::default(),
        })
    }

    /// The address the interface answers on (DHCP lease, else static).
    pub fn address(&self) -> Option<(Ipv4Addr, u8)> {
        match self.dhcp_state {
            DhcpState::Bound { address, .. } => Some((address.address(), address.prefix_len())),
            DhcpState::Discovering => None,
            DhcpState::Off => self.config.address,
        }
    }

    /// The default gateway in use.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        match self.dhcp_state {
            DhcpState::Bound { router, .. } => router,
            DhcpState::Discovering => None,
            DhcpState::Off => self.config.gateway,
        }
    }

    fn identity(&self) -> Identity {
        Identity {
            mac: self.mac,
            address: self.address(),
            mtu: self.config.mtu,
            dhcp: self.dhcp.is_some(),
        }
    }

    /// Applies addressing, gateway, DHCP and MTU from the running configuration.
    pub fn apply(&mut self, config: &InterfaceConfig) -> Result<(), ApplyError> {
        if let Some((a, _)) = config.address {
            if !unicast(a) {
                return Err(ApplyError::NotUnicast(a));
            }
        }
        if usize::from(config.mtu) + 18 > MAX_FRAME {
            return Err(ApplyError::Mtu(config.mtu));
        }
        self.config = config.clone();
        let want_dhcp = config.dhcp && self.role == Iface::Wan;
        match (want_dhcp, self.dhcp) {
            (true, None) => {
                self.dhcp = Some(self.sockets.add(dhcpv4::Socket::new()));
                self.dhcp_state = DhcpState::Discovering;
            }
            (false, Some(h)) => {
                self.sockets.remove(h);
                self.dhcp = None;
                self.dhcp_state = DhcpState::Off;
            }
            _ => {}
        }
        self.set_addressing();
        Ok(())
    }

    /// Installs `address()`/`gateway()` into the smoltcp interface.
    fn set_addressing(&mut self) {
        let address = self.address().filter(|&(a, len)| unicast(a) && len <= 32);
        let gateway = self.gateway().filter(|&g| unicast(g));
        if self.installed == Some((address, gateway)) {
            return;
        }
        self.installed = Some((address, gateway));
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            if let Some((a, len)) = address {
                // Cannot overflow: the list was just emptied and holds at least one.
                let _ = addrs.push(IpCidr::Ipv4(Ipv4Cidr::new(a, len)));
            }
        });
        self.announce = address.is_some();
        let routes = self.iface.routes_mut();
        routes.remove_default_ipv4_route();
        if let Some(gw) = gateway {
            // The route table has room: it was just emptied of its only entry.
            let _ = routes.add_default_ipv4_route(gw);
        }
    }

    /// Moves frames: reclaims sent buffers, screens received frames, refills the
    /// receive queue, runs the stack (ARP, ICMP echo, DHCP). Returns how many frames
    /// arrived.
    pub fn poll(
        &mut self,
        now: Instant,
        now_us: u64,
        pool: &RefCell<Vec<PacketBuf>>,
        trace_on: bool,
        transit_on: bool,
        p: &dyn Platform,
    ) -> usize {
        while let Some(done) = self.queues.reclaim_tx() {
            match done {
                Ok(buf) => pool.borrow_mut().push(buf),
                Err(_) => {
                    self.counters.borrow_mut().tx_errors += 1;
                    break;
                }
            }
        }
        let received = self.receive(now_us, pool, trace_on.then_some(p), transit_on);
        while self.queues.rx_has_room() {
            let Some(buf) = pool.borrow_mut().pop() else {
                break;
            };
            if let Err((buf, _)) = self.queues.post_rx(buf) {
                pool.borrow_mut().extend(buf);
                break;
            }
        }
        let mut phy = Phy {
            queues: &mut *self.queues,
            backlog: &mut self.backlog,
            pool,
            counters: &self.counters,
            mtu: self.config.mtu,
            role: self.role.name(),
            trace: trace_on.then_some(p),
        };
        self.iface.poll(now, &mut phy, &mut self.sockets);
        self.poll_dhcp(p);
        if self.announce {
            self.announce = false;
            self.send_announcements(pool);
        }
        received
    }

    /// When this NIC next needs a poll, in microseconds of uptime: now while frames
    /// wait for the stack or the data plane, else the stack's next timer.
    pub fn poll_at(&mut self, now: Instant, now_us: u64) -> Option<u64> {
        if !self.backlog.is_empty() || !self.transit.is_empty() || self.announce {
            return Some(now_us);
        }
        let at = self.iface.poll_at(now, &self.sockets)?;
        Some(u64::try_from(at.total_micros()).unwrap_or(0).max(now_us))
    }

    /// A gratuitous ARP for our address and a request for the gateway's.
    fn send_announcements(&mut self, pool: &RefCell<Vec<PacketBuf>>) {
        let Some((addr, _)) = self.address() else {
            return;
        };
        let targets = [Some(addr), self.gateway().filter(|&g| unicast(g))];
        for target in targets.into_iter().flatten() {
            let Some(mut buf) = pool.borrow_mut().pop() else {
                return;
            };
            arp_request(&mut buf, self.mac, addr, target);
            if let Err(buf) = self.send(buf) {
                pool.borrow_mut().extend(buf);
            }
        }
    }

    fn receive(
        &mut self,
        now_us: u64,
        pool: &RefCell<Vec<PacketBuf>>,
        trace: Option<&dyn Platform>,
        transit_on: bool,
    ) -> usize {
        let me = self.identity();
        let mut received = 0;
        for _ in 0..QUEUE_SIZE {
            let buf = match self.queues.recv() {
                None => break,
                Some(Ok(buf)) => buf,
                Some(Err((buf, _))) => {
                    self.counters.borrow_mut().rx_errors += 1;
                    pool.borrow_mut().extend(buf);
                    break;
                }
            };
            received += 1;
            let mut counters = self.counters.borrow_mut();
            counters.received(buf.frame().len());
            if let Some(p) = trace {
                p.trace_frame(self.role.name(), Direction::In, buf.frame());
            }
            let verdict = match screen(buf.frame(), &me) {
                Verdict::ArpRequest if !self.arp.allow(now_us) => {
                    Verdict::Drop(DropReason::ArpFlood)
                }
                // A request for our own address has one owner, the stack: it answers
                // and learns the asker. On lan the data plane would answer too: no
                // tap. On wan the frame path only learns from ARP (it never answers):
                // the asker is its next hop too, and a gateway that only answered a
                // peer would otherwise never learn its MAC and send every record
                // through the UDP socket.
                Verdict::ArpRequest => {
                    if self.role == Iface::Wan && self.dataplane.arp_tap {
                        tap_arp(buf.frame(), &mut self.transit, pool);
                    }
                    Verdict::Stack
                }
                Verdict::Transit if !transit_on => Verdict::Drop(DropReason::NotOurs),
                // DTLS for the data plane's port goes to the data plane in its own
                // buffer (opened in place there), not through the stack's socket.
                Verdict::Stack
                    if transit_on
                        && self.dataplane.udp.zip(me.address).is_some_and(
                            |((port, _), (ip, _))| is_dataplane_udp(buf.frame(), ip, port),
                        ) =>
                {
                    Verdict::Transit
                }
                v => {
                    // Other ARP (requests for others, which proxy ARP may answer, and
                    // replies, which resolve workloads) is the data plane's too.
                    if self.dataplane.arp_tap {
                        tap_arp(buf.frame(), &mut self.transit, pool);
                    }
                    v
                }
            };
            let queue = match verdict {
                Verdict::Stack => Some((&mut self.backlog, BACKLOG)),
                Verdict::Transit => Some((&mut self.transit, TRANSIT)),
                Verdict::ArpRequest => None,
                Verdict::Drop(why) => {
                    counters.dropped(why);
                    None
                }
            };
            match queue {
                Some((q, cap)) if q.len() < cap => q.push_back(buf),
                Some(_) => {
                    counters.dropped(DropReason::Backlog);
                    pool.borrow_mut().push(buf);
                }
                None => pool.borrow_mut().push(buf),
            }
        }
        received
    }

    fn poll_dhcp(&mut self, p: &dyn Platform) {
        let Some(h) = self.dhcp else { return };
        let event = match self.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
            None => return,
            Some(dhcpv4::Event::Configured(c)) => DhcpState::Bound {
                address: c.address,
                router: c.router,
                server: c.server.address,
            },
            Some(dhcpv4::Event::Deconfigured) => DhcpState::Discovering,
        };
        if let DhcpState::Bound {
            address, router, ..
        } = event
        {
            p.log(format_args!(
                "{}: DHCP lease {}/{} gateway {:?}",
                self.role.name(),
                address.address(),
                address.prefix_len(),
                router
            ));
        }
        self.dhcp_state = event;
        self.set_addressing();
    }

    /// A transit frame for the data plane.
    pub fn take_transit(&mut self) -> Option<PacketBuf> {
        self.transit.pop_front()
    }

    /// Whether a frame can be queued for transmission now.
    pub fn can_send(&self) -> bool {
        self.queues.tx_has_room()
    }

    /// Whether the device returned something inconsistent (the NIC is out of use).
    pub fn is_broken(&self) -> bool {
        self.queues.is_broken()
    }

    /// Queues a frame built or forwarded by the data plane. A refused buffer comes
    /// back (`None` if the device may still hold it: then it is never reused).
    pub fn send(&mut self, buf: PacketBuf) -> Result<(), Option<PacketBuf>> {
        let len = buf.frame().len();
        match self.queues.send(buf) {
            Ok(()) => {
                self.counters.borrow_mut().sent(len);
                Ok(())
            }
            Err((buf, _)) => {
                self.counters.borrow_mut().tx_errors += 1;
                Err(buf)
            }
        }
    }
}

fn new_interface(mac: EthernetAddress, seed: u64, now: Instant, phy: &mut Phy<'_>) -> Interface {
    let mut cfg = IfaceConfig::new(HardwareAddress::Ethernet(mac));
    cfg.random_seed = seed;
    Interface::new(cfg, phy, now)
}
