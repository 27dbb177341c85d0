//! Enforcement: what happens to a packet that could or could not be encrypted, exactly as
//! PRODUCT.md "Data path" says. Pure functions over small facts, so every rule is a row
//! in a table test.

use crate::counters::DropReason;
use crate::flowlog::Encryption;
use crate::status::PeerState;
use crate::Enforcement;

/// The state of the session with the peer that owns a destination (the console's
/// coarse view; the data path decides on [`PeerFacts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// No session and no attempt yet.
    Absent,
    /// A handshake is running or will be retried.
    Handshaking,
    /// Keys are agreed: records can be sealed.
    Established,
    /// The peer is down.
    Failed,
}

/// What the data path knows about the peer that owns a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerFacts {
    /// The peer's effective enforcement.
    pub enforcement: Enforcement,
    pub state: PeerState,
    /// The peer has failed every handshake for `fallback_after`.
    pub fallback_due: bool,
}

/// What to do with a lan→wan packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// Seal to the peer now.
    Seal,
    /// Queue for the peer's session; start a handshake if `start` is set.
    Wait { start: bool },
    /// Forward in the clear on wan, logged with this encryption value.
    Clear(Encryption),
    /// Drop, counted by reason, logged with this encryption value.
    Drop(DropReason, Encryption),
}

/// Decides a lan→wan packet. `peer` describes the peer whose prefixes contain the
/// destination, if any. A packet is sealed only to a peer that is up; it goes clear
/// toward a peer only under AllowUnencrypted and once the fallback is due.
pub fn outbound(peer: Option<PeerFacts>, dst_private: bool, global: Enforcement) -> Outbound {
    use Enforcement::*;
    let Some(p) = peer else {
        return if dst_private && global == DropUnencrypted {
            Outbound::Drop(DropReason::NoPeerForPrivate, Encryption::NotAccepted)
        } else {
            Outbound::Clear(Encryption::NotEncrypted)
        };
    };
    let refused = |reason| Outbound::Drop(reason, Encryption::NotAccepted);
    match (p.state, p.enforcement, p.fallback_due) {
        (PeerState::Up, _, _) => Outbound::Seal,
        (PeerState::Idle, _, _) => Outbound::Wait { start: true },
        (PeerState::Connecting | PeerState::Down, AllowUnencrypted, true) => {
            Outbound::Clear(Encryption::Fallback)
        }
        (PeerState::Connecting | PeerState::Down, DropUnencrypted, true) => {
            refused(DropReason::HandshakeFailed)
        }
        (PeerState::Connecting, _, false) => Outbound::Wait { start: false },
        (PeerState::Down, AllowUnencrypted, false) => refused(DropReason::AwaitingFallback),
        (PeerState::Down, DropUnencrypted, false) => refused(DropReason::PeerDown),
    }
}

/// What a hub does with a packet opened from one peer for another peer's prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relay {
    /// Re-seal it to the other peer now.
    Seal,
    /// Transit is off for the sender or the other peer: dropped (`transit-refused`).
    Refuse,
    /// The other peer's tunnel is not up: dropped (`transit-no-tunnel`), never queued
    /// (queued packets may fall back to clear) and never sent clear; a handshake is
    /// started if `start`.
    NoTunnel { start: bool },
}

/// Decides a relay: both peers must have transit on, and the next leg must be up.
/// Enforcement plays no part: a relayed packet crosses the fabric sealed or not at all.
pub fn relay(from_transit: bool, to_transit: bool, to_state: PeerState) -> Relay {
    if !(from_transit && to_transit) {
        return Relay::Refuse;
    }
    match to_state {
        PeerState::Up => Relay::Seal,
        PeerState::Idle => Relay::NoTunnel { start: true },
        PeerState::Connecting | PeerState::Down => Relay::NoTunnel { start: false },
    }
}

/// What to do with packets that waited for a handshake attempt that then failed.
pub fn after_failed_attempt(enforcement: Enforcement, fallback_due: bool) -> Outbound {
    match (enforcement, fallback_due) {
        (Enforcement::AllowUnencrypted, true) => Outbound::Clear(Encryption::Fallback),
        (Enforcement::AllowUnencrypted, false) => {
            Outbound::Drop(DropReason::AwaitingFallback, Encryption::NotAccepted)
        }
        (Enforcement::DropUnencrypted, _) => {
            Outbound::Drop(DropReason::HandshakeFailed, Encryption::NotAccepted)
        }
    }
}

/// What to do with a plaintext IPv4 packet arriving on wan for a lan destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InboundClear {
    /// Forward to lan, logged `NX`.
    Forward,
    /// Drop, counted, logged `NX_NOT_ACCEPTED`.
    Drop(DropReason),
}

