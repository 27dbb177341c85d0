//! Errors, each naming the token that caused it.

use core::fmt;

/// A line that is not a valid configuration statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementError<'a> {
    /// The line does not start with a known statement keyword.
    Unknown(&'a str),
    /// The statement ended early; `expected` says what should have followed `after`.
    Missing {
        after: &'a str,
        expected: &'static str,
    },
    /// A token is not an allowed value.
    Invalid {
        token: &'a str,
        expected: &'static str,
    },
    /// A token after a complete statement.
    Unexpected(&'a str),
    /// The same keyword twice in one statement.
    Repeated(&'a str),
}

impl fmt::Display for StatementError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(t) => write!(f, "unknown command '{}' (try 'help')", Cut(t)),
            Self::Missing { after, expected } => {
                write!(f, "missing {expected} after '{}'", Cut(after))
            }
            Self::Invalid { token, expected } => {
                write!(f, "invalid value '{}': expected {expected}", Cut(token))
            }
            Self::Unexpected(t) => write!(f, "unexpected argument '{}'", Cut(t)),
            Self::Repeated(t) => write!(f, "'{}' given twice", Cut(t)),
        }
    }
}

/// A statement that parsed but cannot be applied to the running configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    NoSuchPeer(alloc::string::String),
    PeerExists(alloc::string::String),
    TooManyPeers,
    TooManyPrefixes,
    /// A prefix is already protected by another peer.
    PrefixOverlap {
        prefix: crate::Ipv4Prefix,
        peer: alloc::string::String,
    },
    /// Two peers cannot share a wan endpoint.
    EndpointInUse {
        peer: alloc::string::String,
    },
    /// A fingerprint that is already pinned for another peer.
    FingerprintInUse {
        peer: alloc::string::String,
    },
    /// `dead-peer after` must be longer than `keepalive interval`.
    DeadPeerNotAfterKeepalive {
        keepalive_s: u32,
        dead_after_s: u32,
    },
    /// A collector neither on the lan subnet nor in a peer's prefixes: its flow
    /// records could only cross wan in the clear.
    CollectorUnprotected(core::net::Ipv4Addr),
    /// The change would leave the configured collector with no protected path.
    CollectorWouldBeUnprotected(core::net::Ipv4Addr),
    /// A syslog server neither on the lan subnet nor in a peer's prefixes.
    SyslogUnprotected(core::net::Ipv4Addr),
    /// The change would leave the configured syslog server with no protected path.
    SyslogWouldBeUnprotected(core::net::Ipv4Addr),
    /// `route add` for a prefix that has a route already.
    RouteExists(crate::Ipv4Prefix),
    /// `route remove` for a prefix without a route.
    NoSuchRoute(crate::Ipv4Prefix),
    /// Routes need the lan address (their next hops must be on-link).
    RouteWithoutLanAddress,
    /// The statement would leave a route invalid (or the route itself is).
    Route(crate::RouteError),
    /// An SNTP server off the lan subnet: its unauthenticated replies could come
    /// from anyone on the fabric.
    NtpNotOnLan(core::net::Ipv4Addr),
    /// The change would move the configured SNTP server off the lan subnet.
    NtpWouldLeaveLan(core::net::Ipv4Addr),
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchPeer(n) => write!(f, "no peer named '{n}'"),
            Self::PeerExists(n) => write!(f, "peer '{n}' exists already (remove it first)"),
            Self::TooManyPeers => write!(f, "too many peers (limit {})", crate::MAX_PEERS),
            Self::TooManyPrefixes => f.write_str("too many prefixes"),
            Self::PrefixOverlap { prefix, peer } => {
                write!(f, "prefix '{prefix}' overlaps a prefix of peer '{peer}'")
            }
            Self::EndpointInUse { peer } => write!(f, "endpoint is used by peer '{peer}'"),
            Self::FingerprintInUse { peer } => {
                write!(f, "fingerprint is pinned for peer '{peer}'")
            }
            Self::DeadPeerNotAfterKeepalive {
                keepalive_s,
                dead_after_s,
            } => write!(
                f,
                "dead-peer after ({dead_after_s} s) must be longer than the keepalive \
                 interval ({keepalive_s} s), or idle peers that are alive would be declared down"
            ),
            Self::CollectorUnprotected(ip) => write!(
                f,
                "collector {ip} is neither on the lan subnet nor in a peer's prefixes: \
                 flow records would cross wan in the clear (set the lan address or add the \
                 peer first)"
            ),
            Self::RouteExists(p) => write!(f, "a route for {p} exists already (remove it first)"),
            Self::NoSuchRoute(p) => write!(f, "no route for {p}"),
            Self::RouteWithoutLanAddress => f.write_str(
                "routes need the lan address (their next hops must be on the lan subnet): \
                 set it first, or remove the routes",
            ),
            Self::Route(e) => e.fmt(f),
            Self::CollectorWouldBeUnprotected(ip) => write!(
                f,
                "the flow-log collector {ip} would be neither on the lan subnet nor behind a \
                 peer: move it ('collector ...') or turn it off ('collector off') first"
            ),
            Self::SyslogUnprotected(ip) => write!(
                f,
                "syslog server {ip} is neither on the lan subnet nor in a peer's prefixes: \
                 events would cross wan in the clear (set the lan address or add the peer first)"
            ),
            Self::SyslogWouldBeUnprotected(ip) => write!(
                f,
                "the syslog server {ip} would be neither on the lan subnet nor behind a peer: \
                 move it ('syslog ...') or turn it off ('syslog off') first"
            ),
            Self::NtpNotOnLan(ip) => write!(
                f,
                "ntp server {ip} is not on the lan subnet: SNTP is unauthenticated, so time \
                 is only taken from lan (set the lan address first)"
            ),
            Self::NtpWouldLeaveLan(ip) => write!(
                f,
                "the ntp server {ip} would no longer be on the lan subnet: change it ('ntp ...') \
                 or turn it off ('ntp off') first"
            ),
        }
    }
}

/// Shows at most 40 characters of an operator's token.
pub(crate) struct Cut<'a>(pub &'a str);

impl fmt::Display for Cut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(40) {
            Some((i, _)) => write!(f, "{}...", &self.0[..i]),
            None => f.write_str(self.0),
        }
    }
}
