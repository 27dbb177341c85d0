//! Applying a statement: checked first, then applied whole, so a statement that fails
//! leaves the configuration exactly as it was.

use crate::model::{default_private, Config, Iface, PeerConfig};
use crate::{ApplyError, Ipv4Prefix, Statement, MAX_PEERS};
use alloc::string::ToString;
use alloc::vec::Vec;
use vnetcrypt_types::check_routes;

impl Config {
    /// Applies one statement completely, or not at all.
    ///
    /// Besides each statement's own checks, the result must keep the flow-log
    /// collector reachable without crossing wan in the clear (on the lan subnet or in
    /// a peer's prefixes): a statement that would break that is refused.
    pub fn apply(&mut self, st: Statement<'_>) -> Result<(), ApplyError> {
        let sets_collector = matches!(st, Statement::Collector(Some(_)));
        let sets_syslog = matches!(st, Statement::Syslog(Some(_)));
        let moves_paths = matches!(
            st,
            Statement::Address(Iface::Lan, _) | Statement::PeerSet(..) | Statement::PeerRemove(_)
        );
        // Routes must stay valid against the lan address and the peers' prefixes.
        let moves_routes = matches!(
            st,
            Statement::Address(Iface::Lan, _)
                | Statement::PeerAdd(_)
                | Statement::PeerSet(..)
                | Statement::RouteAdd(_)
        );
        let sets_ntp = matches!(st, Statement::Ntp(Some(_)));
        let before = (sets_collector || sets_syslog || sets_ntp || moves_paths || moves_routes)
            .then(|| self.clone());
        self.apply_statement(st)?;
        let Some(before) = before else {
            return Ok(());
        };
        if moves_routes {
            if let Err(e) = self.check_routes() {
                *self = before;
                return Err(e);
            }
        }
        if let Some(c) = self.collector {
            let ip = *c.endpoint.ip();
            if self.collector_path(ip).is_none() {
                *self = before;
                return Err(if sets_collector {
                    ApplyError::CollectorUnprotected(ip)
                } else {
                    ApplyError::CollectorWouldBeUnprotected(ip)
                });
            }
        }
        // Events take the flow records' paths: never clear across wan.
        if let Some(server) = self.syslog {
            let ip = *server.ip();
            if self.collector_path(ip).is_none() {
                *self = before;
                return Err(if sets_syslog {
                    ApplyError::SyslogUnprotected(ip)
                } else {
                    ApplyError::SyslogWouldBeUnprotected(ip)
                });
            }
        }
        // SNTP is unauthenticated: its server stays on lan (docs/kernel.md, "Time").
        if let Some(ip) = self.ntp.filter(|&ip| !self.on_lan_subnet(ip)) {
            *self = before;
            return Err(if sets_ntp {
                ApplyError::NtpNotOnLan(ip)
            } else {
                ApplyError::NtpWouldLeaveLan(ip)
            });
        }
        Ok(())
    }

