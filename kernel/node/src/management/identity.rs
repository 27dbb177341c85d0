//! The appliance's identity: a P-256 key generated on the appliance from the kernel
//! CSPRNG. Only its public half and fingerprint are ever shown; the secret leaves this
//! module only towards the configuration disk and the DTLS engine.

use crate::platform::{Platform, RngUnavailable};
use core::fmt::{self, Write};
use p256::pkcs8::EncodePublicKey;
use p256::SecretKey;
use sha2::{Digest, Sha256};
use vnetcrypt_config::Fingerprint;
use zeroize::Zeroize;

pub struct IdentityKey {
    secret: [u8; 32],
    public_sec1: [u8; 65],
    fingerprint: Fingerprint,
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey({})", self.fingerprint)
    }
}

impl Drop for IdentityKey {
    fn drop(&mut self) {
        // The key does not outlive its owner in RAM the heap hands out again.
        self.secret.zeroize();
    }
}

impl IdentityKey {
    /// A new key from the CSPRNG; refused when the CSPRNG has no hardware seed.
    pub fn generate(p: &dyn Platform) -> Result<Self, RngUnavailable> {
        loop {
            // Wiped when dropped, like every copy of the key.
            let mut secret = zeroize::Zeroizing::new([0u8; 32]);
            p.fill_random(&mut secret[..])?;
            // A 32-byte string is a valid scalar except with probability ~2^-32.
            if let Some(key) = Self::from_secret(&secret) {
                return Ok(key);
            }
        }
    }

    /// The key stored on disk, or `None` if those bytes are not a valid P-256 scalar.
    pub fn from_secret(secret: &[u8; 32]) -> Option<Self> {
        let key = SecretKey::from_slice(secret).ok()?;
        let public = key.public_key();
        let spki = public.to_public_key_der().ok()?;
        let point = p256::EncodedPoint::from(public);
        let mut public_sec1 = [0u8; 65];
        public_sec1.copy_from_slice(point.as_bytes().get(..65)?);
        Some(Self {
            secret: *secret,
            public_sec1,
            fingerprint: Fingerprint(Sha256::digest(spki.as_bytes()).into()),
        })
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The secret scalar, for the configuration disk and the DTLS engine only.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// `identity show`.
    pub fn write_show(&self, w: &mut dyn Write) -> fmt::Result {
        w.write_str("algorithm    ECDSA P-256\n")?;
        w.write_str("public key   ")?;
        for b in self.public_sec1 {
            write!(w, "{b:02x}")?;
        }
        writeln!(w, "\nfingerprint  {}", self.fingerprint)?;
        w.write_str("(SHA-256 of the DER SubjectPublicKeyInfo; pin it on peers with\n")?;
        w.write_str(" 'peer add NAME endpoint A.B.C.D:PORT fingerprint <this> prefix ...')\n")
    }
}
