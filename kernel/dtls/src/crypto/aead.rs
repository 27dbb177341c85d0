//! AES-GCM behind one small interface, with two backends.
//!
//! - `ring` 0.17 (feature `ring-aead`, the default): its `aead` module only; `SystemRandom`
//!   is never used in this crate.
//! - RustCrypto `aes-gcm` (feature `rustcrypto-aead`): pure Rust.
//!
//! Both take the 12-byte nonce and the 13-byte additional data of RFC 5288 / RFC 6347 and
//! work in place. Tag comparison is constant-time in both libraries.

/// Length of the GCM tag.
pub const TAG_LEN: usize = 16;
/// Length of the GCM nonce.
pub const NONCE_LEN: usize = 12;

/// Which library performs AES-GCM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AeadBackend {
    /// `ring` 0.17.
    #[cfg(feature = "ring-aead")]
    #[default]
    Ring,
    /// RustCrypto `aes-gcm`.
    #[cfg(feature = "rustcrypto-aead")]
    #[cfg_attr(not(feature = "ring-aead"), default)]
    RustCrypto,
}

#[cfg(not(any(feature = "ring-aead", feature = "rustcrypto-aead")))]
compile_error!("enable at least one AEAD backend: `ring-aead` or `rustcrypto-aead`");

/// The authentication tag did not verify (or the key length was wrong).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AeadError;

/// One direction's AES-GCM key.
pub enum AeadKey {
    /// A `ring` key.
    #[cfg(feature = "ring-aead")]
    Ring(alloc::boxed::Box<ring::aead::LessSafeKey>),
    /// A RustCrypto AES-128-GCM key.
    #[cfg(feature = "rustcrypto-aead")]
    RustCrypto128(alloc::boxed::Box<aes_gcm::Aes128Gcm>),
    /// A RustCrypto AES-256-GCM key.
    #[cfg(feature = "rustcrypto-aead")]
    RustCrypto256(alloc::boxed::Box<aes_gcm::Aes256Gcm>),
}

impl core::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AeadKey(..)")
    }
}

impl AeadKey {
    /// A key for AES-128-GCM (16 bytes) or AES-256-GCM (32 bytes).
    pub fn new(backend: AeadBackend, key: &[u8]) -> Result<Self, AeadError> {
        match backend {
            #[cfg(feature = "ring-aead")]
            AeadBackend::Ring => {
                let alg = match key.len() {
                    16 => &ring::aead::AES_128_GCM,
                    32 => &ring::aead::AES_256_GCM,
                    _ => return Err(AeadError),
                };
                let unbound = ring::aead::UnboundKey::new(alg, key).map_err(|_| AeadError)?;
                Ok(AeadKey::Ring(alloc::boxed::Box::new(
                    ring::aead::LessSafeKey::new(unbound),
                )))
            }
            #[cfg(feature = "rustcrypto-aead")]
            AeadBackend::RustCrypto => {
                use aes_gcm::KeyInit;
                match key.len() {
                    16 => Ok(AeadKey::RustCrypto128(alloc::boxed::Box::new(
                        aes_gcm::Aes128Gcm::new_from_slice(key).map_err(|_| AeadError)?,
                    ))),
                    32 => Ok(AeadKey::RustCrypto256(alloc::boxed::Box::new(
                        aes_gcm::Aes256Gcm::new_from_slice(key).map_err(|_| AeadError)?,
                    ))),
                    _ => Err(AeadError),
                }
            }
        }
    }

    /// Encrypts `buf` in place and returns the tag.
    pub fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadError> {
        match self {
            #[cfg(feature = "ring-aead")]
            AeadKey::Ring(key) => {
                let tag = key
                    .seal_in_place_separate_tag(
                        ring::aead::Nonce::assume_unique_for_key(*nonce),
                        ring::aead::Aad::from(aad),
                        buf,
                    )
                    .map_err(|_| AeadError)?;
                let mut out = [0u8; TAG_LEN];
                out.copy_from_slice(tag.as_ref());
                Ok(out)
            }
            #[cfg(feature = "rustcrypto-aead")]
            AeadKey::RustCrypto128(key) => rc_seal(&**key, nonce, aad, buf),
            #[cfg(feature = "rustcrypto-aead")]
            AeadKey::RustCrypto256(key) => rc_seal(&**key, nonce, aad, buf),
        }
    }

