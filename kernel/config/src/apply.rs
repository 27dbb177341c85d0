//! Applying a statement: checked first, then applied whole, so a statement that fails
//! leaves the configuration exactly as it was.

use crate::model::{default_private, Config, PeerConfig};
use crate::{ApplyError, Statement, MAX_PEERS};
use alloc::string::ToString;

impl Config {
    /// Applies one statement completely, or not at all.
    pub fn apply(&mut self, st: Statement<'_>) -> Result<(), ApplyError> {
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
            Statement::Collector(c) => self.collector = c,
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
                if let Some(f) = change.fingerprint {
                    peer.fingerprint = f;
                }
                if let Some(p) = change.prefixes {
                    peer.prefixes = p;
                }
                if let Some(e) = change.enforcement {
                    peer.enforcement = e;
                }
                self.check_peer(&peer)?;
                self.peers[i] = peer;
            }
            Statement::PeerRemove(name) => {
                let i = self.peer_index(name)?;
                self.peers.remove(i);
            }
        }
        Ok(())
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
            if other.endpoint == peer.endpoint {
                return Err(ApplyError::EndpointInUse {
                    peer: other.name.clone(),
                });
            }
            if other.fingerprint == peer.fingerprint {
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
            ("peer remove zz".into(), ApplyError::NoSuchPeer("zz".into())),
        ];
        for (line, want) in clashes {
            assert_eq!(apply(&mut c, &line), Err(want), "{line}");
            assert_eq!(c, before, "a failed statement changed the config: {line}");
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
            Enforcement::AllowUnencrypted
        );
        let before = c.clone();
        assert!(apply(&mut c, "peer set a prefix 10.3.0.0/24").is_err());
        assert_eq!(c, before);
        apply(&mut c, "peer set a prefix 10.4.0.0/24 enforcement default").unwrap();
        let a = c.peer("a").unwrap();
        assert_eq!(a.enforcement, None);
        assert_eq!(a.endpoint, "192.0.2.2:4433".parse().unwrap());
        apply(&mut c, "peer remove a").unwrap();
        assert!(c.peer("a").is_none());
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
