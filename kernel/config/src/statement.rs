//! The configuration grammar: one statement per line, words separated by spaces.
//!
//! ```text
//! enforcement allow|drop
//! listen port PORT
//! interface roles wan-lan|lan-wan
//! interface wan|lan address A.B.C.D/LEN|none
//! interface wan|lan gateway A.B.C.D|none
//! interface wan dhcp on|off
//! interface wan|lan mtu 576..9000
//! proxy-arp on|off
//! private PREFIX[,PREFIX...]|default
//! route add PREFIX via A.B.C.D
//! route remove PREFIX
//! peer add NAME [endpoint A.B.C.D:PORT|none] fingerprint HEX[,HEX] prefix PREFIX[,PREFIX...] [enforcement allow|drop] [transit on|off]
//! peer set NAME [endpoint A.B.C.D:PORT|none] [fingerprint HEX[,HEX]] [prefix ...] [enforcement allow|drop|default] [transit on|off]
//! peer remove NAME
//! rekey interval SECONDS
//! rekey records COUNT
//! keepalive interval SECONDS
//! dead-peer after SECONDS
//! fallback after SECONDS
//! collector A.B.C.D:PORT [interval SECONDS] | collector off
//! syslog A.B.C.D:PORT | syslog off
//! metrics on [port PORT] | metrics off
//! ntp A.B.C.D | ntp off
//! ```
//!
//! A peer without an endpoint (`endpoint none`, or none given) calls us: its address is
//! learned from its authenticated handshake. Two fingerprints pin two identities at
//! once (either is accepted), for rotating a peer's identity without an outage.

use crate::error::StatementError as E;
use crate::model::{Collector, Iface, PeerConfig};
use crate::{Enforcement, Fingerprint};
use crate::{Ipv4Prefix, LanRoute, MAX_PREFIXES_PER_PEER, MAX_PRIVATE_PREFIXES};
use alloc::string::ToString;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};
use core::str::SplitAsciiWhitespace;

/// One parsed configuration statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement<'a> {
    Enforcement(Enforcement),
    ListenPort(u16),
    /// `true`: the first NIC is lan and the second wan.
    Roles(bool),
    Address(Iface, Option<(Ipv4Addr, u8)>),
    Gateway(Iface, Option<Ipv4Addr>),
    Dhcp(Iface, bool),
    Mtu(Iface, u16),
    ProxyArp(bool),
    /// `None`: back to the default set.
    Private(Option<Vec<Ipv4Prefix>>),
    PeerAdd(PeerConfig),
    PeerSet(&'a str, PeerChange),
    PeerRemove(&'a str),
    RouteAdd(LanRoute),
    RouteRemove(Ipv4Prefix),
    RekeyInterval(u32),
    RekeyRecords(u64),
    KeepaliveInterval(u32),
    DeadPeerAfter(u32),
    FallbackAfter(u32),
    Collector(Option<Collector>),
    /// Where events go as RFC 5424 syslog over UDP; `None`: nowhere.
    Syslog(Option<SocketAddrV4>),
    /// The metrics endpoint's TCP port on lan; `None`: off.
    Metrics(Option<u16>),
    /// The SNTP server (on the lan subnet); `None`: off.
    Ntp(Option<Ipv4Addr>),
}

/// The parts of a peer that `peer set` changes (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerChange {
    /// `Some(None)`: no endpoint (the peer calls us).
    pub endpoint: Option<Option<SocketAddrV4>>,
    /// The first pin and the optional second.
    pub fingerprint: Option<(Fingerprint, Option<Fingerprint>)>,
    pub prefixes: Option<Vec<Ipv4Prefix>>,
    /// `Some(None)`: back to the global enforcement.
    pub enforcement: Option<Option<Enforcement>>,
    pub transit: Option<bool>,
}

