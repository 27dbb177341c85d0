//! A route on lan: a prefix that lies behind a router on the lan link, and the one
//! place that says which route sets are valid ([`check_routes`]), for the
//! configuration and the gateway engine alike.

use crate::{Ipv4Prefix, MAX_ROUTES};
use core::fmt;
use core::net::Ipv4Addr;

/// A prefix reached through a next hop on lan (a Kubernetes node for its pod range, a
/// router in front of more subnets or a load balancer's VIP). Routed prefixes are
/// protected like the on-link lan prefix; the next hop itself is on-link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LanRoute {
    pub prefix: Ipv4Prefix,
    pub via: Ipv4Addr,
}

/// Why a set of routes was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// The next hop is not inside an on-link lan prefix.
    NextHopNotOnLink(LanRoute),
    /// The next hop is the gateway's own lan address (or the prefix's network or
    /// broadcast address, which no router has).
    NextHopInvalid(LanRoute),
    /// The routed prefix overlaps an on-link lan prefix.
    OverlapsLan(Ipv4Prefix),
    /// The routed prefix overlaps another route's prefix.
    OverlapsRoute(Ipv4Prefix),
    /// The routed prefix overlaps a peer's prefix.
    OverlapsPeer(Ipv4Prefix),
    /// More than [`MAX_ROUTES`] routes.
    TooMany,
}

/// Checks a whole route set against the on-link prefixes, our lan address and the
/// peers' prefixes.
pub fn check_routes(
    routes: &[LanRoute],
    on_link: &[Ipv4Prefix],
    lan_ip: Ipv4Addr,
    peer_prefixes: &[Ipv4Prefix],
) -> Result<(), RouteError> {
    if routes.len() > MAX_ROUTES {
        return Err(RouteError::TooMany);
    }
    for (i, r) in routes.iter().enumerate() {
        let Some(link) = on_link.iter().find(|l| l.contains(r.via)) else {
            return Err(RouteError::NextHopNotOnLink(*r));
        };
        let bits = u32::from(r.via);
        let broadcast = u32::from(link.network()) | !link.mask();
        let special =
            link.prefix_len() < 31 && (bits == u32::from(link.network()) || bits == broadcast);
        if r.via == lan_ip || special {
            return Err(RouteError::NextHopInvalid(*r));
        }
        if on_link.iter().any(|l| l.overlaps(&r.prefix)) {
            return Err(RouteError::OverlapsLan(r.prefix));
        }
        if routes[..i].iter().any(|o| o.prefix.overlaps(&r.prefix)) {
            return Err(RouteError::OverlapsRoute(r.prefix));
        }
        if peer_prefixes.iter().any(|p| p.overlaps(&r.prefix)) {
            return Err(RouteError::OverlapsPeer(r.prefix));
        }
    }
    Ok(())
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NextHopNotOnLink(r) => write!(
                f,
                "next hop {} of route {} is not inside the lan on-link prefix",
                r.via, r.prefix
            ),
            Self::NextHopInvalid(r) => write!(
                f,
                "next hop {} of route {} is the appliance's own lan address or the lan's \
                 network or broadcast address",
                r.via, r.prefix
            ),
            Self::OverlapsLan(p) => write!(f, "route {p} overlaps the lan on-link prefix"),
            Self::OverlapsRoute(p) => write!(f, "route {p} overlaps another route"),
            Self::OverlapsPeer(p) => write!(f, "route {p} overlaps a peer's prefix"),
            Self::TooMany => write!(f, "too many routes (limit {MAX_ROUTES})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn p(s: &str) -> Ipv4Prefix {
        s.parse().unwrap()
    }
    fn r(prefix: &str, via: &str) -> LanRoute {
        LanRoute {
            prefix: p(prefix),
            via: via.parse().unwrap(),
        }
    }

    #[test]
    fn every_rule_has_its_error() {
        let on_link = [p("10.1.0.0/24")];
        let us: Ipv4Addr = "10.1.0.1".parse().unwrap();
        let peers = [p("10.2.0.0/24")];
        let check = |routes: &[LanRoute]| check_routes(routes, &on_link, us, &peers);
        let pods = r("10.244.1.0/24", "10.1.0.20");
        let vip = r("10.96.0.10/32", "10.1.0.21");
        assert_eq!(check(&[pods, vip]), Ok(()));
        let off = r("10.244.2.0/24", "10.9.0.1");
        assert_eq!(check(&[off]), Err(RouteError::NextHopNotOnLink(off)));
        let via_us = r("10.244.2.0/24", "10.1.0.1");
        assert_eq!(check(&[via_us]), Err(RouteError::NextHopInvalid(via_us)));
        let via_bcast = r("10.244.2.0/24", "10.1.0.255");
        assert_eq!(
            check(&[via_bcast]),
            Err(RouteError::NextHopInvalid(via_bcast))
        );
        assert_eq!(
            check(&[r("10.1.0.128/25", "10.1.0.20")]),
            Err(RouteError::OverlapsLan(p("10.1.0.128/25")))
        );
        assert_eq!(
            check(&[pods, r("10.244.0.0/16", "10.1.0.22")]),
            Err(RouteError::OverlapsRoute(p("10.244.0.0/16")))
        );
        assert_eq!(
            check(&[r("10.2.0.128/25", "10.1.0.20")]),
            Err(RouteError::OverlapsPeer(p("10.2.0.128/25")))
        );
        let many: Vec<LanRoute> = (0..=MAX_ROUTES as u32)
            .map(|i| LanRoute {
                prefix: Ipv4Prefix::new(Ipv4Addr::from(0x0af4_0000 + (i << 8)), 24).unwrap(),
                via: "10.1.0.20".parse().unwrap(),
            })
            .collect();
        assert_eq!(check(&many), Err(RouteError::TooMany));
        assert_eq!(check(&many[..MAX_ROUTES]), Ok(()));
    }
}
