//! Anti-spoof: an inner packet opened from a peer's session must come from that peer's
//! prefixes, and must be for one of ours.

use core::net::Ipv4Addr;

use crate::counters::DropReason;
use crate::lpm::PrefixTable;
use crate::peer::PeerId;

/// Checks an opened packet's addresses. `owners` maps prefixes to the peers that own
/// them (longest match decides, so a more specific prefix of another peer wins);
/// `lan` holds our own protected prefixes.
pub fn check_inner(
    from: PeerId,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    owners: &PrefixTable<PeerId>,
    lan: &PrefixTable<()>,
) -> Result<(), DropReason> {
    match owners.lookup(src) {
        Some(owner) if *owner == from => {}
        _ => return Err(DropReason::Spoofed),
    }
    if !lan.contains(dst) {
        return Err(DropReason::NoRoute);
    }
    Ok(())
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
            Ok(())
        );
        assert_eq!(
            check_inner(PeerId(2), a("10.2.9.7"), us, &owners, &lan),
            Ok(())
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
    }
}