/// The words that start a configuration statement.
pub const KEYWORDS: [&str; 15] = [
    "enforcement",
    "listen",
    "interface",
    "proxy-arp",
    "private",
    "peer",
    "route",
    "rekey",
    "keepalive",
    "dead-peer",
    "fallback",
    "collector",
    "syslog",
    "metrics",
    "ntp",
];

/// A cursor over the words of a line that remembers the last word, for error messages.
struct Words<'a> {
    it: SplitAsciiWhitespace<'a>,
    last: &'a str,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let w = self.it.next()?;
        self.last = w;
        Some(w)
    }
    fn need(&mut self, expected: &'static str) -> Result<&'a str, E<'a>> {
        let after = self.last;
        self.next().ok_or(E::Missing { after, expected })
    }
    fn end<T>(mut self, value: T) -> Result<T, E<'a>> {
        match self.next() {
            Some(extra) => Err(E::Unexpected(extra)),
            None => Ok(value),
        }
    }
}

impl<'a> Statement<'a> {
    /// True when `word` starts a configuration statement.
    pub fn is_keyword(word: &str) -> bool {
        KEYWORDS.contains(&word)
    }

    /// Parses one line (without comments; a blank line is an error here).
    pub fn parse(line: &'a str) -> Result<Statement<'a>, E<'a>> {
        let mut w = Words {
            it: line.split_ascii_whitespace(),
            last: "",
        };
        let Some(first) = w.next() else {
            return Err(E::Missing {
                after: "",
                expected: "a command",
            });
        };
        let st = match first {
            "enforcement" => Statement::Enforcement(enforcement(w.need("allow or drop")?)?),
            "listen" => {
                keyword(w.need("'port'")?, "port", "'port'")?;
                Statement::ListenPort(number(
                    w.need("a UDP port")?,
                    1,
                    65535,
                    "a UDP port 1-65535",
                )?)
            }
            "interface" => return interface(w),
            "proxy-arp" => Statement::ProxyArp(on_off(w.need("on or off")?)?),
            "private" => {
                let t = w.need("a prefix list or 'default'")?;
                Statement::Private(if t == "default" {
                    None
                } else {
                    Some(prefixes(t, MAX_PRIVATE_PREFIXES)?)
                })
            }
            "peer" => return peer(w),
            "route" => return route(w),
            "rekey" => match w.need("'interval' or 'records'")? {
                "interval" => Statement::RekeyInterval(number(
                    w.need("seconds")?,
                    10,
                    86_400,
                    "seconds 10-86400",
                )?),
                "records" => Statement::RekeyRecords(number(
                    w.need("a record count")?,
                    1000,
                    1 << 40,
                    "a record count 1000-2^40",
                )?),
                t => {
                    return Err(E::Invalid {
                        token: t,
                        expected: "'interval' or 'records'",
                    })
                }
            },
            "keepalive" => {
                keyword(w.need("'interval'")?, "interval", "'interval'")?;
                Statement::KeepaliveInterval(number(w.need("seconds")?, 1, 3600, "seconds 1-3600")?)
            }
            "dead-peer" => {
                keyword(w.need("'after'")?, "after", "'after'")?;
                Statement::DeadPeerAfter(number(w.need("seconds")?, 2, 86_400, "seconds 2-86400")?)
            }
            "fallback" => {
                keyword(w.need("'after'")?, "after", "'after'")?;
                // Shorter than one handshake timeout would let one lost flight fall back.
                Statement::FallbackAfter(number(
                    w.need("seconds")?,
                    10,
                    86_400,
                    "seconds 10-86400",
                )?)
            }
            "collector" => return collector(w),
            "syslog" => return syslog(w),
            "metrics" => return metrics(w),
            "ntp" => {
                let t = w.need("an address A.B.C.D or 'off'")?;
                Statement::Ntp(if t == "off" {
                    None
                } else {
                    let ip = ipv4(t)?;
                    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
                        return Err(E::Invalid {
                            token: t,
                            expected: "a unicast address",
                        });
                    }
                    Some(ip)
                })
            }
            other => return Err(E::Unknown(other)),
        };
        w.end(st)
    }
}

