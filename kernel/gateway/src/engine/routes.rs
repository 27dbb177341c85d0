//! Routes on lan in the running engine: the protected set is the on-link prefixes
//! plus the routed ones, all in one longest-prefix-match table whose value says how a
//! destination is reached ([`LanHop`]).

use core::net::Ipv4Addr;

use alloc::vec::Vec;
use smoltcp::wire::EthernetAddress;

use super::Gateway;
use crate::route::{check_routes, LanHop, RouteError};
use crate::session::SessionLayer;
use crate::{Instant, Ipv4Prefix, LanRoute};

impl<L: SessionLayer> Gateway<L> {
    /// Replaces the routes on lan, all or none (see [`check_routes`] for what is
    /// refused). Sessions, flows and learned neighbours are kept; packets waiting for
    /// a next hop that is no longer used expire as unresolved.
    pub fn set_routes(&mut self, routes: &[LanRoute]) -> Result<(), RouteError> {
        let peers: Vec<Ipv4Prefix> = self.owners.iter().map(|(p, _)| *p).collect();
        check_routes(routes, &self.cfg.lan_prefixes, self.cfg.lan_ip, &peers)?;
        self.lan.retain(|_, hop| *hop == LanHop::OnLink);
        for r in routes {
            self.lan.insert(r.prefix, LanHop::Via(r.via));
        }
        Ok(())
    }

    /// The routes on lan, longest prefix first.
    pub fn routes(&self) -> impl Iterator<Item = LanRoute> + '_ {
        self.lan.iter().filter_map(|(prefix, hop)| match hop {
            LanHop::Via(via) => Some(LanRoute {
                prefix: *prefix,
                via: *via,
            }),
            LanHop::OnLink => None,
        })
    }

    /// The MAC learned for an on-link address, if still fresh (a route's next hop is
    /// "resolved" when this is known).
    pub fn neighbour(&self, now: Instant, ip: Ipv4Addr) -> Option<EthernetAddress> {
        self.neighbours.lookup(now, ip)
    }

    /// Whether `ip` is in the protected set (on-link or routed).
    pub fn protects(&self, ip: Ipv4Addr) -> bool {
        self.lan.contains(ip)
    }

    /// The on-link address a packet for `dst` is sent to: `dst` itself when on-link,
    /// the route's next hop when routed; `None` outside the protected set.
    pub(super) fn lan_next_hop(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        match self.lan.lookup(dst)? {
            LanHop::OnLink => Some(dst),
            LanHop::Via(via) => Some(*via),
        }
    }

    /// Whether `ip` is on an on-link lan prefix (neighbours are learned only there).
    pub(super) fn on_link(&self, ip: Ipv4Addr) -> bool {
        matches!(self.lan.lookup(ip), Some(LanHop::OnLink))
    }
}
