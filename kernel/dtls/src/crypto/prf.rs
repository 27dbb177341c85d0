//! The TLS 1.2 PRF (RFC 5246 §5) over HMAC-SHA-256 or HMAC-SHA-384, and transcript hashes.

use hmac::{Mac, SimpleHmac};
use sha2::{Digest, Sha256, Sha384};

/// The PRF / transcript hash of a cipher suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

/// A hash output of up to 48 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashOutput {
    bytes: [u8; 48],
    len: usize,
}

impl AsRef<[u8]> for HashOutput {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl HashAlg {
    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> HashOutput {
        let mut bytes = [0u8; 48];
        let len = match self {
            HashAlg::Sha256 => {
                bytes[..32].copy_from_slice(&Sha256::digest(data));
                32
            }
            HashAlg::Sha384 => {
                bytes.copy_from_slice(&Sha384::digest(data));
                48
            }
        };
        HashOutput { bytes, len }
    }
}

fn p_hash<M: Mac + hmac::digest::KeyInit + Clone>(
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    out: &mut [u8],
) {
    // Any key length is accepted by HMAC.
    let Ok(base) = <M as hmac::digest::KeyInit>::new_from_slice(secret) else {
        return;
    };
    // A(1) = HMAC(secret, label + seed)
    let mut a = {
        let mut m = base.clone();
        m.update(label);
        m.update(seed);
        m.finalize().into_bytes()
    };
    let mut filled = 0;
    while filled < out.len() {
        let mut m = base.clone();
        m.update(&a);
        m.update(label);
        m.update(seed);
        let block = m.finalize().into_bytes();
        let n = (out.len() - filled).min(block.len());
        out[filled..filled + n].copy_from_slice(&block[..n]);
        filled += n;
        let mut m = base.clone();
        m.update(&a);
        a = m.finalize().into_bytes();
    }
}

/// PRF(secret, label, seed) filling `out`.
pub fn prf(alg: HashAlg, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    match alg {
        HashAlg::Sha256 => p_hash::<SimpleHmac<Sha256>>(secret, label, seed, out),
        HashAlg::Sha384 => p_hash::<SimpleHmac<Sha384>>(secret, label, seed, out),
    }
}

/// HMAC-SHA-256, used for cookies.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m =
        <SimpleHmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
            <SimpleHmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default())
        });
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> alloc::vec::Vec<u8> {
        let s: alloc::string::String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Test vectors for the TLS 1.2 PRF published on the IETF TLS mailing list
    // (secret, seed, label "test label").
    #[test]
    fn prf_sha256_vector() {
        let secret = hex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35");
        let seed = hex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c");
        let mut out = [0u8; 100];
        prf(HashAlg::Sha256, &secret, b"test label", &seed, &mut out);
        let want = hex(
            "e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53 c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e db 5a
             6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af 0f a0 22 f7 07 7d ef 17 ab fd 37 97 c0 56 4b ab
             4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba a4 80 82 d1 22 ee 42 c5 a7 2e 5a 51 10 ff f7 01
             87 34 7b 66",
        );
        assert_eq!(&out[..], &want[..]);
    }

    #[test]
    fn prf_sha384_vector() {
        let secret = hex("b8 0b 73 3d 6c ee fc dc 71 56 6e a4 8e 55 67 df");
        let seed = hex("cd 66 5c f6 a8 44 7d d6 ff 8b 27 55 5e db 74 65");
        let mut out = [0u8; 148];
        prf(HashAlg::Sha384, &secret, b"test label", &seed, &mut out);
        let want = hex(
            "7b 0c 18 e9 ce d4 10 ed 18 04 f2 cf a3 4a 33 6a 1c 14 df fb 49 00 bb 5f d7 94 21 07 e8 1c 83 cd
             e9 ca 0f aa 60 be 9f e3 4f 82 b1 23 3c 91 46 a0 e5 34 cb 40 0f ed 27 00 88 4f 9d c2 36 f8 0e dd
             8b fa 96 11 44 c9 e8 d7 92 ec a7 22 a7 b3 2f c3 d4 16 d4 73 eb c2 c5 fd 4a bf da d0 5d 91 84 25
             9b 5b f8 cd 4d 90 fa 0d 31 e2 de c4 79 e4 f1 a2 60 66 f2 ee a9 a6 92 36 a3 e5 26 55 c9 e9 ae e6
             91 c8 f3 a2 68 54 30 8d 5e aa 3b e8 5e 09 90 70 3d 73 e5 6f",
        );
        assert_eq!(&out[..], &want[..]);
    }
}