fn interface(mut w: Words<'_>) -> Result<Statement<'_>, E<'_>> {
    let name = w.need("wan, lan or roles")?;
    let iface = match name {
        "wan" => Iface::Wan,
        "lan" => Iface::Lan,
        "roles" => {
            let swapped = match w.need("wan-lan or lan-wan")? {
                "wan-lan" => false,
                "lan-wan" => true,
                t => {
                    return Err(E::Invalid {
                        token: t,
                        expected: "wan-lan or lan-wan",
                    })
                }
            };
            return w.end(Statement::Roles(swapped));
        }
        t => {
            return Err(E::Invalid {
                token: t,
                expected: "wan or lan",
            })
        }
    };
    let st = match w.need("address, gateway, dhcp or mtu")? {
        "address" => {
            let t = w.need("an address A.B.C.D/LEN or 'none'")?;
            Statement::Address(
                iface,
                if t == "none" {
                    None
                } else {
                    Some(host_cidr(t)?)
                },
            )
        }
        "gateway" => {
            let t = w.need("an address or 'none'")?;
            Statement::Gateway(iface, if t == "none" { None } else { Some(ipv4(t)?) })
        }
        "dhcp" => {
            let t = w.need("on or off")?;
            let on = on_off(t)?;
            if on && iface == Iface::Lan {
                return Err(E::Invalid {
                    token: name,
                    expected: "wan (DHCP runs on wan only)",
                });
            }
            Statement::Dhcp(iface, on)
        }
        "mtu" => Statement::Mtu(
            iface,
            number(w.need("an MTU")?, 576, 9000, "an MTU 576-9000")?,
        ),
        t => {
            return Err(E::Invalid {
                token: t,
                expected: "address, gateway, dhcp or mtu",
            })
        }
    };
    w.end(st)
}

fn peer(mut w: Words<'_>) -> Result<Statement<'_>, E<'_>> {
    let verb = w.need("add, set or remove")?;
    if !matches!(verb, "add" | "set" | "remove") {
        return Err(E::Invalid {
            token: verb,
            expected: "add, set or remove",
        });
    }
    let name = peer_name(w.need("a peer name")?)?;
    if verb == "remove" {
        return w.end(Statement::PeerRemove(name));
    }
    let mut ch = PeerChange::default();
    while let Some(key) = w.next() {
        let repeated = match key {
            "endpoint" => {
                let t = w.need("A.B.C.D:PORT or 'none'")?;
                let e = if t == "none" {
                    None
                } else {
                    Some(endpoint(t)?)
                };
                ch.endpoint.replace(e).is_some()
            }
            "fingerprint" => {
                let t = w.need("a SHA-256 fingerprint")?;
                ch.fingerprint.replace(pins(t)?).is_some()
            }
            "prefix" => {
                let t = w.need("a prefix list")?;
                ch.prefixes
                    .replace(prefixes(t, MAX_PREFIXES_PER_PEER)?)
                    .is_some()
            }
            "enforcement" => {
                let t = w.need("allow, drop or default")?;
                let e = if t == "default" && verb == "set" {
                    None
                } else {
                    Some(enforcement(t)?)
                };
                ch.enforcement.replace(e).is_some()
            }
            "transit" => ch.transit.replace(on_off(w.need("on or off")?)?).is_some(),
            t => {
                return Err(E::Invalid {
                    token: t,
                    expected: "endpoint, fingerprint, prefix, enforcement or transit",
                })
            }
        };
        if repeated {
            return Err(E::Repeated(key));
        }
    }
    if verb == "set" {
        if ch == PeerChange::default() {
            return Err(E::Missing {
                after: name,
                expected: "something to set",
            });
        }
        return Ok(Statement::PeerSet(name, ch));
    }
    let (Some((fingerprint, second_pin)), Some(prefixes)) = (ch.fingerprint, ch.prefixes) else {
        let expected = match ch.fingerprint {
            None => "'fingerprint HEX[,HEX]'",
            Some(_) => "'prefix PREFIX[,PREFIX...]'",
        };
        return Err(E::Missing {
            after: name,
            expected,
        });
    };
    Ok(Statement::PeerAdd(PeerConfig {
        name: name.to_string(),
        endpoint: ch.endpoint.flatten(),
        fingerprint,
        second_pin,
        prefixes,
        enforcement: ch.enforcement.flatten(),
        transit: ch.transit.unwrap_or(false),
    }))
}

