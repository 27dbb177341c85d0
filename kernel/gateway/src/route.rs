//! Routes on lan: prefixes behind a router on the lan link, protected like the on-link
//! prefixes. A packet for a routed destination goes to the route's next hop (its MAC
//! resolved by ARP, as on-link workloads are); a lan packet *from* a routed prefix must
//! come from that next hop's MAC.
//!
//! Which route sets are valid is said once, by [`check_routes`] (in `vnetcrypt-types`,
//! shared with the configuration): every next hop on-link (and not our own address), no
//! routed prefix overlapping an on-link prefix, another route or a peer's prefix, at
//! most [`crate::MAX_ROUTES`].

use core::net::Ipv4Addr;

pub use vnetcrypt_types::{check_routes, RouteError};

/// Where the engine sends a packet for a protected destination on lan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LanHop {
    /// The destination is on-link: resolved by ARP itself.
    OnLink,
    /// The destination is behind this on-link router.
    Via(Ipv4Addr),
}