/// Decides a plaintext packet from wan. Private-to-private traffic is what must be
/// encrypted: if the source is private, the sending peer's enforcement applies (or the
/// global one when no peer owns the source). Replies from non-private sources (the `NX`
/// flows lan workloads open to the internet) are not ours to encrypt and pass.
/// `dst_on_lan` is false when the destination is not a lan prefix of ours.
/// `src_peer_tunnel` is true when the peer owning the source is up: then only its
/// tunnel speaks for the source, whatever the enforcement.
pub fn inbound_clear(
    src_private: bool,
    src_peer_enforcement: Option<Enforcement>,
    src_peer_tunnel: bool,
    dst_on_lan: bool,
    global: Enforcement,
) -> InboundClear {
    if !dst_on_lan {
        return InboundClear::Drop(DropReason::NoRoute);
    }
    if src_peer_tunnel && src_peer_enforcement.is_some() {
        return InboundClear::Drop(DropReason::ClearFromTunnelPeer);
    }
    let effective = src_peer_enforcement.unwrap_or(global);
    let must_encrypt = src_private || src_peer_enforcement.is_some();
    if must_encrypt && effective == Enforcement::DropUnencrypted {
        InboundClear::Drop(DropReason::PlaintextForProtected)
    } else {
        InboundClear::Forward
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Enforcement::*;
    use PeerState::*;

    fn facts(enforcement: Enforcement, state: PeerState, fallback_due: bool) -> PeerFacts {
        PeerFacts {
            enforcement,
            state,
            fallback_due,
        }
    }

    #[test]
    fn relay_table() {
        for state in [Idle, Connecting, Up, Down] {
            for (a, b) in [(false, false), (true, false), (false, true)] {
                assert_eq!(relay(a, b, state), Relay::Refuse, "{a} {b} {state:?}");
            }
        }
        assert_eq!(relay(true, true, Up), Relay::Seal);
        assert_eq!(relay(true, true, Idle), Relay::NoTunnel { start: true });
        assert_eq!(
            relay(true, true, Connecting),
            Relay::NoTunnel { start: false }
        );
        assert_eq!(relay(true, true, Down), Relay::NoTunnel { start: false });
    }

    #[test]
    fn outbound_table() {
        let not_accepted = |r| Outbound::Drop(r, Encryption::NotAccepted);
        for g in [AllowUnencrypted, DropUnencrypted] {
            for e in [AllowUnencrypted, DropUnencrypted] {
                for due in [false, true] {
                    let f = |s| outbound(Some(facts(e, s, due)), true, g);
                    assert_eq!(f(Up), Outbound::Seal);
                    assert_eq!(f(Idle), Outbound::Wait { start: true });
                }
                // Before the fallback is due nothing goes clear, whatever the mode.
                let f = |s| outbound(Some(facts(e, s, false)), true, g);
                assert_eq!(f(Connecting), Outbound::Wait { start: false });
                assert!(!matches!(f(Down), Outbound::Clear(_)));
            }
            // The peer's effective enforcement decides, not the global one.
            let f = |e, s, due| outbound(Some(facts(e, s, due)), true, g);
            assert_eq!(
                f(AllowUnencrypted, Connecting, true),
                Outbound::Clear(Encryption::Fallback)
            );
            assert_eq!(
                f(AllowUnencrypted, Down, true),
                Outbound::Clear(Encryption::Fallback)
            );
            assert_eq!(
                f(AllowUnencrypted, Down, false),
                not_accepted(DropReason::AwaitingFallback)
            );
            assert_eq!(
                f(DropUnencrypted, Down, false),
                not_accepted(DropReason::PeerDown)
            );
            assert_eq!(
                f(DropUnencrypted, Connecting, true),
                not_accepted(DropReason::HandshakeFailed)
            );
            assert_eq!(
                f(DropUnencrypted, Down, true),
                not_accepted(DropReason::HandshakeFailed)
            );
            // Non-private destinations with no peer are not ours to encrypt.
            assert_eq!(
                outbound(None, false, g),
                Outbound::Clear(Encryption::NotEncrypted)
            );
        }
        assert_eq!(
            outbound(None, true, AllowUnencrypted),
            Outbound::Clear(Encryption::NotEncrypted)
        );
        assert_eq!(
            outbound(None, true, DropUnencrypted),
            not_accepted(DropReason::NoPeerForPrivate)
        );
        assert_eq!(
            after_failed_attempt(AllowUnencrypted, false),
            not_accepted(DropReason::AwaitingFallback)
        );
        assert_eq!(
            after_failed_attempt(AllowUnencrypted, true),
            Outbound::Clear(Encryption::Fallback)
        );
        assert_eq!(
            after_failed_attempt(DropUnencrypted, true),
            not_accepted(DropReason::HandshakeFailed)
        );
    }

    #[test]
    fn inbound_clear_table() {
        let drop = InboundClear::Drop(DropReason::PlaintextForProtected);
        let tunnel = InboundClear::Drop(DropReason::ClearFromTunnelPeer);
        assert_eq!(
            inbound_clear(true, None, false, true, DropUnencrypted),
            drop
        );
        assert_eq!(
            inbound_clear(true, None, false, true, AllowUnencrypted),
            InboundClear::Forward
        );
        assert_eq!(
            inbound_clear(true, Some(DropUnencrypted), false, true, AllowUnencrypted),
            drop
        );
        assert_eq!(
            inbound_clear(true, Some(AllowUnencrypted), false, true, DropUnencrypted),
            InboundClear::Forward
        );
        // While the peer's tunnel is up, its prefixes speak only through it.
        for e in [AllowUnencrypted, DropUnencrypted] {
            for src_private in [false, true] {
                assert_eq!(
                    inbound_clear(src_private, Some(e), true, true, AllowUnencrypted),
                    tunnel
                );
            }
        }
        // A peer's prefixes may be outside the private set; its enforcement still applies.
        assert_eq!(
            inbound_clear(false, Some(DropUnencrypted), false, true, AllowUnencrypted),
            drop
        );
        assert_eq!(
            inbound_clear(false, None, false, true, DropUnencrypted),
            InboundClear::Forward
        );
        assert_eq!(
            inbound_clear(true, None, false, false, AllowUnencrypted),
            InboundClear::Drop(DropReason::NoRoute)
        );
    }
}