fn route(mut w: Words<'_>) -> Result<Statement<'_>, E<'_>> {
    let verb = w.need("add or remove")?;
    let add = match verb {
        "add" => true,
        "remove" => false,
        t => {
            return Err(E::Invalid {
                token: t,
                expected: "add or remove",
            })
        }
    };
    let prefix = one_prefix(w.need("a prefix A.B.C.D/LEN")?)?;
    if !add {
        return w.end(Statement::RouteRemove(prefix));
    }
    keyword(w.need("'via'")?, "via", "'via'")?;
    let t = w.need("a next hop A.B.C.D")?;
    let via = ipv4(t)?;
    if via.is_unspecified() || via.is_broadcast() || via.is_multicast() {
        return Err(E::Invalid {
            token: t,
            expected: "a unicast next hop",
        });
    }
    w.end(Statement::RouteAdd(LanRoute { prefix, via }))
}

/// One fingerprint, or two separated by a comma (both accepted: a rotation).
fn pins(t: &str) -> Result<(Fingerprint, Option<Fingerprint>), E<'_>> {
    let one = |part| {
        Fingerprint::parse(part).ok_or(E::Invalid {
            token: part,
            expected: "64 hex digits (SHA-256), at most two separated by ','",
        })
    };
    match t.split_once(',') {
        None => Ok((one(t)?, None)),
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a == b {
                return Err(E::Invalid {
                    token: t,
                    expected: "two different fingerprints",
                });
            }
            Ok((a, Some(b)))
        }
    }
}

fn collector(mut w: Words<'_>) -> Result<Statement<'_>, E<'_>> {
    let t = w.need("A.B.C.D:PORT or 'off'")?;
    if t == "off" {
        return w.end(Statement::Collector(None));
    }
    let endpoint = endpoint(t)?;
    let mut interval_s = 60;
    if let Some(k) = w.next() {
        keyword(k, "interval", "'interval'")?;
        interval_s = number(w.need("seconds")?, 1, 3600, "seconds 1-3600")?;
    }
    w.end(Statement::Collector(Some(Collector {
        endpoint,
        interval_s,
    })))
}

fn syslog(mut w: Words<'_>) -> Result<Statement<'_>, E<'_>> {
    let t = w.need("A.B.C.D:PORT or 'off'")?;
    if t == "off" {
        return w.end(Statement::Syslog(None));
    }
    let server = endpoint(t)?;
    w.end(Statement::Syslog(Some(server)))
}

fn metrics(mut w: Words<'_>) -> Result<Statement<'_>, E<'_>> {
    if !on_off(w.need("on or off")?)? {
        return w.end(Statement::Metrics(None));
    }
    let mut port = crate::model::DEFAULT_METRICS_PORT;
    if let Some(k) = w.next() {
        keyword(k, "port", "'port'")?;
        port = number(w.need("a TCP port")?, 1, 65535, "a TCP port 1-65535")?;
    }
    w.end(Statement::Metrics(Some(port)))
}

fn keyword<'a>(t: &'a str, want: &str, expected: &'static str) -> Result<(), E<'a>> {
    if t == want {
        Ok(())
    } else {
        Err(E::Invalid { token: t, expected })
    }
}