    fn apply_statement(&mut self, st: Statement<'_>) -> Result<(), ApplyError> {
        match st {
            Statement::Enforcement(e) => self.enforcement = e,
            Statement::ListenPort(p) => self.listen_port = p,
            Statement::Roles(swapped) => self.roles_swapped = swapped,
            Statement::Address(i, a) => self.interfaces[i.index()].address = a,
            Statement::Gateway(i, g) => self.interfaces[i.index()].gateway = g,
            Statement::Dhcp(i, on) => self.interfaces[i.index()].dhcp = on,
            Statement::Mtu(i, m) => self.interfaces[i.index()].mtu = m,
            Statement::ProxyArp(on) => self.proxy_arp = on,
            Statement::Private(p) => self.private = p.unwrap_or_else(default_private),
            Statement::RekeyInterval(s) => self.rekey.interval_s = s,
            Statement::RekeyRecords(n) => self.rekey.records = n,
            Statement::KeepaliveInterval(k) => {
                self.check_liveness(k, self.liveness.dead_after_s)?;
                self.liveness.keepalive_s = k;
            }
            Statement::DeadPeerAfter(d) => {
                self.check_liveness(self.liveness.keepalive_s, d)?;
                self.liveness.dead_after_s = d;
            }
            Statement::FallbackAfter(s) => self.liveness.fallback_after_s = s,
            Statement::Collector(c) => self.collector = c,
            Statement::Syslog(s) => self.syslog = s,
            Statement::Metrics(port) => self.metrics = port,
            Statement::Ntp(server) => self.ntp = server,
            Statement::PeerAdd(peer) => {
                if self.peer(&peer.name).is_some() {
                    return Err(ApplyError::PeerExists(peer.name));
                }
                if self.peers.len() >= MAX_PEERS {
                    return Err(ApplyError::TooManyPeers);
                }
                self.check_peer(&peer)?;
                self.peers.push(peer);
            }
            Statement::PeerSet(name, change) => {
                let i = self.peer_index(name)?;
                let mut peer = self.peers[i].clone();
                if let Some(e) = change.endpoint {
                    peer.endpoint = e;
                }
                if let Some((f, second)) = change.fingerprint {
                    peer.fingerprint = f;
                    peer.second_pin = second;
                }
                if let Some(p) = change.prefixes {
                    peer.prefixes = p;
                }
                if let Some(e) = change.enforcement {
                    peer.enforcement = e;
                }
                if let Some(t) = change.transit {
                    peer.transit = t;
                }
                self.check_peer(&peer)?;
                self.peers[i] = peer;
            }
            Statement::PeerRemove(name) => {
                let i = self.peer_index(name)?;
                self.peers.remove(i);
            }
            Statement::RouteAdd(route) => {
                if self.routes.iter().any(|r| r.prefix == route.prefix) {
                    return Err(ApplyError::RouteExists(route.prefix));
                }
                // Checked whole (limit included) by `apply`.
                self.routes.push(route);
            }
            Statement::RouteRemove(prefix) => {
                let i = self
                    .routes
                    .iter()
                    .position(|r| r.prefix == prefix)
                    .ok_or(ApplyError::NoSuchRoute(prefix))?;
                self.routes.remove(i);
            }
        }
        Ok(())
    }

    /// The routes against the lan address and every peer's prefixes.
    fn check_routes(&self) -> Result<(), ApplyError> {
        if self.routes.is_empty() {
            return Ok(());
        }
        let (on_link, lan_ip) = self
            .lan_on_link()
            .ok_or(ApplyError::RouteWithoutLanAddress)?;
        let peers: Vec<Ipv4Prefix> = self
            .peers
            .iter()
            .flat_map(|p| p.prefixes.iter().copied())
            .collect();
        check_routes(&self.routes, &[on_link], lan_ip, &peers).map_err(ApplyError::Route)
    }

    /// An idle live peer sends a keepalive every `keepalive_s`: declaring it down
    /// sooner than that would take down healthy tunnels.
    fn check_liveness(&self, keepalive_s: u32, dead_after_s: u32) -> Result<(), ApplyError> {
        if dead_after_s > keepalive_s {
            Ok(())
        } else {
            Err(ApplyError::DeadPeerNotAfterKeepalive {
                keepalive_s,
                dead_after_s,
            })
        }
    }