    /// Verifies `tag` over `buf` and decrypts `buf` in place. On failure `buf` holds no
    /// plaintext the caller may use.
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadError> {
        match self {
            #[cfg(feature = "ring-aead")]
            AeadKey::Ring(key) => key
                .open_in_place_separate_tag(
                    ring::aead::Nonce::assume_unique_for_key(*nonce),
                    ring::aead::Aad::from(aad),
                    ring::aead::Tag::from(*tag),
                    buf,
                    0..,
                )
                .map(|_| ())
                .map_err(|_| AeadError),
            #[cfg(feature = "rustcrypto-aead")]
            AeadKey::RustCrypto128(key) => rc_open(&**key, nonce, aad, buf, tag),
            #[cfg(feature = "rustcrypto-aead")]
            AeadKey::RustCrypto256(key) => rc_open(&**key, nonce, aad, buf, tag),
        }
    }
}

#[cfg(feature = "rustcrypto-aead")]
#[allow(deprecated)] // aes-gcm 0.10's nonce and tag types are generic-array 0.14
fn rc_seal<A: aes_gcm::AeadInPlace>(
    key: &A,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN], AeadError> {
    use aes_gcm::aead::generic_array::GenericArray;
    let tag = key
        .encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, buf)
        .map_err(|_| AeadError)?;
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&tag);
    Ok(out)
}

#[cfg(feature = "rustcrypto-aead")]
#[allow(deprecated)]
fn rc_open<A: aes_gcm::AeadInPlace>(
    key: &A,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), AeadError> {
    use aes_gcm::aead::generic_array::GenericArray;
    key.decrypt_in_place_detached(
        GenericArray::from_slice(nonce),
        aad,
        buf,
        GenericArray::from_slice(tag),
    )
    .map_err(|_| AeadError)
}

/// Every backend compiled in, for tests and benches.
pub fn all_backends() -> &'static [AeadBackend] {
    &[
        #[cfg(feature = "ring-aead")]
        AeadBackend::Ring,
        #[cfg(feature = "rustcrypto-aead")]
        AeadBackend::RustCrypto,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> alloc::vec::Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// (key, iv, plaintext, aad, ciphertext, tag): GCM spec test cases 4 (AES-128) and
    /// 16 (AES-256), McGrew & Viega, "The Galois/Counter Mode of Operation".
    const VECTORS: &[(&str, &str, &str, &str, &str, &str)] = &[
        (
            "feffe9928665731c6d6a8f9467308308",
            "cafebabefacedbaddecaf888",
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
            "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "cafebabefacedbaddecaf888",
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
            "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];

    #[test]
    fn known_answer_vectors_through_every_backend() {
        assert!(!all_backends().is_empty());
        for &backend in all_backends() {
            for (k, iv, pt, aad, ct, tag) in VECTORS {
                let key = AeadKey::new(backend, &hex(k)).unwrap();
                let nonce: [u8; 12] = hex(iv).try_into().unwrap();
                let mut buf = hex(pt);
                let got_tag = key.seal_in_place(&nonce, &hex(aad), &mut buf).unwrap();
                assert_eq!(buf, hex(ct), "{backend:?}");
                assert_eq!(&got_tag[..], &hex(tag)[..], "{backend:?}");
                key.open_in_place(&nonce, &hex(aad), &mut buf, &got_tag)
                    .unwrap();
                assert_eq!(buf, hex(pt));
                // A flipped bit anywhere is refused.
                let mut bad = hex(ct);
                bad[7] ^= 1;
                assert!(key
                    .open_in_place(&nonce, &hex(aad), &mut bad, &got_tag)
                    .is_err());
                let mut ct2 = hex(ct);
                let mut bad_aad = hex(aad);
                bad_aad[0] ^= 0x80;
                assert!(key
                    .open_in_place(&nonce, &bad_aad, &mut ct2, &got_tag)
                    .is_err());
            }
        }
    }

    #[test]
    fn wrong_key_length_is_refused() {
        for &backend in all_backends() {
            assert!(AeadKey::new(backend, &[0u8; 24]).is_err());
        }
    }
}
