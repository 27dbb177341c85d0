//! The fleet inventory: one file that lists every gateway of a fleet.
//!
//! ```text
//! # comment (also after a line's last word)
//! fleet STATEMENT...      a console statement every gateway gets (enforcement, collector, ...)
//! gateway NAME wan A.B.C.D/LEN [port N] lan A.B.C.D/LEN [protect P[,P...]] role mesh|hub|spoke
//! at NAME STATEMENT...    a console statement for one gateway only (routes, mtu, ...)
//! ```
//!
//! `protect` lists the prefixes behind the gateway that its peers send to it (default:
//! the lan's network). `port` is the DTLS port on wan (default 4433). Roles: a `mesh`
//! member peers with every other mesh member and the hub; a `hub` peers with everyone
//! and relays between spokes; a `spoke` peers with the hub only.
//!
//! Parsing checks each line on its own ([`parse`]); [`Inventory::validate`] checks the
//! fleet as a whole (duplicates, overlaps, a spoke without a hub). Every error names
//! its line. Statements after `fleet` and `at` are checked later, against the
//! configuration grammar, when a gateway's configuration is built.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use vnetcrypt_config::{Ipv4Prefix, DEFAULT_LISTEN_PORT};

/// What a gateway is in the fleet's topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Mesh,
    Hub,
    Spoke,
}

impl Role {
    pub fn keyword(self) -> &'static str {
        match self {
            Role::Mesh => "mesh",
            Role::Hub => "hub",
            Role::Spoke => "spoke",
        }
    }
}

/// One `gateway` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub line: usize,
    pub name: String,
    pub wan: (Ipv4Addr, u8),
    pub port: u16,
    pub lan: (Ipv4Addr, u8),
    /// What peers send to this gateway; never empty.
    pub protect: Vec<Ipv4Prefix>,
    pub role: Role,
}

impl Gateway {
    /// The lan's on-link network.
    pub fn lan_network(&self) -> Ipv4Prefix {
        Ipv4Prefix::from_parts(self.lan.0, self.lan.1)
    }
}

/// A console statement from the inventory, with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra {
    pub line: usize,
    pub text: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub gateways: Vec<Gateway>,
    /// Statements for every gateway.
    pub fleet: Vec<Extra>,
    /// Statements for one gateway, by name.
    pub at: BTreeMap<String, Vec<Extra>>,
}

/// An error in the inventory, at a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn err(line: usize, message: impl Into<String>) -> InventoryError {
    InventoryError {
        line,
        message: message.into(),
    }
}

/// Reads every line; returns all errors found (parsing goes on after a bad line).
pub fn parse(text: &str) -> Result<Inventory, Vec<InventoryError>> {
    let mut inv = Inventory::default();
    let mut errors = Vec::new();
    let mut at_lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let body = raw.split('#').next().unwrap_or("").trim();
        let mut words = body.split_ascii_whitespace();
        let Some(kind) = words.next() else { continue };
        // What follows the first word (and, for `at`, the second), as written.
        let after = |s: &str| {
            s.trim_start()
                .split_once(char::is_whitespace)
                .map(|(_, r)| r.trim().to_string())
        };
        match kind {
            "gateway" => match gateway(line, words) {
                Ok(g) => inv.gateways.push(g),
                Err(e) => errors.push(e),
            },
            "fleet" if words.next().is_some() => inv.fleet.push(Extra {
                line,
                text: after(body).unwrap_or_default(),
            }),
            "at" => match (words.next(), after(body).as_deref().and_then(after)) {
                (Some(name), Some(text)) => {
                    at_lines.push((name.to_string(), Extra { line, text }));
                }
                _ => errors.push(err(line, "'at' needs a gateway name and a statement")),
            },
            "fleet" => errors.push(err(line, "'fleet' needs a statement")),
            other => errors.push(err(
                line,
                format!("unknown line kind '{other}' (expected gateway, fleet or at)"),
            )),
        }
    }
    for (name, extra) in at_lines {
        if inv.gateways.iter().any(|g| g.name == name) {
            inv.at.entry(name).or_default().push(extra);
        } else {
            errors.push(err(extra.line, format!("'at {name}': no such gateway")));
        }
    }
    if errors.is_empty() {
        Ok(inv)
    } else {
        Err(errors)
    }
}