    fn peer_index(&self, name: &str) -> Result<usize, ApplyError> {
        self.peers
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| ApplyError::NoSuchPeer(name.to_string()))
    }

    /// A peer must not share prefixes, endpoint or identity with any *other* peer.
    fn check_peer(&self, peer: &PeerConfig) -> Result<(), ApplyError> {
        for other in self.peers.iter().filter(|o| o.name != peer.name) {
            if let Some(&prefix) = peer
                .prefixes
                .iter()
                .find(|p| other.prefixes.iter().any(|q| q.overlaps(p)))
            {
                return Err(ApplyError::PrefixOverlap {
                    prefix,
                    peer: other.name.clone(),
                });
            }
            if peer.endpoint.is_some() && other.endpoint == peer.endpoint {
                return Err(ApplyError::EndpointInUse {
                    peer: other.name.clone(),
                });
            }
            // A key identifies one peer: the one whose endpoint follows it.
            if other.pins().any(|o| peer.pins().any(|p| p == o)) {
                return Err(ApplyError::FingerprintInUse {
                    peer: other.name.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Enforcement;

    fn apply(c: &mut Config, line: &str) -> Result<(), ApplyError> {
        c.apply(Statement::parse(line).unwrap_or_else(|e| panic!("{line}: {e}")))
    }

    fn fp(n: u8) -> std::string::String {
        std::format!("{:064x}", n)
    }

    #[test]
    fn peers_cannot_collide() {
        let mut c = Config::default();
        apply(
            &mut c,
            &std::format!(
                "peer add a endpoint 192.0.2.2:4433 fingerprint {} prefix 10.2.0.0/16",
                fp(1)
            ),
        )
        .unwrap();
        let before = c.clone();
        let clashes = [
            (
                std::format!(
                    "peer add a endpoint 192.0.2.9:4433 fingerprint {} prefix 10.9.0.0/16",
                    fp(2)
                ),
                ApplyError::PeerExists("a".into()),
            ),
            (
                std::format!(
                    "peer add b endpoint 192.0.2.3:4433 fingerprint {} prefix 10.2.1.0/24",
                    fp(2)
                ),
                ApplyError::PrefixOverlap {
                    prefix: "10.2.1.0/24".parse().unwrap(),
                    peer: "a".into(),
                },
            ),
            (
                std::format!(
                    "peer add b endpoint 192.0.2.2:4433 fingerprint {} prefix 10.3.0.0/16",
                    fp(2)
                ),
                ApplyError::EndpointInUse { peer: "a".into() },
            ),
            (
                std::format!(
                    "peer add b endpoint 192.0.2.3:4433 fingerprint {} prefix 10.3.0.0/16",
                    fp(1)
                ),
                ApplyError::FingerprintInUse { peer: "a".into() },
            ),
            (
                // A key one peer pins, as the second pin of another.
                std::format!(
                    "peer add b fingerprint {},{} prefix 10.3.0.0/16",
                    fp(3),
                    fp(1)
                ),
                ApplyError::FingerprintInUse { peer: "a".into() },
            ),
            ("peer remove zz".into(), ApplyError::NoSuchPeer("zz".into())),
        ];
        for (line, want) in clashes {
            assert_eq!(apply(&mut c, &line), Err(want), "{line}");
            assert_eq!(c, before, "a failed statement changed the config: {line}");
        }
        // Peers without an endpoint do not collide by lacking one.
        for (name, n) in [("x", 5), ("y", 6)] {
            let line = std::format!("peer add {name} fingerprint {} prefix 10.{n}.0.0/16", fp(n));
            assert_eq!(apply(&mut c, &line), Ok(()), "{line}");
        }
    }

    #[test]
    fn peer_set_changes_only_what_it_names_and_checks_the_result() {
        let mut c = Config::default();
        apply(
            &mut c,
            &std::format!(
                "peer add a endpoint 192.0.2.2:4433 fingerprint {} prefix 10.2.0.0/16",
                fp(1)
            ),
        )
        .unwrap();
        apply(
            &mut c,
            &std::format!(
                "peer add b endpoint 192.0.2.3:4433 fingerprint {} prefix 10.3.0.0/16",
                fp(2)
            ),
        )
        .unwrap();
        apply(&mut c, "peer set a enforcement drop").unwrap();
        assert_eq!(
            c.peer("a").unwrap().enforcement,
            Some(Enforcement::DropUnencrypted)
        );
        assert_eq!(
            c.enforcement_for(c.peer("a").unwrap()),
            Enforcement::DropUnencrypted
        );
        assert_eq!(
            c.enforcement_for(c.peer("b").unwrap()),
            Enforcement::DropUnencrypted
        );
        apply(&mut c, "peer set a enforcement allow").unwrap();
        assert_eq!(
            c.enforcement_for(c.peer("a").unwrap()),
            Enforcement::AllowUnencrypted
        );
        let before = c.clone();
        assert!(apply(&mut c, "peer set a prefix 10.3.0.0/24").is_err());
        assert_eq!(c, before);
        apply(&mut c, "peer set a prefix 10.4.0.0/24 enforcement default").unwrap();
        let a = c.peer("a").unwrap();
        assert_eq!(a.enforcement, None);
        assert_eq!(a.endpoint, Some("192.0.2.2:4433".parse().unwrap()));
        apply(&mut c, "peer remove a").unwrap();
        assert!(c.peer("a").is_none());
    }

    #[test]
    fn dead_peer_detection_must_wait_longer_than_a_keepalive() {
        let mut c = Config::default();
        let before = c.clone();
        assert_eq!(
            apply(&mut c, "dead-peer after 10"),
            Err(ApplyError::DeadPeerNotAfterKeepalive {
                keepalive_s: 10,
                dead_after_s: 10
            })
        );
        assert_eq!(
            apply(&mut c, "keepalive interval 30"),
            Err(ApplyError::DeadPeerNotAfterKeepalive {
                keepalive_s: 30,
                dead_after_s: 30
            })
        );
        assert_eq!(c, before);
        apply(&mut c, "dead-peer after 120").unwrap();
        apply(&mut c, "keepalive interval 60").unwrap();
        apply(&mut c, "fallback after 300").unwrap();
        assert_eq!(
            (
                c.liveness.keepalive_s,
                c.liveness.dead_after_s,
                c.liveness.fallback_after_s
            ),
            (60, 120, 300)
        );
    }

    #[test]
    fn the_collector_must_sit_on_lan_or_behind_a_peer() {
        let mut c = Config::default();
        // Nothing protected yet: an address on wan or anywhere else is refused.
        assert_eq!(
            apply(&mut c, "collector 192.0.2.9:2055"),
            Err(ApplyError::CollectorUnprotected(
                "192.0.2.9".parse().unwrap()
            ))
        );
        assert_eq!(c.collector, None);
        apply(&mut c, "interface lan address 10.1.0.1/24").unwrap();
        // Our own lan address is no collector.
        assert!(apply(&mut c, "collector 10.1.0.1:2055").is_err());
        apply(&mut c, "collector 10.1.0.9:2055").unwrap();
        assert_eq!(
            c.collector_path("10.1.0.9".parse().unwrap()),
            Some(crate::CollectorPath::Lan)
        );
        apply(
            &mut c,
            &std::format!(
                "peer add b endpoint 192.0.2.2:4433 fingerprint {} prefix 10.2.0.0/16",
                fp(1)
            ),
        )
        .unwrap();
        apply(&mut c, "collector 10.2.3.4:2055 interval 30").unwrap();
        assert!(matches!(
            c.collector_path("10.2.3.4".parse().unwrap()),
            Some(crate::CollectorPath::Peer(p)) if p.name == "b"
        ));
        // Changes that would leave it with no protected path are refused whole.
        let before = c.clone();
        let ip = "10.2.3.4".parse().unwrap();
        for line in ["peer remove b", "peer set b prefix 10.3.0.0/16"] {
            assert_eq!(
                apply(&mut c, line),
                Err(ApplyError::CollectorWouldBeUnprotected(ip)),
                "{line}"
            );
            assert_eq!(c, before, "{line}");
        }
        apply(&mut c, "collector 10.1.0.9:2055").unwrap();
        assert_eq!(
            apply(&mut c, "interface lan address 10.5.0.1/24"),
            Err(ApplyError::CollectorWouldBeUnprotected(
                "10.1.0.9".parse().unwrap()
            ))
        );
        apply(&mut c, "peer remove b").unwrap();
        apply(&mut c, "collector off").unwrap();
        apply(&mut c, "interface lan address none").unwrap();
    }

    #[test]
    fn routes_stay_valid_against_the_lan_and_the_peers() {
        use crate::{LanRoute, RouteError, MAX_ROUTES};
        let p = |s: &str| -> Ipv4Prefix { s.parse().unwrap() };
        let mut c = Config::default();
        assert_eq!(
            apply(&mut c, "route add 10.244.1.0/24 via 10.1.0.20"),
            Err(ApplyError::RouteWithoutLanAddress)
        );
        apply(&mut c, "interface lan address 10.1.0.1/24").unwrap();
        apply(
            &mut c,
            &std::format!(
                "peer add b endpoint 192.0.2.2:4433 fingerprint {} prefix 10.2.0.0/16",
                fp(1)
            ),
        )
        .unwrap();
        apply(&mut c, "route add 10.244.1.0/24 via 10.1.0.20").unwrap();
        let before = c.clone();
        let route = |prefix: &str, via: &str| LanRoute {
            prefix: p(prefix),
            via: via.parse().unwrap(),
        };
        let refused = [
            (
                "route add 10.244.1.0/24 via 10.1.0.21",
                ApplyError::RouteExists(p("10.244.1.0/24")),
            ),
            (
                "route add 10.245.0.0/16 via 10.9.0.1",
                ApplyError::Route(RouteError::NextHopNotOnLink(route(
                    "10.245.0.0/16",
                    "10.9.0.1",
                ))),
            ),
            (
                "route add 10.245.0.0/16 via 10.1.0.1",
                ApplyError::Route(RouteError::NextHopInvalid(route(
                    "10.245.0.0/16",
                    "10.1.0.1",
                ))),
            ),
            (
                "route add 10.1.0.128/25 via 10.1.0.20",
                ApplyError::Route(RouteError::OverlapsLan(p("10.1.0.128/25"))),
            ),
            (
                "route add 10.2.3.0/24 via 10.1.0.20",
                ApplyError::Route(RouteError::OverlapsPeer(p("10.2.3.0/24"))),
            ),
            (
                "route add 10.244.0.0/16 via 10.1.0.20",
                ApplyError::Route(RouteError::OverlapsRoute(p("10.244.0.0/16"))),
            ),
            (
                "route remove 10.99.0.0/16",
                ApplyError::NoSuchRoute(p("10.99.0.0/16")),
            ),
            // Changes elsewhere that would break the route.
            (
                "interface lan address 10.7.0.1/24",
                ApplyError::Route(RouteError::NextHopNotOnLink(route(
                    "10.244.1.0/24",
                    "10.1.0.20",
                ))),
            ),
            (
                "interface lan address none",
                ApplyError::RouteWithoutLanAddress,
            ),
            (
                "peer set b prefix 10.2.0.0/16,10.244.0.0/16",
                ApplyError::Route(RouteError::OverlapsPeer(p("10.244.1.0/24"))),
            ),
        ];
        for (line, want) in refused {
            assert_eq!(apply(&mut c, line), Err(want), "{line}");
            assert_eq!(c, before, "a failed statement changed the config: {line}");
        }
        let line = std::format!(
            "peer add k endpoint 192.0.2.3:4433 fingerprint {} prefix 10.244.1.128/25",
            fp(2)
        );
        assert!(apply(&mut c, &line).is_err());
        assert_eq!(c, before);
        // The limit.
        for i in 1..MAX_ROUTES {
            apply(
                &mut c,
                &std::format!("route add 10.250.{i}.0/24 via 10.1.0.20"),
            )
            .unwrap();
        }
        assert_eq!(
            apply(&mut c, "route add 10.251.0.0/24 via 10.1.0.20"),
            Err(ApplyError::Route(RouteError::TooMany))
        );
        apply(&mut c, "route remove 10.244.1.0/24").unwrap();
        assert_eq!(c.routes.len(), MAX_ROUTES - 1);
    }

    #[test]
    fn transit_is_set_and_cleared_per_peer() {
        let mut c = Config::default();
        apply(
            &mut c,
            &std::format!(
                "peer add a endpoint 192.0.2.2:4433 fingerprint {} prefix 10.2.0.0/16 transit on",
                fp(1)
            ),
        )
        .unwrap();
        assert!(c.peer("a").unwrap().transit);
        apply(&mut c, "peer set a transit off").unwrap();
        assert!(!c.peer("a").unwrap().transit);
        apply(&mut c, "peer set a enforcement allow").unwrap();
        assert!(!c.peer("a").unwrap().transit, "untouched by other changes");
    }

    #[test]
    fn the_syslog_server_must_sit_on_lan_or_behind_a_peer() {
        let mut c = Config::default();
        assert_eq!(
            apply(&mut c, "syslog 192.0.2.9:514"),
            Err(ApplyError::SyslogUnprotected("192.0.2.9".parse().unwrap()))
        );
        assert_eq!(c.syslog, None);
        apply(&mut c, "interface lan address 10.1.0.1/24").unwrap();
        assert!(apply(&mut c, "syslog 10.1.0.1:514").is_err());
        apply(&mut c, "syslog 10.1.0.9:514").unwrap();
        assert_eq!(c.syslog, Some("10.1.0.9:514".parse().unwrap()));
        apply(
            &mut c,
            &std::format!(
                "peer add b endpoint 192.0.2.2:4433 fingerprint {} prefix 10.2.0.0/16",
                fp(1)
            ),
        )
        .unwrap();
        apply(&mut c, "syslog 10.2.3.4:514").unwrap();
        let before = c.clone();
        for line in ["peer remove b", "peer set b prefix 10.3.0.0/16"] {
            assert_eq!(
                apply(&mut c, line),
                Err(ApplyError::SyslogWouldBeUnprotected(
                    "10.2.3.4".parse().unwrap()
                )),
                "{line}"
            );
            assert_eq!(c, before, "{line}");
        }
        apply(&mut c, "syslog off").unwrap();
        apply(&mut c, "peer remove b").unwrap();
        assert_eq!(c.syslog, None);
    }

    #[test]
    fn the_ntp_server_must_sit_on_the_lan_subnet() {
        let mut c = Config::default();
        let ip = |s: &str| s.parse::<core::net::Ipv4Addr>().unwrap();
        // No lan address yet, a wan-side server, our own lan address: refused.
        assert_eq!(
            apply(&mut c, "ntp 10.1.0.5"),
            Err(ApplyError::NtpNotOnLan(ip("10.1.0.5")))
        );
        apply(&mut c, "interface wan address 192.0.2.1/24").unwrap();
        apply(&mut c, "interface lan address 10.1.0.1/24").unwrap();
        assert_eq!(
            apply(&mut c, "ntp 192.0.2.9"),
            Err(ApplyError::NtpNotOnLan(ip("192.0.2.9")))
        );
        assert!(apply(&mut c, "ntp 10.1.0.1").is_err());
        assert_eq!(c.ntp, None);
        apply(&mut c, "ntp 10.1.0.5").unwrap();
        assert_eq!(c.ntp, Some(ip("10.1.0.5")));
        // Moving lan away from it is refused and changes nothing.
        let before = c.clone();
        assert_eq!(
            apply(&mut c, "interface lan address 10.9.0.1/24"),
            Err(ApplyError::NtpWouldLeaveLan(ip("10.1.0.5")))
        );
        assert_eq!(c, before);
        apply(&mut c, "ntp off").unwrap();
        apply(&mut c, "interface lan address 10.9.0.1/24").unwrap();
        apply(&mut c, "metrics on").unwrap();
        assert_eq!(c.metrics, Some(crate::DEFAULT_METRICS_PORT));
    }

    #[test]
    fn peer_limit_is_enforced() {
        let mut c = Config::default();
        for i in 0..MAX_PEERS {
            let line = std::format!(
                "peer add p{i} endpoint 192.0.2.{}:{} fingerprint {} prefix 10.{i}.0.0/16",
                i + 1,
                4000 + i,
                fp(i as u8)
            );
            apply(&mut c, &line).unwrap();
        }
        let line = std::format!(
            "peer add extra endpoint 192.0.3.1:1 fingerprint {} prefix 10.200.0.0/16",
            fp(250)
        );
        assert_eq!(apply(&mut c, &line), Err(ApplyError::TooManyPeers));
    }
}
