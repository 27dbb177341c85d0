//! Pieces both sides of the handshake use: ECDHE, ECDSA, certificate pinning, key
//! derivation and Finished computation.

use super::msgs::{CertificateMsg, Signed, SIG_ECDSA_SHA256};
use crate::config::{Config, PeerPolicy};
use crate::crypto::keys::{KeyBlock, MasterSecret};
use crate::crypto::{AeadKey, CipherSuite};
use crate::error::Error;
use crate::identity::{peer_key_from_certificate, Fingerprint, PeerKey};
use crate::record::{OpeningKey, SealingKey};
use alloc::vec::Vec;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use subtle::ConstantTimeEq;

/// Length of an uncompressed P-256 point.
pub const POINT_LEN: usize = 65;

/// A fresh ephemeral ECDHE key and its public point. A `SecretKey` (wiped on drop, like
/// `EphemeralSecret`) rather than an `EphemeralSecret` because a handshake state holding it
/// is cloned while a flight is on trial.
pub fn ephemeral(rng: &mut rand_chacha::ChaCha20Rng) -> (p256::SecretKey, Vec<u8>) {
    let secret = p256::SecretKey::random(rng);
    let point = p256::EncodedPoint::from(secret.public_key());
    (secret, point.as_bytes().to_vec())
}

/// The peer's ECDHE point, which must be an uncompressed point on P-256.
pub fn peer_point(bytes: &[u8]) -> Result<p256::PublicKey, Error> {
    if bytes.len() != POINT_LEN || bytes[0] != 4 {
        return Err(Error::IllegalParameter);
    }
    p256::PublicKey::from_sec1_bytes(bytes).map_err(|_| Error::IllegalParameter)
}

/// The ECDHE shared secret (the pre-master secret).
pub fn shared_secret(
    secret: &p256::SecretKey,
    peer: &p256::PublicKey,
) -> zeroize::Zeroizing<[u8; 32]> {
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    out.copy_from_slice(shared.raw_secret_bytes());
    out
}

/// Signs `data` with ECDSA P-256 / SHA-256.
pub fn sign(key: &SigningKey, data: &[u8]) -> Signed {
    let sig: Signature = key.sign(data);
    Signed {
        algorithm: SIG_ECDSA_SHA256,
        signature: sig.to_der().as_bytes().to_vec(),
    }
}

/// Verifies an ECDSA P-256 / SHA-256 signature.
pub fn verify(key: &VerifyingKey, data: &[u8], signed: &Signed) -> Result<(), Error> {
    if signed.algorithm != SIG_ECDSA_SHA256 {
        return Err(Error::BadSignature);
    }
    let sig = Signature::from_der(&signed.signature).map_err(|_| Error::BadSignature)?;
    key.verify(data, &sig).map_err(|_| Error::BadSignature)
}

/// Takes the peer's key from its Certificate message and checks it against the policy.
pub fn check_peer(policy: &PeerPolicy, cert: &CertificateMsg) -> Result<PeerKey, Error> {
    let leaf = cert.chain.first().ok_or(Error::CertificateRequired)?;
    let peer = peer_key_from_certificate(leaf).map_err(|_| Error::BadCertificate)?;
    if !policy.accepts(&peer.fingerprint) {
        return Err(Error::PeerKeyMismatch);
    }
    Ok(peer)
}

/// Our Certificate message.
pub fn our_certificate(config: &Config) -> CertificateMsg {
    CertificateMsg {
        chain: alloc::vec![config.identity.certificate_der().to_vec()],
    }
}

/// Derives the master secret.
pub fn master_secret(
    suite: CipherSuite,
    ems: bool,
    pre_master: &[u8],
    transcript: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> MasterSecret {
    let hash = suite.hash();
    if ems {
        MasterSecret::extended(hash, pre_master, hash.digest(transcript).as_ref())
    } else {
        MasterSecret::classic(hash, pre_master, client_random, server_random)
    }
}

/// Epoch-1 record keys for one side.
#[derive(Debug)]
pub struct EpochKeys {
    pub write: SealingKey,
    pub read: OpeningKey,
}

/// Builds epoch-1 keys from the master secret.
pub fn epoch_keys(
    config: &Config,
    suite: CipherSuite,
    ms: &MasterSecret,
    client_random: &[u8; 32],
    server_random: &[u8; 32],
    is_client: bool,
) -> Result<EpochKeys, Error> {
    let kb: KeyBlock = ms.key_block(suite, client_random, server_random);
    let b = config.aead_backend;
    let client = AeadKey::new(b, kb.client_key()).map_err(|_| Error::Internal)?;
    let server = AeadKey::new(b, kb.server_key()).map_err(|_| Error::Internal)?;
    let (w, wiv, r, riv) = if is_client {
        (client, kb.client_iv, server, kb.server_iv)
    } else {
        (server, kb.server_iv, client, kb.client_iv)
    };
    Ok(EpochKeys {
        write: SealingKey::new(w, wiv, 1, config.limits),
        read: OpeningKey::new(r, riv, 1, config.limits),
    })
}

/// verify_data for `label` over the transcript so far.
pub fn finished(
    suite: CipherSuite,
    ms: &MasterSecret,
    label: &[u8],
    transcript: &[u8],
) -> [u8; 12] {
    let hash = suite.hash();
    ms.verify_data(hash, label, hash.digest(transcript).as_ref())
}

/// Compares a received Finished in constant time.
pub fn check_finished(expected: &[u8; 12], got: &[u8]) -> Result<(), Error> {
    if got.len() == 12 && bool::from(expected.ct_eq(got)) {
        Ok(())
    } else {
        Err(Error::BadFinished)
    }
}

/// What the handshake learned about the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub suite: CipherSuite,
    pub peer: Option<Fingerprint>,
    pub extended_master_secret: bool,
}