fn gateway<'a>(
    line: usize,
    mut w: impl Iterator<Item = &'a str>,
) -> Result<Gateway, InventoryError> {
    let name = w
        .next()
        .ok_or_else(|| err(line, "'gateway' needs a name"))?;
    if name.is_empty()
        || name.len() > 32
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(err(
            line,
            format!("bad gateway name '{name}' (1-32 letters, digits, '-', '_', '.')"),
        ));
    }
    let (mut wan, mut lan, mut port, mut protect, mut role) = (None, None, None, None, None);
    while let Some(key) = w.next() {
        let value = w
            .next()
            .ok_or_else(|| err(line, format!("'{key}' needs a value")))?;
        let seen = match key {
            "wan" => wan.replace(host_cidr(line, value)?).is_some(),
            "lan" => lan.replace(host_cidr(line, value)?).is_some(),
            "port" => {
                let p = value
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| err(line, format!("bad port '{value}' (1-65535)")))?;
                port.replace(p).is_some()
            }
            "protect" => {
                let list = value
                    .split(',')
                    .map(|p| {
                        p.parse::<Ipv4Prefix>().map_err(|_| {
                            err(
                                line,
                                format!("bad prefix '{p}' (A.B.C.D/LEN, host bits zero)"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                protect.replace(list).is_some()
            }
            "role" => {
                let r = match value {
                    "mesh" => Role::Mesh,
                    "hub" => Role::Hub,
                    "spoke" => Role::Spoke,
                    other => {
                        return Err(err(
                            line,
                            format!("unknown role '{other}' (expected mesh, hub or spoke)"),
                        ))
                    }
                };
                role.replace(r).is_some()
            }
            other => {
                return Err(err(
                    line,
                    format!("unknown key '{other}' (expected wan, port, lan, protect or role)"),
                ))
            }
        };
        if seen {
            return Err(err(line, format!("'{key}' given twice")));
        }
    }
    let missing = |what: &str| err(line, format!("gateway '{name}' has no '{what}'"));
    let lan = lan.ok_or_else(|| missing("lan"))?;
    let mut g = Gateway {
        line,
        name: name.to_string(),
        wan: wan.ok_or_else(|| missing("wan"))?,
        port: port.unwrap_or(DEFAULT_LISTEN_PORT),
        lan,
        protect: Vec::new(),
        role: role.ok_or_else(|| missing("role"))?,
    };
    g.protect = protect.unwrap_or_else(|| vec![g.lan_network()]);
    Ok(g)
}

fn host_cidr(line: usize, t: &str) -> Result<(Ipv4Addr, u8), InventoryError> {
    let bad = || err(line, format!("bad address '{t}' (A.B.C.D/LEN, LEN 1-32)"));
    let (a, l) = t.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
    let len: u8 = l
        .parse()
        .ok()
        .filter(|l| (1..=32).contains(l))
        .ok_or_else(bad)?;
    Ok((addr, len))
}

impl Inventory {
    /// The checks that need the whole fleet: names, addresses and prefixes are
    /// unique, a spoke has a hub, there is at most one hub.
    pub fn validate(&self) -> Result<(), Vec<InventoryError>> {
        let mut errors = Vec::new();
        if self.gateways.is_empty() {
            errors.push(err(1, "no 'gateway' lines"));
        }
        let hubs: Vec<&Gateway> = self
            .gateways
            .iter()
            .filter(|g| g.role == Role::Hub)
            .collect();
        for extra in hubs.iter().skip(1) {
            errors.push(err(
                extra.line,
                format!(
                    "second hub '{}' (the first is '{}' on line {}): one hub per fleet",
                    extra.name, hubs[0].name, hubs[0].line
                ),
            ));
        }
        for (i, g) in self.gateways.iter().enumerate() {
            if g.role == Role::Spoke && hubs.is_empty() {
                errors.push(err(
                    g.line,
                    format!("spoke '{}' but the fleet has no hub", g.name),
                ));
            }
            if g.lan.0 == g.lan_network().network() && g.lan.1 < 31 {
                errors.push(err(
                    g.line,
                    format!(
                        "lan address {}/{} is its network's address",
                        g.lan.0, g.lan.1
                    ),
                ));
            }
            for earlier in &self.gateways[..i] {
                let clash = |what: &str| {
                    err(
                        g.line,
                        format!(
                            "gateway '{}' has the same {what} as '{}' (line {})",
                            g.name, earlier.name, earlier.line
                        ),
                    )
                };
                if g.name == earlier.name {
                    errors.push(clash("name"));
                }
                if g.wan.0 == earlier.wan.0 {
                    errors.push(clash("wan address"));
                }
                if g.lan.0 == earlier.lan.0 {
                    errors.push(clash("lan address"));
                }
                for p in &g.protect {
                    if let Some(q) = earlier.protect.iter().find(|q| q.overlaps(p)) {
                        errors.push(err(
                            g.line,
                            format!(
                                "prefix {p} of '{}' overlaps {q} of '{}' (line {})",
                                g.name, earlier.name, earlier.line
                            ),
                        ));
                    }
                }
            }
            for o in &self.gateways {
                if let Some(p) = o.protect.iter().find(|p| p.contains(g.wan.0)) {
                    errors.push(err(
                        g.line,
                        format!(
                            "wan address {} of '{}' lies inside prefix {p} of '{}' (line {}): \
                             its peers would send its own tunnel into a tunnel",
                            g.wan.0, g.name, o.name, o.line
                        ),
                    ));
                }
            }
            for (j, p) in g.protect.iter().enumerate() {
                if g.protect[..j].iter().any(|q| q.overlaps(p)) {
                    errors.push(err(
                        g.line,
                        format!(
                            "prefix {p} of '{}' is listed twice or overlaps another of its own",
                            g.name
                        ),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The gateways `g` peers with, by the roles.
    pub fn peers_of<'a>(&'a self, g: &'a Gateway) -> impl Iterator<Item = &'a Gateway> + 'a {
        self.gateways.iter().filter(move |o| {
            o.name != g.name
                // A spoke talks to the hub only; mesh members and spokes never meet.
                && !matches!(
                    (g.role, o.role),
                    (Role::Spoke, Role::Spoke | Role::Mesh) | (Role::Mesh, Role::Spoke)
                )
        })
    }

    /// What `g` sends to its peer `o`: `o`'s own prefixes and, when `g` is a spoke
    /// and `o` the hub, every other spoke's (the hub relays them).
    pub fn prefixes_via(&self, g: &Gateway, o: &Gateway) -> Vec<Ipv4Prefix> {
        let mut out = o.protect.clone();
        if g.role == Role::Spoke && o.role == Role::Hub {
            for s in &self.gateways {
                if s.role == Role::Spoke && s.name != g.name {
                    out.extend(s.protect.iter().copied());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLEET: &str = "\
# a test fleet
fleet enforcement drop   # everywhere
gateway hub wan 192.0.2.1/24 port 4444 lan 10.0.0.1/24 role hub
gateway s1  wan 192.0.2.2/24 lan 10.1.0.1/24 protect 10.1.0.0/24,10.11.0.0/16 role spoke
gateway s2  wan 192.0.2.3/24 lan 10.2.0.1/24 role spoke
gateway m   wan 192.0.2.4/24 lan 10.3.0.1/24 role mesh
at s1 interface lan mtu 1400
";

    fn one_error(text: &str) -> InventoryError {
        let errors = match parse(text) {
            Ok(inv) => inv.validate().expect_err(text),
            Err(e) => e,
        };
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].clone()
    }

    #[test]
    fn a_fleet_parses_with_defaults() {
        let inv = parse(FLEET).unwrap();
        inv.validate().unwrap();
        assert_eq!(inv.gateways.len(), 4);
        let s1 = &inv.gateways[1];
        assert_eq!(s1.port, DEFAULT_LISTEN_PORT);
        assert_eq!(s1.protect.len(), 2);
        assert_eq!(inv.gateways[0].port, 4444);
        assert_eq!(
            inv.gateways[2].protect,
            ["10.2.0.0/24".parse().unwrap()],
            "protect defaults to the lan's network"
        );
        assert_eq!(inv.fleet[0].text, "enforcement drop");
        assert_eq!(inv.at["s1"][0].text, "interface lan mtu 1400");
    }

    #[test]
    fn roles_decide_the_peers_and_what_a_spoke_sends_to_the_hub() {
        let inv = parse(FLEET).unwrap();
        let names = |g: &Gateway| inv.peers_of(g).map(|o| o.name.clone()).collect::<Vec<_>>();
        let [hub, s1, s2, m] = [0, 1, 2, 3].map(|i| &inv.gateways[i]);
        assert_eq!(names(hub), ["s1", "s2", "m"]);
        assert_eq!(names(s1), ["hub"]);
        assert_eq!(names(m), ["hub"]);
        let via: Vec<String> = inv
            .prefixes_via(s2, hub)
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(via, ["10.0.0.0/24", "10.1.0.0/24", "10.11.0.0/16"]);
        assert_eq!(inv.prefixes_via(hub, s2), s2.protect);
    }

    #[test]
    fn errors_name_their_line() {
        let base = "gateway a wan 192.0.2.1/24 lan 10.1.0.1/24 role mesh\n";
        let cases = [
            (
                "gateway b wan 192.0.2.2/24 lan 10.2.0.1/24 role star\n",
                2,
                "unknown role 'star'",
            ),
            (
                "gateway a wan 192.0.2.2/24 lan 10.2.0.1/24 role mesh\n",
                2,
                "same name as 'a' (line 1)",
            ),
            (
                "gateway b wan 192.0.2.1/24 lan 10.2.0.1/24 role mesh\n",
                2,
                "same wan address as 'a'",
            ),
            (
                "gateway b wan 192.0.2.2/24 lan 10.5.0.0/16 role mesh\n",
                2,
                "lan address 10.5.0.0/16 is its network's",
            ),
            (
                "gateway b wan 192.0.2.2/24 lan 10.1.7.1/16 role mesh\n",
                2,
                "prefix 10.1.0.0/16 of 'b' overlaps 10.1.0.0/24 of 'a'",
            ),
            (
                "gateway b wan 192.0.2.2/24 lan 10.2.0.1/24 role spoke\n",
                2,
                "spoke 'b' but the fleet has no hub",
            ),
            (
                "gateway b wan 192.0.2.2/24 lan 10.2.0.1/24\n",
                2,
                "gateway 'b' has no 'role'",
            ),
            (
                "gateway b wan 192.0.2.2 lan 10.2.0.1/24 role mesh\n",
                2,
                "bad address '192.0.2.2'",
            ),
            (
                "gateway b wan 192.0.2.2/24 lan 10.2.0.1/24 role mesh port 0\n",
                2,
                "bad port '0'",
            ),
            (
                "gateway b wan 192.0.2.2/24 lan 10.2.0.1/24 role mesh colour red\n",
                2,
                "unknown key 'colour'",
            ),
            (
                "gateway b wan 192.0.2.2/24 lan 10.2.0.1/24 protect 10.2.0.1/24 role mesh\n",
                2,
                "bad prefix '10.2.0.1/24'",
            ),
            (
                "gateway b/1 wan 192.0.2.2/24 lan 10.2.0.1/24 role mesh\n",
                2,
                "bad gateway name 'b/1'",
            ),
            (
                "gateway b wan 192.0.2.2/24 lan 10.2.0.1/24 role mesh role hub\n",
                2,
                "'role' given twice",
            ),
            ("at c enforcement drop\n", 2, "'at c': no such gateway"),
            (
                "gateway b wan 10.1.0.7/24 lan 10.2.0.1/24 role mesh\n",
                2,
                "wan address 10.1.0.7 of 'b' lies inside prefix 10.1.0.0/24 of 'a' (line 1)",
            ),
            ("peer add x\n", 2, "unknown line kind 'peer'"),
            ("fleet\n", 2, "'fleet' needs a statement"),
        ];
        for (line, n, want) in cases {
            let e = one_error(&format!("{base}{line}"));
            assert_eq!(e.line, n, "{line}: {e}");
            assert!(e.message.contains(want), "{line}: {e}");
        }
        let two_hubs = format!(
            "{base}gateway h1 wan 192.0.2.2/24 lan 10.2.0.1/24 role hub\n\
             gateway h2 wan 192.0.2.3/24 lan 10.3.0.1/24 role hub\n"
        );
        let e = one_error(&two_hubs);
        assert_eq!(e.line, 3);
        assert!(e.message.contains("second hub 'h2'"), "{e}");
        assert_eq!(one_error("# nothing\n").message, "no 'gateway' lines");
    }

    #[test]
    fn arbitrary_text_is_an_error_never_a_panic() {
        // Lines stitched from the grammar's own words and some hostile ones.
        const WORDS: [&str; 22] = [
            "gateway",
            "fleet",
            "at",
            "wan",
            "lan",
            "port",
            "protect",
            "role",
            "mesh",
            "hub",
            "spoke",
            "a",
            "192.0.2.1/24",
            "10.1.0.1/33",
            "10.1.0.0/24,",
            ",",
            "/",
            "#",
            "\u{e9}",
            "65536",
            "0",
            "",
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..next(4) + 1 {
                for _ in 0..next(9) {
                    text.push_str(WORDS[next(WORDS.len())]);
                    text.push(if next(5) == 0 { '\t' } else { ' ' });
                }
                text.push('\n');
            }
            if let Ok(inv) = parse(&text) {
                let _ = inv.validate();
                for g in &inv.gateways {
                    let _ = inv.peers_of(g).count();
                }
            }
        }
    }

    #[test]
    fn every_bad_line_is_reported_not_only_the_first() {
        let errors = parse("frob\ngateway\nfleet\n").unwrap_err();
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 2, 3]);
    }
}
