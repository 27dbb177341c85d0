//! vnetcrypt's gateway data plane, sans-IO and `no_std`.
//!
//! The engine connects the protected `lan` (Ethernet frames) and the fabric `wan` (DTLS
//! records over UDP, and plaintext IPv4 where policy allows) exactly as PRODUCT.md's
//! "Data path" says. It never reads a clock or touches a device: the caller passes
//! `now` and buffers, and drains what the engine wants sent. Untrusted input never
//! panics: every malformed or refused packet is counted under a [`DropReason`].
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod admission;
pub mod antispoof;
pub mod arp;
pub mod counters;
#[cfg(feature = "dtls")]
pub mod dtls;
pub mod engine;
pub mod flow;
pub mod flowlog;
pub mod frag;
pub mod hash;
pub mod icmp;
pub mod ipv4;
pub mod lpm;
pub mod mss;
pub mod outer;
pub mod peer;
pub mod policy;
pub mod private;
pub mod queue;
pub mod render;
pub mod route;
pub mod session;
pub mod status;
pub mod wanlink;

pub use counters::{Counters, DropReason, InterfaceCounters, PeerCounters};
pub use engine::{
    Destination, FrameVerdict, Gateway, GatewayConfig, Transmit, Verdict, WanNeighbours,
};
pub use flow::{FlowEvent, FlowKey, FlowTable};
pub use flowlog::{Direction, Encryption, FlowState, FlowTuple, RecordMeta};
pub use lpm::PrefixTable;
pub use peer::{PeerConfig, PeerError, PeerId};
pub use policy::SessionState;
pub use private::PrivateSet;
pub use route::{LanHop, RouteError};
pub use session::{Accepted, Received, Rekey, Session, SessionError, SessionLayer};
pub use status::{FailureReason, PeerState, PeerStatus};
pub use wanlink::WanLink;
// The domain types the engine speaks in, defined once in `vnetcrypt-types`.
pub use vnetcrypt_types::{
    Enforcement, Fingerprint, Instant, Ipv4Prefix, LanRoute, PrefixError, MAX_PEERS, MAX_ROUTES,
};
