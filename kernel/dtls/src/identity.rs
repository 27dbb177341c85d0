//! Identities: the gateway's P-256 key with a self-signed X.509 certificate, and peer
//! pinning by public-key fingerprint.
//!
//! **Fingerprint** (what is pinned): the SHA-256 digest of the DER encoding of the
//! certificate's `SubjectPublicKeyInfo` — the same value as HPKP's `pin-sha256`
//! (RFC 7469 §2.4) and as
//! `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`.
//! It is shown as 32 lowercase hex byte pairs separated by colons.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use der::asn1::{BitString, ObjectIdentifier, OctetString};
use der::{Decode, DecodePem, Encode};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
pub use vnetcrypt_types::Fingerprint;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

/// ecdsa-with-SHA256.
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

fn extension<E: der::Encode + der::oid::AssociatedOid>(
    ext: &E,
    critical: bool,
) -> Result<Extension, IdentityError> {
    Ok(Extension {
        extn_id: E::OID,
        critical,
        extn_value: OctetString::new(ext.to_der().map_err(|_| IdentityError::Build)?)
            .map_err(|_| IdentityError::Build)?,
    })
}

/// The fingerprint of a DER `SubjectPublicKeyInfo`.
pub fn fingerprint_of_spki_der(spki_der: &[u8]) -> Fingerprint {
    Fingerprint(Sha256::digest(spki_der).into())
}

/// The fingerprint of a DER certificate's public key.
pub fn fingerprint_of_certificate_der(cert_der: &[u8]) -> Result<Fingerprint, IdentityError> {
    let cert = Certificate::from_der(cert_der).map_err(|_| IdentityError::BadCertificate)?;
    fingerprint_of_certificate(&cert)
}

/// The fingerprint of a PEM certificate's public key.
pub fn fingerprint_of_certificate_pem(pem: &str) -> Result<Fingerprint, IdentityError> {
    let cert = Certificate::from_pem(pem.as_bytes()).map_err(|_| IdentityError::BadCertificate)?;
    fingerprint_of_certificate(&cert)
}

fn fingerprint_of_certificate(cert: &Certificate) -> Result<Fingerprint, IdentityError> {
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|_| IdentityError::BadCertificate)?;
    Ok(fingerprint_of_spki_der(&spki))
}

/// Why an identity or certificate was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityError {
    /// The certificate did not parse.
    BadCertificate,
    /// The certificate's key is not a P-256 ECDSA key.
    UnsupportedKey,
    /// Building or signing the certificate failed.
    Build,
}

/// The peer's key as taken from its certificate: its fingerprint and verifying key.
#[derive(Clone, Debug)]
pub struct PeerKey {
    /// SHA-256 of the SubjectPublicKeyInfo.
    pub fingerprint: Fingerprint,
    /// The P-256 key that signs for the peer.
    pub key: VerifyingKey,
}

/// Extracts the P-256 public key of a DER certificate. Does not check the certificate's own
/// signature or dates: trust comes from pinning the key.
pub fn peer_key_from_certificate(cert_der: &[u8]) -> Result<PeerKey, IdentityError> {
    let cert = Certificate::from_der(cert_der).map_err(|_| IdentityError::BadCertificate)?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    // id-ecPublicKey with the prime256v1 curve.
    const EC_PUBLIC_KEY: der::asn1::ObjectIdentifier =
        der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    const P256: der::asn1::ObjectIdentifier =
        der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    if spki.algorithm.oid != EC_PUBLIC_KEY {
        return Err(IdentityError::UnsupportedKey);
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok());
    if curve != Some(P256) {
        return Err(IdentityError::UnsupportedKey);
    }
    let point = spki
        .subject_public_key
        .as_bytes()
        .ok_or(IdentityError::UnsupportedKey)?;
    let key = VerifyingKey::from_sec1_bytes(point).map_err(|_| IdentityError::UnsupportedKey)?;
    let fingerprint = fingerprint_of_certificate(&cert)?;
    Ok(PeerKey { fingerprint, key })
}

