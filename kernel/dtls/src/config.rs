//! Connection configuration.

use crate::crypto::{AeadBackend, CipherSuite};
use crate::identity::{Fingerprint, Identity};
use crate::record::RecordLimits;
use crate::time::Duration;
use alloc::vec;
use alloc::vec::Vec;

/// Which peer keys are accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerPolicy {
    /// Only keys whose fingerprint is listed.
    Pinned(Vec<Fingerprint>),
    /// Any P-256 key (the fingerprint is still reported in
    /// [`crate::Event::Connected`]). For tests and first contact only.
    AnyKey,
}

impl PeerPolicy {
    /// Whether `fp` is acceptable.
    pub fn accepts(&self, fp: &Fingerprint) -> bool {
        match self {
            PeerPolicy::Pinned(list) => list.iter().any(|p| p == fp),
            PeerPolicy::AnyKey => true,
        }
    }
}

/// Whether a server asks the client for a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// No CertificateRequest.
    None,
    /// CertificateRequest; an empty client Certificate is accepted.
    Request,
    /// CertificateRequest; the client must present a pinned key.
    Require,
}

/// Settings shared by the connections of one gateway.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our key and certificate.
    pub identity: Identity,
    /// Peers we accept.
    pub peers: PeerPolicy,
    /// Cipher suites in order of preference.
    pub suites: Vec<CipherSuite>,
    /// Largest datagram we send during the handshake (UDP payload bytes).
    pub mtu: usize,
    /// Refuse peers that do not negotiate the extended master secret (RFC 7627).
    pub require_extended_master_secret: bool,
    /// Server only: whether to send a CertificateRequest.
    pub client_auth: ClientAuth,
    /// Client only: whether to answer a CertificateRequest with our certificate (when
    /// false, or when the request allows no ECDSA/SHA-256, an empty Certificate is sent).
    pub send_client_certificate: bool,
    /// The AES-GCM implementation.
    pub aead_backend: AeadBackend,
    /// Record-count limits per key.
    pub limits: RecordLimits,
    /// First retransmission timeout (RFC 6347 §4.2.4.1: 1 s).
    pub initial_rto: Duration,
    /// Cap of the doubling retransmission timeout.
    pub max_rto: Duration,
    /// Retransmissions of one flight before the handshake fails.
    pub max_retransmits: u32,
    /// The handshake's own time: it fails when it has not completed this long after it
    /// started (a server connection: after its first datagram), whatever arrives in
    /// between. Unauthenticated input never ends a handshake earlier.
    pub handshake_timeout: Duration,
}

/// How long the retransmission schedule takes to give up on one flight: the first timeout
/// and `max_retransmits` more, each doubled up to `max_rto`.
pub fn retransmission_span(
    initial_rto: Duration,
    max_rto: Duration,
    max_retransmits: u32,
) -> Duration {
    let mut rto = initial_rto;
    let mut total = initial_rto;
    for _ in 0..max_retransmits {
        rto = doubled_capped(rto, max_rto);
        total = total.saturating_add(rto);
    }
    total
}

/// Twice `rto`, capped at `cap` (the retransmission back-off).
pub(crate) fn doubled_capped(rto: Duration, cap: Duration) -> Duration {
    rto.saturating_mul(2).min(cap)
}

impl Config {
    /// Defaults: both suites (AES-128 first), MTU 1200, EMS required, 1 s initial timer
    /// doubling up to 60 s, 7 retransmissions, CertificateRequest required, and a
    /// handshake timeout as long as that schedule (183 s).
    pub fn new(identity: Identity, peers: PeerPolicy) -> Self {
        Config {
            identity,
            peers,
            suites: vec![
                CipherSuite::EcdheEcdsaAes128GcmSha256,
                CipherSuite::EcdheEcdsaAes256GcmSha384,
            ],
            mtu: 1200,
            require_extended_master_secret: true,
            client_auth: ClientAuth::Require,
            send_client_certificate: true,
            aead_backend: AeadBackend::default(),
            limits: RecordLimits::default(),
            initial_rto: Duration::from_secs(1),
            max_rto: Duration::from_secs(60),
            max_retransmits: 7,
            handshake_timeout: retransmission_span(
                Duration::from_secs(1),
                Duration::from_secs(60),
                7,
            ),
        }
    }
}
