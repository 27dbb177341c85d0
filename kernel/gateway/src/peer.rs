//! Peers: other appliances, their wan endpoint (if known), pinned identities (one, or
//! two during a rotation) and protected prefixes.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddrV4;

use crate::Ipv4Prefix;
use crate::{Enforcement, Fingerprint};

/// Index of a peer in the engine's peer list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u16);

/// A peer's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// Operator's name for the peer.
    pub name: String,
    /// Its configured wan endpoint; `None`: the peer calls us, and we learn its
    /// address from its authenticated handshake (behind NAT, or a changing address).
    pub endpoint: Option<SocketAddrV4>,
    /// The SHA-256 fingerprint of its pinned identity.
    pub fingerprint: Fingerprint,
    /// A second accepted identity (its next or its old key during a rotation).
    pub second_pin: Option<Fingerprint>,
    /// The private prefixes behind it.
    pub prefixes: Vec<Ipv4Prefix>,
    /// Per-peer enforcement; `None` follows the global setting.
    pub enforcement: Option<Enforcement>,
    /// Hub-and-spoke: records opened from this peer for another transit peer's
    /// prefixes are re-sealed to that peer (both must have it on).
    pub transit: bool,
}

impl PeerConfig {
    /// The enforcement that applies to this peer.
    pub fn effective_enforcement(&self, global: Enforcement) -> Enforcement {
        self.enforcement.unwrap_or(global)
    }

    /// The identities the peer may authenticate with (one or two).
    pub fn pins(&self) -> impl Iterator<Item = Fingerprint> + '_ {
        core::iter::once(self.fingerprint).chain(self.second_pin)
    }

    /// Whether the peer may authenticate with `fp`.
    pub fn pins_key(&self, fp: &Fingerprint) -> bool {
        self.pins().any(|p| p == *fp)
    }
}

/// Why a peer configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerError {
    /// Another peer has this name.
    DuplicateName,
    /// Another peer has this endpoint.
    DuplicateEndpoint,
    /// Another peer already owns this exact prefix.
    PrefixTaken(Ipv4Prefix),
    /// The prefix overlaps our own lan prefixes (on-link or routed).
    OverlapsLan(Ipv4Prefix),
    /// Too many peers.
    TooMany,
    /// No such peer.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_beats_global() {
        let mut p = PeerConfig {
            name: "b".into(),
            endpoint: Some("192.0.2.2:4433".parse().unwrap()),
            fingerprint: Fingerprint([0xab; 32]),
            second_pin: None,
            prefixes: alloc::vec!["10.2.0.0/24".parse().unwrap()],
            enforcement: None,
            transit: false,
        };
        assert_eq!(
            p.effective_enforcement(Enforcement::DropUnencrypted),
            Enforcement::DropUnencrypted
        );
        p.enforcement = Some(Enforcement::AllowUnencrypted);
        assert_eq!(
            p.effective_enforcement(Enforcement::DropUnencrypted),
            Enforcement::AllowUnencrypted
        );
    }
}