fn enforcement(t: &str) -> Result<Enforcement, E<'_>> {
    match t {
        "allow" => Ok(Enforcement::AllowUnencrypted),
        "drop" => Ok(Enforcement::DropUnencrypted),
        _ => Err(E::Invalid {
            token: t,
            expected: "allow or drop",
        }),
    }
}

fn on_off(t: &str) -> Result<bool, E<'_>> {
    match t {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(E::Invalid {
            token: t,
            expected: "on or off",
        }),
    }
}

fn number<'a, T: TryFrom<u64>>(
    t: &'a str,
    min: u64,
    max: u64,
    expected: &'static str,
) -> Result<T, E<'a>> {
    let bad = E::Invalid { token: t, expected };
    if t.is_empty() || t.len() > 20 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    let v: u64 = t.parse().map_err(|_| bad)?;
    if !(min..=max).contains(&v) {
        return Err(bad);
    }
    T::try_from(v).map_err(|_| bad)
}

fn ipv4(t: &str) -> Result<Ipv4Addr, E<'_>> {
    t.parse().map_err(|_| E::Invalid {
        token: t,
        expected: "an IPv4 address A.B.C.D",
    })
}

fn host_cidr(t: &str) -> Result<(Ipv4Addr, u8), E<'_>> {
    let bad = E::Invalid {
        token: t,
        expected: "an address A.B.C.D/LEN (LEN 1-32)",
    };
    let (a, l) = t.split_once('/').ok_or(bad)?;
    let addr = a.parse().map_err(|_| bad)?;
    let len: u8 = number(l, 1, 32, "").map_err(|_| bad)?;
    Ok((addr, len))
}

fn endpoint(t: &str) -> Result<SocketAddrV4, E<'_>> {
    let sa: SocketAddrV4 = t.parse().map_err(|_| E::Invalid {
        token: t,
        expected: "an endpoint A.B.C.D:PORT",
    })?;
    if sa.port() == 0 || sa.ip().is_unspecified() || sa.ip().is_broadcast() {
        return Err(E::Invalid {
            token: t,
            expected: "a unicast endpoint with a non-zero port",
        });
    }
    Ok(sa)
}

fn one_prefix(t: &str) -> Result<Ipv4Prefix, E<'_>> {
    t.parse().map_err(|e| E::Invalid {
        token: t,
        expected: match e {
            crate::PrefixError::HostBitsSet => "a prefix with host bits zero",
            crate::PrefixError::Syntax | crate::PrefixError::BadLength => "a prefix A.B.C.D/LEN",
        },
    })
}

fn prefixes(t: &str, max: usize) -> Result<Vec<Ipv4Prefix>, E<'_>> {
    let mut out: Vec<Ipv4Prefix> = Vec::new();
    for part in t.split(',') {
        let p = one_prefix(part)?;
        if out.iter().any(|q| q.overlaps(&p)) {
            return Err(E::Invalid {
                token: part,
                expected: "prefixes that do not overlap",
            });
        }
        if out.len() == max {
            return Err(E::Invalid {
                token: part,
                expected: "fewer prefixes",
            });
        }
        out.push(p);
    }
    Ok(out)
}