/// Our identity: a P-256 signing key and a self-signed certificate over it.
/// The private key is never printed (the `Debug` output shows the fingerprint only).
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
    cert_der: Vec<u8>,
    fingerprint: Fingerprint,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Generates a key and a self-signed certificate with subject `CN=<common_name>`
    /// (valid from 2025-01-01 with no well-defined expiry, RFC 5280 §4.1.2.5).
    pub fn generate(
        rng: &mut impl CryptoRngCore,
        common_name: &str,
    ) -> Result<Self, IdentityError> {
        Self::from_signing_key(SigningKey::random(rng), common_name)
    }

    /// A self-signed certificate over an existing key.
    pub fn from_signing_key(key: SigningKey, common_name: &str) -> Result<Self, IdentityError> {
        use core::str::FromStr;
        let mut cn = String::from("CN=");
        // Characters with a meaning in RFC 4514 names are dropped rather than escaped.
        cn.extend(common_name.chars().filter(|c| !",+=\"\\<>;#".contains(*c)));
        let subject = Name::from_str(&cn).map_err(|_| IdentityError::Build)?;
        let spki_der = key
            .verifying_key()
            .to_public_key_der()
            .map_err(|_| IdentityError::Build)?;
        let spki = SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes())
            .map_err(|_| IdentityError::Build)?;
        let fingerprint = fingerprint_of_spki_der(spki_der.as_bytes());
        // A positive serial from the key fingerprint: unique per key, no RNG needed.
        let mut serial = [0u8; 16];
        serial.copy_from_slice(&fingerprint.0[..16]);
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        let validity = Validity {
            not_before: Time::GeneralTime(
                der::asn1::GeneralizedTime::from_unix_duration(core::time::Duration::from_secs(
                    1_735_689_600,
                ))
                .map_err(|_| IdentityError::Build)?,
            ),
            not_after: Time::GeneralTime(der::asn1::GeneralizedTime::from_date_time(
                der::DateTime::new(9999, 12, 31, 23, 59, 59).map_err(|_| IdentityError::Build)?,
            )),
        };
        // ecdsa-with-SHA256 (RFC 5758 §3.2): no parameters.
        let signature_alg = AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA256,
            parameters: None,
        };
        let extensions = alloc::vec![
            extension(
                &BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                },
                true
            )?,
            extension(&KeyUsage(KeyUsages::DigitalSignature.into()), true)?,
        ];
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(&serial).map_err(|_| IdentityError::Build)?,
            signature: signature_alg.clone(),
            issuer: subject.clone(),
            validity,
            subject,
            subject_public_key_info: spki,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(extensions),
        };
        let tbs_der = tbs.to_der().map_err(|_| IdentityError::Build)?;
        let signature: p256::ecdsa::Signature = key.sign(&tbs_der);
        let cert = Certificate {
            tbs_certificate: tbs,
            signature_algorithm: signature_alg,
            signature: BitString::from_bytes(signature.to_der().as_bytes())
                .map_err(|_| IdentityError::Build)?,
        };
        let cert_der = cert.to_der().map_err(|_| IdentityError::Build)?;
        Ok(Identity {
            key,
            cert_der,
            fingerprint,
        })
    }

    /// The DER certificate.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate in PEM form (public).
    pub fn certificate_pem(&self) -> String {
        use der::pem::LineEnding;
        der::pem::encode_string("CERTIFICATE", LineEnding::LF, &self.cert_der).unwrap_or_default()
    }

    /// The private key as PKCS#8 PEM, for handing to a test peer. Never log it.
    pub fn private_key_pkcs8_pem(&self) -> Option<zeroize::Zeroizing<String>> {
        use p256::pkcs8::EncodePrivateKey;
        self.key.to_pkcs8_pem(der::pem::LineEnding::LF).ok()
    }

    /// Our public-key fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn generated_certificate_parses_and_pins_its_key() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let id = Identity::generate(&mut rng, "gw-a").unwrap();
        let pk = peer_key_from_certificate(id.certificate_der()).unwrap();
        assert_eq!(pk.fingerprint, id.fingerprint());
        assert_eq!(&pk.key, id.signing_key().verifying_key());
        assert_eq!(
            fingerprint_of_certificate_pem(&id.certificate_pem()).unwrap(),
            id.fingerprint()
        );
        let other = Identity::generate(&mut rng, "gw-b").unwrap();
        assert_ne!(other.fingerprint(), id.fingerprint());
        let shown = alloc::format!("{}", id.fingerprint());
        assert_eq!(shown.len(), 64);
        assert_eq!(Fingerprint::parse(&shown), Some(id.fingerprint()));
        assert!(!alloc::format!("{id:?}").contains("key:"));
    }

    #[test]
    fn secrets_are_wiped_on_drop() {
        // Compile-time: every type that holds key material wipes itself when dropped.
        fn wiped<T: zeroize::ZeroizeOnDrop>() {}
        wiped::<SigningKey>(); // the identity key (inside `Identity`)
        wiped::<p256::SecretKey>(); // ECDHE keys
        wiped::<p256::ecdh::SharedSecret>();
        wiped::<crate::crypto::keys::MasterSecret>();
        wiped::<crate::crypto::keys::KeyBlock>();
        wiped::<crate::cookie::CookieKey>();
    }

    #[test]
    fn garbage_certificates_are_refused() {
        assert_eq!(
            peer_key_from_certificate(&[0x30, 0x03, 1, 2, 3]).unwrap_err(),
            IdentityError::BadCertificate
        );
        assert!(fingerprint_of_certificate_pem(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        )
        .is_err());
        assert_eq!(Fingerprint::parse("zz"), None);
    }
}
