//! Enforcement: what happens to a packet that could or could not be encrypted, exactly as
//! PRODUCT.md "Data path" says. Pure functions over small facts, so every rule is a row
//! in a table test.

use crate::counters::DropReason;
use crate::flowlog::Encryption;

/// Azure's names for the two enforcement modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforcement {
    /// Where encryption is not possible, traffic passes in the clear and is logged so.
    AllowUnencrypted,
    /// Protected traffic never crosses the fabric in the clear.
    DropUnencrypted,
}

/// The state of the session with the peer that owns a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// No session and no attempt yet (or a retry is due).
    Absent,
    /// A handshake is running.
    Handshaking,
    /// Keys are agreed: records can be sealed.
    Established,
    /// The last handshake failed (timeout or authentication) and no retry is due yet.
    Failed,
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

/// Decides a lan→wan packet. `peer` is the owning peer's effective enforcement and session
/// state, when a peer's prefixes contain the destination.
pub fn outbound(
    peer: Option<(Enforcement, SessionState)>,
    dst_private: bool,
    global: Enforcement,
) -> Outbound {
    match peer {
        Some((_, SessionState::Established)) => Outbound::Seal,
        Some((_, SessionState::Absent)) => Outbound::Wait { start: true },
        Some((_, SessionState::Handshaking)) => Outbound::Wait { start: false },
        Some((Enforcement::AllowUnencrypted, SessionState::Failed)) => {
            Outbound::Clear(Encryption::Fallback)
        }
        Some((Enforcement::DropUnencrypted, SessionState::Failed)) => {
            Outbound::Drop(DropReason::HandshakeFailed, Encryption::NotAccepted)
        }
        None if dst_private && global == Enforcement::DropUnencrypted => {
            Outbound::Drop(DropReason::NoPeerForPrivate, Encryption::NotAccepted)
        }
        None => Outbound::Clear(Encryption::NotEncrypted),
    }
}

/// What to do with packets that waited for a session whose handshake then failed.
pub fn after_failed_handshake(enforcement: Enforcement) -> Outbound {
    outbound(Some((enforcement, SessionState::Failed)), true, enforcement)
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
pub fn inbound_clear(
    src_private: bool,
    src_peer_enforcement: Option<Enforcement>,
    dst_on_lan: bool,
    global: Enforcement,
) -> InboundClear {
    if !dst_on_lan {
        return InboundClear::Drop(DropReason::NoRoute);
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
    use SessionState::*;

    #[test]
    fn outbound_table() {
        for g in [AllowUnencrypted, DropUnencrypted] {
            for e in [AllowUnencrypted, DropUnencrypted] {
                assert_eq!(outbound(Some((e, Established)), true, g), Outbound::Seal);
                assert_eq!(
                    outbound(Some((e, Absent)), true, g),
                    Outbound::Wait { start: true }
                );
                assert_eq!(
                    outbound(Some((e, Handshaking)), false, g),
                    Outbound::Wait { start: false }
                );
            }
            // The peer's effective enforcement decides, not the global one.
            assert_eq!(
                outbound(Some((AllowUnencrypted, Failed)), true, g),
                Outbound::Clear(Encryption::Fallback)
            );
            assert_eq!(
                outbound(Some((DropUnencrypted, Failed)), true, g),
                Outbound::Drop(DropReason::HandshakeFailed, Encryption::NotAccepted)
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
            Outbound::Drop(DropReason::NoPeerForPrivate, Encryption::NotAccepted)
        );
    }

    #[test]
    fn inbound_clear_table() {
        let drop = InboundClear::Drop(DropReason::PlaintextForProtected);
        assert_eq!(inbound_clear(true, None, true, DropUnencrypted), drop);
        assert_eq!(
            inbound_clear(true, None, true, AllowUnencrypted),
            InboundClear::Forward
        );
        assert_eq!(
            inbound_clear(true, Some(DropUnencrypted), true, AllowUnencrypted),
            drop
        );
        assert_eq!(
            inbound_clear(true, Some(AllowUnencrypted), true, DropUnencrypted),
            InboundClear::Forward
        );
        // A peer's prefixes may be outside the private set; its enforcement still applies.
        assert_eq!(
            inbound_clear(false, Some(DropUnencrypted), true, AllowUnencrypted),
            drop
        );
        assert_eq!(
            inbound_clear(false, None, true, DropUnencrypted),
            InboundClear::Forward
        );
        assert_eq!(
            inbound_clear(true, None, false, AllowUnencrypted),
            InboundClear::Drop(DropReason::NoRoute)
        );
    }
}