fn peer_name(t: &str) -> Result<&str, E<'_>> {
    let ok = (1..=32).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && t.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(t)
    } else {
        Err(E::Invalid {
            token: t,
            expected: "a name of 1-32 letters, digits, '-', '_', '.'",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn add(line: &str) -> PeerConfig {
        match Statement::parse(line) {
            Ok(Statement::PeerAdd(p)) => p,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn peer_add_in_any_order() {
        let p = add(&std::format!(
            "peer add gw-b prefix 10.2.0.0/24,10.3.0.0/16 fingerprint {FP} endpoint 192.0.2.2:4433 enforcement drop"
        ));
        assert_eq!(p.name, "gw-b");
        assert_eq!(p.endpoint, Some("192.0.2.2:4433".parse().unwrap()));
        assert_eq!(p.prefixes.len(), 2);
        assert_eq!(p.enforcement, Some(Enforcement::DropUnencrypted));
        assert!(!p.transit, "transit is off unless asked for");
        let p = add(&std::format!(
            "peer add hub transit on endpoint 192.0.2.2:4433 fingerprint {FP} prefix 10.2.0.0/24"
        ));
        assert!(p.transit);
    }

    #[test]
    fn routes_and_transit() {
        assert_eq!(
            Statement::parse("route add 10.244.1.0/24 via 10.1.0.20"),
            Ok(Statement::RouteAdd(LanRoute {
                prefix: "10.244.1.0/24".parse().unwrap(),
                via: "10.1.0.20".parse().unwrap(),
            }))
        );
        assert_eq!(
            Statement::parse("route remove 10.244.1.0/24"),
            Ok(Statement::RouteRemove("10.244.1.0/24".parse().unwrap()))
        );
        assert!(matches!(
            Statement::parse("peer set hub transit off"),
            Ok(Statement::PeerSet(
                "hub",
                PeerChange {
                    transit: Some(false),
                    endpoint: None,
                    ..
                }
            ))
        ));
        let cases: &[(&str, E<'_>)] = &[
            (
                "route",
                E::Missing {
                    after: "route",
                    expected: "add or remove",
                },
            ),
            (
                "route show",
                E::Invalid {
                    token: "show",
                    expected: "add or remove",
                },
            ),
            (
                "route add 10.244.1.1/24 via 10.1.0.20",
                E::Invalid {
                    token: "10.244.1.1/24",
                    expected: "a prefix with host bits zero",
                },
            ),
            (
                "route add 10.244.1.0/24",
                E::Missing {
                    after: "10.244.1.0/24",
                    expected: "'via'",
                },
            ),
            (
                "route add 10.244.1.0/24 through 10.1.0.20",
                E::Invalid {
                    token: "through",
                    expected: "'via'",
                },
            ),
            (
                "route add 10.244.1.0/24 via 10.1.0",
                E::Invalid {
                    token: "10.1.0",
                    expected: "an IPv4 address A.B.C.D",
                },
            ),
            (
                "route add 10.244.1.0/24 via 224.0.0.1",
                E::Invalid {
                    token: "224.0.0.1",
                    expected: "a unicast next hop",
                },
            ),
            (
                "route add 10.244.1.0/24 via 10.1.0.20 metric 5",
                E::Unexpected("metric"),
            ),
            ("route remove 10.244.1.0/24 now", E::Unexpected("now")),
            (
                "peer set hub transit maybe",
                E::Invalid {
                    token: "maybe",
                    expected: "on or off",
                },
            ),
            (
                "peer set hub transit on transit off",
                E::Repeated("transit"),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(Statement::parse(line).as_ref(), Err(want), "{line}");
        }
    }

    const FP2: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    #[test]
    fn endpoint_is_optional_and_two_pins_are_accepted() {
        let p = add(&std::format!(
            "peer add gw-c fingerprint {FP},{FP2} prefix 10.4.0.0/24"
        ));
        assert_eq!(p.endpoint, None);
        assert_eq!(p.fingerprint, Fingerprint::parse(FP).unwrap());
        assert_eq!(p.second_pin, Fingerprint::parse(FP2));
        let p = add(&std::format!(
            "peer add gw-c endpoint none fingerprint {FP} prefix 10.4.0.0/24"
        ));
        assert_eq!((p.endpoint, p.second_pin), (None, None));
        let set = std::format!("peer set gw-c endpoint none fingerprint {FP2}");
        let Ok(Statement::PeerSet(_, ch)) = Statement::parse(&set) else {
            panic!("{set}");
        };
        assert_eq!(ch.endpoint, Some(None));
        assert_eq!(
            ch.fingerprint,
            Some((Fingerprint::parse(FP2).unwrap(), None))
        );
        for bad in [
            std::format!("peer add c fingerprint {FP},{FP} prefix 10.4.0.0/24"),
            std::format!("peer add c fingerprint {FP},{FP2},{FP} prefix 10.4.0.0/24"),
            std::format!("peer add c fingerprint {FP}, prefix 10.4.0.0/24"),
            std::format!("peer set c fingerprint ,{FP}"),
            "peer set c endpoint nowhere".to_string(),
        ] {
            assert!(
                matches!(Statement::parse(&bad), Err(E::Invalid { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_name_the_offending_token() {
        let cases: &[(&str, E<'_>)] = &[
            ("frob", E::Unknown("frob")),
            (
                "enforcement maybe",
                E::Invalid {
                    token: "maybe",
                    expected: "allow or drop",
                },
            ),
            (
                "enforcement",
                E::Missing {
                    after: "enforcement",
                    expected: "allow or drop",
                },
            ),
            ("enforcement drop now", E::Unexpected("now")),
            (
                "listen port 0",
                E::Invalid {
                    token: "0",
                    expected: "a UDP port 1-65535",
                },
            ),
            (
                "listen port 65536",
                E::Invalid {
                    token: "65536",
                    expected: "a UDP port 1-65535",
                },
            ),
            (
                "interface eth0 mtu 1500",
                E::Invalid {
                    token: "eth0",
                    expected: "wan or lan",
                },
            ),
            (
                "interface lan dhcp on",
                E::Invalid {
                    token: "lan",
                    expected: "wan (DHCP runs on wan only)",
                },
            ),
            (
                "interface wan mtu 99999999999999999999999",
                E::Invalid {
                    token: "99999999999999999999999",
                    expected: "an MTU 576-9000",
                },
            ),
            (
                "private 10.0.0.1/8",
                E::Invalid {
                    token: "10.0.0.1/8",
                    expected: "a prefix with host bits zero",
                },
            ),
            (
                "private 10.0.0.0/8,10.1.0.0/16",
                E::Invalid {
                    token: "10.1.0.0/16",
                    expected: "prefixes that do not overlap",
                },
            ),
            (
                "peer add b endpoint 1.2.3.4:0",
                E::Invalid {
                    token: "1.2.3.4:0",
                    expected: "a unicast endpoint with a non-zero port",
                },
            ),
            (
                "peer add b fingerprint abc",
                E::Invalid {
                    token: "abc",
                    expected: "64 hex digits (SHA-256), at most two separated by ','",
                },
            ),
            (
                "peer add -x",
                E::Invalid {
                    token: "-x",
                    expected: "a name of 1-32 letters, digits, '-', '_', '.'",
                },
            ),
            (
                "peer add b endpoint 1.2.3.4:5 endpoint 1.2.3.4:6",
                E::Repeated("endpoint"),
            ),
            (
                "peer add b endpoint 1.2.3.4:5",
                E::Missing {
                    after: "b",
                    expected: "'fingerprint HEX[,HEX]'",
                },
            ),
            (
                "peer set b",
                E::Missing {
                    after: "b",
                    expected: "something to set",
                },
            ),
            ("peer remove b extra", E::Unexpected("extra")),
            (
                "keepalive interval 0",
                E::Invalid {
                    token: "0",
                    expected: "seconds 1-3600",
                },
            ),
            (
                "keepalive every 5",
                E::Invalid {
                    token: "every",
                    expected: "'interval'",
                },
            ),
            (
                "dead-peer after",
                E::Missing {
                    after: "after",
                    expected: "seconds",
                },
            ),
            (
                "dead-peer after 1",
                E::Invalid {
                    token: "1",
                    expected: "seconds 2-86400",
                },
            ),
            (
                "fallback after 5",
                E::Invalid {
                    token: "5",
                    expected: "seconds 10-86400",
                },
            ),
            ("fallback after 60 s", E::Unexpected("s")),
            (
                "collector 1.2.3.4:5 every 3",
                E::Invalid {
                    token: "every",
                    expected: "'interval'",
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(Statement::parse(line).as_ref(), Err(want), "{line}");
        }
    }

    #[test]
    fn the_small_statements() {
        assert_eq!(
            Statement::parse("listen port 4433"),
            Ok(Statement::ListenPort(4433))
        );
        assert_eq!(
            Statement::parse("interface wan address 192.0.2.1/24"),
            Ok(Statement::Address(
                Iface::Wan,
                Some(("192.0.2.1".parse().unwrap(), 24))
            ))
        );
        assert_eq!(
            Statement::parse("interface lan gateway none"),
            Ok(Statement::Gateway(Iface::Lan, None))
        );
        assert_eq!(
            Statement::parse("interface wan dhcp on"),
            Ok(Statement::Dhcp(Iface::Wan, true))
        );
        assert_eq!(
            Statement::parse("private default"),
            Ok(Statement::Private(None))
        );
        assert_eq!(
            Statement::parse("interface roles lan-wan"),
            Ok(Statement::Roles(true))
        );
        assert_eq!(
            Statement::parse("interface roles up-down"),
            Err(E::Invalid {
                token: "up-down",
                expected: "wan-lan or lan-wan"
            })
        );
        assert_eq!(
            Statement::parse("collector off"),
            Ok(Statement::Collector(None))
        );
        assert_eq!(Statement::parse("syslog off"), Ok(Statement::Syslog(None)));
        assert_eq!(
            Statement::parse("syslog 10.1.0.9:514"),
            Ok(Statement::Syslog(Some("10.1.0.9:514".parse().unwrap())))
        );
        assert!(Statement::parse("syslog 10.1.0.9").is_err());
        assert_eq!(
            Statement::parse("syslog 10.1.0.9:514 now"),
            Err(E::Unexpected("now"))
        );
        assert!(matches!(Statement::parse("syslog"), Err(E::Missing { .. })));
        assert_eq!(
            Statement::parse("rekey interval 600"),
            Ok(Statement::RekeyInterval(600))
        );
        assert_eq!(
            Statement::parse("keepalive interval 5"),
            Ok(Statement::KeepaliveInterval(5))
        );
        assert_eq!(
            Statement::parse("dead-peer after 20"),
            Ok(Statement::DeadPeerAfter(20))
        );
        assert_eq!(
            Statement::parse("fallback after 60"),
            Ok(Statement::FallbackAfter(60))
        );
        assert_eq!(
            Statement::parse("metrics on"),
            Ok(Statement::Metrics(Some(9100)))
        );
        assert_eq!(
            Statement::parse("metrics on port 9200"),
            Ok(Statement::Metrics(Some(9200)))
        );
        assert_eq!(
            Statement::parse("metrics off"),
            Ok(Statement::Metrics(None))
        );
        assert_eq!(
            Statement::parse("metrics on port 0"),
            Err(E::Invalid {
                token: "0",
                expected: "a TCP port 1-65535"
            })
        );
        assert_eq!(
            Statement::parse("metrics off port 1"),
            Err(E::Unexpected("port"))
        );
        assert_eq!(
            Statement::parse("ntp 10.1.0.5"),
            Ok(Statement::Ntp(Some("10.1.0.5".parse().unwrap())))
        );
        assert_eq!(Statement::parse("ntp off"), Ok(Statement::Ntp(None)));
        assert_eq!(
            Statement::parse("ntp 224.0.1.1"),
            Err(E::Invalid {
                token: "224.0.1.1",
                expected: "a unicast address"
            })
        );
        assert!(matches!(
            Statement::parse("peer set b enforcement default"),
            Ok(Statement::PeerSet(
                "b",
                PeerChange {
                    enforcement: Some(None),
                    ..
                }
            ))
        ));
    }
}
