//! `routes` / `route show`: each route on lan with its next hop and whether the next
//! hop's MAC is resolved (the kernel gathers the facts from the gateway engine; this
//! module only lays them out).

use core::fmt::{self, Write};
use vnetcrypt_config::LanRoute;

/// Whether a route's next hop answered ARP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHop {
    /// Its MAC is known (and fresh).
    Resolved([u8; 6]),
    /// Not known now: packets for the route wait for an ARP answer.
    Unresolved,
    /// The data plane is not running.
    Inactive,
}

/// Writes one line per route, or a hint when there is none.
pub fn write_routes(routes: &[(LanRoute, NextHop)], w: &mut dyn Write) -> fmt::Result {
    if routes.is_empty() {
        return writeln!(w, "no routes (add one with 'route add', see 'help route')");
    }
    for (r, hop) in routes {
        write!(w, "route {} via {}  ", r.prefix, r.via)?;
        match hop {
            NextHop::Resolved(m) => writeln!(
                w,
                "resolved {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            )?,
            NextHop::Unresolved => writeln!(w, "unresolved")?,
            NextHop::Inactive => writeln!(w, "inactive")?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn one_line_per_route() {
        let r = |p: &str, via: &str| LanRoute {
            prefix: p.parse().unwrap(),
            via: via.parse().unwrap(),
        };
        let mut out = String::new();
        write_routes(
            &[
                (
                    r("10.244.1.0/24", "10.1.0.20"),
                    NextHop::Resolved([2, 0, 0, 9, 0, 0x14]),
                ),
                (r("10.96.0.10/32", "10.1.0.21"), NextHop::Unresolved),
            ],
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            "route 10.244.1.0/24 via 10.1.0.20  resolved 02:00:00:09:00:14\n\
             route 10.96.0.10/32 via 10.1.0.21  unresolved\n"
        );
        out.clear();
        write_routes(&[], &mut out).unwrap();
        assert!(out.starts_with("no routes"), "{out}");
    }
}
