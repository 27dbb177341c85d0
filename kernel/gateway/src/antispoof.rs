//! Anti-spoof: an inner packet opened from a peer's session must come from that peer's
//! prefixes, and must be for one of ours (on-link or routed), or, on a hub, for another
//! peer's prefixes (transit, which the engine then allows or refuses).

use core::net::Ipv4Addr;

use crate::counters::DropReason;
use crate::lpm::PrefixTable;
use crate::peer::PeerId;

/// Where an opened packet that passed the source check is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InnerDestination {
    /// Our protected set: delivered on lan.
    Lan,
    /// Another peer's prefixes: a candidate for transit.
    Peer(PeerId),
}

/// Checks an opened packet's addresses. `owners` maps prefixes to the peers that own
/// them (longest match decides, so a more specific prefix of another peer wins);
/// `lan` holds our own protected prefixes. A destination in the sender's own prefixes
/// is never reflected back (`NoRoute`).
pub fn check_inner<V>(
    from: PeerId,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    owners: &PrefixTable<PeerId>,
    lan: &PrefixTable<V>,
) -> Result<InnerDestination, DropReason> {
    match owners.lookup(src) {
        Some(owner) if *owner == from => {}
        _ => return Err(DropReason::Spoofed),
    }
    if lan.contains(dst) {
        return Ok(InnerDestination::Lan);
    }
    match owners.lookup(dst) {
        Some(to) if *to != from => Ok(InnerDestination::Peer(*to)),
        _ => Err(DropReason::NoRoute),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_must_be_senders_longest_match() {
        let mut owners = PrefixTable::new();
        owners.insert("10.2.0.0/16".parse().unwrap(), PeerId(1));
        owners.insert("10.2.9.0/24".parse().unwrap(), PeerId(2));
        let mut lan = PrefixTable::new();
        lan.insert("10.1.0.0/24".parse().unwrap(), ());
        let a = |s: &str| -> Ipv4Addr { s.parse().unwrap() };
        let us = a("10.1.0.5");
        assert_eq!(
            check_inner(PeerId(1), a("10.2.0.7"), us, &owners, &lan),
            Ok(InnerDestination::Lan)
        );
        assert_eq!(
            check_inner(PeerId(2), a("10.2.9.7"), us, &owners, &lan),
            Ok(InnerDestination::Lan)
        );
        // Peer 1 claiming an address that peer 2 owns more specifically.
        assert_eq!(
            check_inner(PeerId(1), a("10.2.9.7"), us, &owners, &lan),
            Err(DropReason::Spoofed)
        );
        // Nobody's address, or one of ours.
        assert_eq!(
            check_inner(PeerId(1), a("10.3.0.1"), us, &owners, &lan),
            Err(DropReason::Spoofed)
        );
        assert_eq!(
            check_inner(PeerId(1), us, us, &owners, &lan),
            Err(DropReason::Spoofed)
        );
        // Valid source, but not for our lan.
        assert_eq!(
            check_inner(PeerId(1), a("10.2.0.7"), a("10.9.0.1"), &owners, &lan),
            Err(DropReason::NoRoute)
        );
        // For another peer's prefixes: a transit candidate; for the sender's own: not
        // reflected.
        assert_eq!(
            check_inner(PeerId(1), a("10.2.0.7"), a("10.2.9.1"), &owners, &lan),
            Ok(InnerDestination::Peer(PeerId(2)))
        );
        assert_eq!(
            check_inner(PeerId(1), a("10.2.0.7"), a("10.2.0.8"), &owners, &lan),
            Err(DropReason::NoRoute)
        );
    }
}
