//! The two cipher suites we speak.

use super::prf::HashAlg;

/// An ECDHE-ECDSA AES-GCM cipher suite (RFC 5289).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CipherSuite {
    /// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (0xC02B).
    EcdheEcdsaAes128GcmSha256,
    /// TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 (0xC02C).
    EcdheEcdsaAes256GcmSha384,
}

impl CipherSuite {
    /// Both suites, in our order of preference.
    pub const ALL: [CipherSuite; 2] = [
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        CipherSuite::EcdheEcdsaAes256GcmSha384,
    ];

    /// The IANA code point.
    pub fn code(self) -> u16 {
        match self {
            CipherSuite::EcdheEcdsaAes128GcmSha256 => 0xC02B,
            CipherSuite::EcdheEcdsaAes256GcmSha384 => 0xC02C,
        }
    }

    /// The suite for a code point, if we speak it.
    pub fn from_code(code: u16) -> Option<Self> {
        match code {
            0xC02B => Some(CipherSuite::EcdheEcdsaAes128GcmSha256),
            0xC02C => Some(CipherSuite::EcdheEcdsaAes256GcmSha384),
            _ => None,
        }
    }

    /// The PRF and transcript hash.
    pub fn hash(self) -> HashAlg {
        match self {
            CipherSuite::EcdheEcdsaAes128GcmSha256 => HashAlg::Sha256,
            CipherSuite::EcdheEcdsaAes256GcmSha384 => HashAlg::Sha384,
        }
    }

    /// AES key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            CipherSuite::EcdheEcdsaAes128GcmSha256 => 16,
            CipherSuite::EcdheEcdsaAes256GcmSha384 => 32,
        }
    }

    /// OpenSSL's name for the suite.
    pub fn openssl_name(self) -> &'static str {
        match self {
            CipherSuite::EcdheEcdsaAes128GcmSha256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
            CipherSuite::EcdheEcdsaAes256GcmSha384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        }
    }
}
