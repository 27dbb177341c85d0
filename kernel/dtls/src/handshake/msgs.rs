//! Handshake message bodies (RFC 5246 §7.4, RFC 6347 §4.3.2, RFC 4492/8422): parse from
//! untrusted bytes (never panics; trailing bytes are an error) and encode.

use crate::codec::{DecodeError, Reader, Writer};
use alloc::vec::Vec;

/// Handshake message types.
#[allow(missing_docs)]
pub mod msg_type {
    pub const HELLO_REQUEST: u8 = 0;
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const HELLO_VERIFY_REQUEST: u8 = 3;
    pub const CERTIFICATE: u8 = 11;
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    pub const CERTIFICATE_REQUEST: u8 = 13;
    pub const SERVER_HELLO_DONE: u8 = 14;
    pub const CERTIFICATE_VERIFY: u8 = 15;
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
    pub const FINISHED: u8 = 20;
}

/// Extension code points.
#[allow(missing_docs)]
pub mod ext {
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const EC_POINT_FORMATS: u16 = 11;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// secp256r1 (RFC 8422).
pub const GROUP_SECP256R1: u16 = 23;
/// ecdsa_secp256r1_sha256 (RFC 5246 SignatureAndHashAlgorithm {sha256, ecdsa}).
pub const SIG_ECDSA_SHA256: u16 = 0x0403;
/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746).
pub const RENEGOTIATION_SCSV: u16 = 0x00ff;
/// ClientCertificateType ecdsa_sign.
pub const CERT_TYPE_ECDSA_SIGN: u8 = 64;

/// A list of extensions, kept in wire order. Duplicates are refused when parsing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extensions(pub Vec<(u16, Vec<u8>)>);

impl Extensions {
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut out = Vec::new();
        if r.is_empty() {
            return Ok(Extensions(out));
        }
        let mut list = r.sub_u16()?;
        while !list.is_empty() {
            let code = list.u16()?;
            let data = list.sub_u16()?.rest();
            if out.iter().any(|(c, _)| *c == code) {
                return Err(DecodeError);
            }
            out.push((code, data.to_vec()));
        }
        Ok(Extensions(out))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        if self.0.is_empty() {
            return;
        }
        let mut body = Vec::new();
        for (code, data) in &self.0 {
            body.put_u16(*code);
            body.put_vec_u16(data);
        }
        out.put_vec_u16(&body);
    }

    /// The data of extension `code`, if present.
    pub fn get(&self, code: u16) -> Option<&[u8]> {
        self.0.iter().find(|(c, _)| *c == code).map(|(_, d)| &d[..])
    }

    /// Adds an extension.
    pub fn push(&mut self, code: u16, data: Vec<u8>) {
        self.0.push((code, data));
    }
}

/// Parses a `u16` list with a two-byte length prefix (supported_groups,
/// signature_algorithms).
pub fn parse_u16_list(data: &[u8]) -> Result<Vec<u16>, DecodeError> {
    let mut r = Reader::new(data);
    let mut list = r.sub_u16()?;
    r.finish()?;
    let mut out = Vec::new();
    while !list.is_empty() {
        out.push(list.u16()?);
    }
    Ok(out)
}

/// Encodes a `u16` list with a two-byte length prefix.
pub fn encode_u16_list(items: &[u16]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u16((items.len() * 2) as u16);
    for i in items {
        out.put_u16(*i);
    }
    out
}

/// ClientHello (RFC 6347 §4.2.1: with a cookie).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHello {
    pub client_version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cookie: Vec<u8>,
    pub cipher_suites: Vec<u16>,
    pub compression_methods: Vec<u8>,
    pub extensions: Extensions,
}

impl ClientHello {
    /// Parses a ClientHello body.
    pub fn parse(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let client_version = r.u16()?;
        let random = r.array()?;
        let session_id = r.sub_u8()?.rest().to_vec();
        let cookie = r.sub_u8()?.rest().to_vec();
        if session_id.len() > 32 {
            return Err(DecodeError);
        }
        let mut cs = r.sub_u16()?;
        let mut cipher_suites = Vec::new();
        while !cs.is_empty() {
            cipher_suites.push(cs.u16()?);
        }
        let compression_methods = r.sub_u8()?.rest().to_vec();
        let extensions = Extensions::parse(&mut r)?;
        r.finish()?;
        Ok(ClientHello {
            client_version,
            random,
            session_id,
            cookie,
            cipher_suites,
            compression_methods,
            extensions,
        })
    }

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_u16(self.client_version);
        out.extend_from_slice(&self.random);
        out.put_vec_u8(&self.session_id);
        out.put_vec_u8(&self.cookie);
        out.put_u16((self.cipher_suites.len() * 2) as u16);
        for c in &self.cipher_suites {
            out.put_u16(*c);
        }
        out.put_vec_u8(&self.compression_methods);
        self.extensions.encode(&mut out);
        out
    }
}

/// HelloVerifyRequest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloVerifyRequest {
    pub server_version: u16,
    pub cookie: Vec<u8>,
}

impl HelloVerifyRequest {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let server_version = r.u16()?;
        let cookie = r.sub_u8()?.rest().to_vec();
        r.finish()?;
        Ok(HelloVerifyRequest {
            server_version,
            cookie,
        })
    }

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_u16(self.server_version);
        out.put_vec_u8(&self.cookie);
        out
    }
}

/// ServerHello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerHello {
    pub server_version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher_suite: u16,
    pub compression_method: u8,
    pub extensions: Extensions,
}

impl ServerHello {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let server_version = r.u16()?;
        let random = r.array()?;
        let session_id = r.sub_u8()?.rest().to_vec();
        if session_id.len() > 32 {
            return Err(DecodeError);
        }
        let cipher_suite = r.u16()?;
        let compression_method = r.u8()?;
        let extensions = Extensions::parse(&mut r)?;
        r.finish()?;
        Ok(ServerHello {
            server_version,
            random,
            session_id,
            cipher_suite,
            compression_method,
            extensions,
        })
    }

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_u16(self.server_version);
        out.extend_from_slice(&self.random);
        out.put_vec_u8(&self.session_id);
        out.put_u16(self.cipher_suite);
        out.put_u8(self.compression_method);
        self.extensions.encode(&mut out);
        out
    }
}

/// Certificate: a chain of DER certificates, ours first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateMsg {
    pub chain: Vec<Vec<u8>>,
}

impl CertificateMsg {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let mut list = r.sub_u24()?;
        r.finish()?;
        let mut chain = Vec::new();
        while !list.is_empty() {
            chain.push(list.sub_u24()?.rest().to_vec());
        }
        Ok(CertificateMsg { chain })
    }

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut list = Vec::new();
        for c in &self.chain {
            list.put_vec_u24(c);
        }
        let mut out = Vec::new();
        out.put_vec_u24(&list);
        out
    }
}

/// A digitally-signed element: algorithm and DER signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub algorithm: u16,
    pub signature: Vec<u8>,
}

impl Signed {
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let algorithm = r.u16()?;
        let signature = r.sub_u16()?.rest().to_vec();
        Ok(Signed {
            algorithm,
            signature,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u16(self.algorithm);
        out.put_vec_u16(&self.signature);
    }
}

/// ServerKeyExchange for ECDHE (named curve).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerKeyExchange {
    pub named_group: u16,
    pub public: Vec<u8>,
    pub signed: Signed,
}

impl ServerKeyExchange {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        if r.u8()? != 3 {
            // Only named_curve parameters exist in practice.
            return Err(DecodeError);
        }
        let named_group = r.u16()?;
        let public = r.sub_u8()?.rest().to_vec();
        let signed = Signed::parse(&mut r)?;
        r.finish()?;
        Ok(ServerKeyExchange {
            named_group,
            public,
            signed,
        })
    }

    /// The ServerECDHParams bytes that the signature covers.
    pub fn params(named_group: u16, public: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_u8(3);
        out.put_u16(named_group);
        out.put_vec_u8(public);
        out
    }

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Self::params(self.named_group, &self.public);
        self.signed.encode(&mut out);
        out
    }
}

/// CertificateRequest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateRequest {
    pub certificate_types: Vec<u8>,
    pub signature_algorithms: Vec<u16>,
    /// Raw DistinguishedName list (not interpreted).
    pub authorities: Vec<u8>,
}

impl CertificateRequest {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let certificate_types = r.sub_u8()?.rest().to_vec();
        let mut algs = r.sub_u16()?;
        let mut signature_algorithms = Vec::new();
        while !algs.is_empty() {
            signature_algorithms.push(algs.u16()?);
        }
        let authorities = r.sub_u16()?.rest().to_vec();
        r.finish()?;
        Ok(CertificateRequest {
            certificate_types,
            signature_algorithms,
            authorities,
        })
    }

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_vec_u8(&self.certificate_types);
        out.extend_from_slice(&encode_u16_list(&self.signature_algorithms));
        out.put_vec_u16(&self.authorities);
        out
    }
}

/// ClientKeyExchange for ECDHE: the client's public point.
pub fn parse_client_key_exchange(body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut r = Reader::new(body);
    let point = r.sub_u8()?.rest().to_vec();
    r.finish()?;
    Ok(point)
}

/// Encodes a ClientKeyExchange body.
pub fn encode_client_key_exchange(point: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_vec_u8(point);
    out
}

/// Parses a CertificateVerify body.
pub fn parse_certificate_verify(body: &[u8]) -> Result<Signed, DecodeError> {
    let mut r = Reader::new(body);
    let s = Signed::parse(&mut r)?;
    r.finish()?;
    Ok(s)
}

/// Encodes a CertificateVerify body.
pub fn encode_certificate_verify(s: &Signed) -> Vec<u8> {
    let mut out = Vec::new();
    s.encode(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample_hello() -> ClientHello {
        let mut extensions = Extensions::default();
        extensions.push(ext::SUPPORTED_GROUPS, encode_u16_list(&[GROUP_SECP256R1]));
        extensions.push(ext::EXTENDED_MASTER_SECRET, vec![]);
        ClientHello {
            client_version: 0xfefd,
            random: [7; 32],
            session_id: vec![],
            cookie: vec![1, 2, 3],
            cipher_suites: vec![0xc02b, 0xc02c],
            compression_methods: vec![0],
            extensions,
        }
    }

    #[test]
    fn client_hello_fixture() {
        let body = sample_hello().encode();
        let mut want = vec![0xfe, 0xfd];
        want.extend_from_slice(&[7; 32]);
        want.extend_from_slice(&[0, 3, 1, 2, 3, 0, 4, 0xc0, 0x2b, 0xc0, 0x2c, 1, 0]);
        want.extend_from_slice(&[0, 12, 0, 10, 0, 4, 0, 2, 0, 23, 0, 23, 0, 0]);
        assert_eq!(body, want);
        assert_eq!(ClientHello::parse(&body).unwrap(), sample_hello());
        assert_eq!(
            parse_u16_list(sample_hello().extensions.get(10).unwrap()).unwrap(),
            [23]
        );
    }

    #[test]
    fn truncations_and_trailing_bytes_are_refused() {
        let body = sample_hello().encode();
        for n in 0..body.len() {
            // Cutting exactly before the extensions block is a valid extension-less hello.
            if n == 2 + 32 + 1 + 4 + 6 + 2 {
                continue;
            }
            assert!(ClientHello::parse(&body[..n]).is_err(), "{n}");
        }
        let mut long = body.clone();
        long.push(0);
        assert!(ClientHello::parse(&long).is_err());
    }

    #[test]
    fn duplicate_extensions_are_refused() {
        let mut h = sample_hello();
        h.extensions.push(ext::EXTENDED_MASTER_SECRET, vec![]);
        assert!(ClientHello::parse(&h.encode()).is_err());
    }

    #[test]
    fn other_messages_round_trip() {
        let sh = ServerHello {
            server_version: 0xfefd,
            random: [1; 32],
            session_id: vec![9; 32],
            cipher_suite: 0xc02c,
            compression_method: 0,
            extensions: Extensions(vec![(ext::RENEGOTIATION_INFO, vec![0])]),
        };
        assert_eq!(ServerHello::parse(&sh.encode()).unwrap(), sh);
        let hvr = HelloVerifyRequest {
            server_version: 0xfeff,
            cookie: vec![5; 32],
        };
        assert_eq!(HelloVerifyRequest::parse(&hvr.encode()).unwrap(), hvr);
        let cert = CertificateMsg {
            chain: vec![vec![0x30, 1, 2], vec![]],
        };
        assert_eq!(cert.encode(), [0, 0, 9, 0, 0, 3, 0x30, 1, 2, 0, 0, 0]);
        assert_eq!(CertificateMsg::parse(&cert.encode()).unwrap(), cert);
        let ske = ServerKeyExchange {
            named_group: 23,
            public: vec![4; 65],
            signed: Signed {
                algorithm: SIG_ECDSA_SHA256,
                signature: vec![0x30, 0],
            },
        };
        assert_eq!(ServerKeyExchange::parse(&ske.encode()).unwrap(), ske);
        let cr = CertificateRequest {
            certificate_types: vec![CERT_TYPE_ECDSA_SIGN],
            signature_algorithms: vec![SIG_ECDSA_SHA256],
            authorities: vec![],
        };
        assert_eq!(cr.encode(), [1, 64, 0, 2, 4, 3, 0, 0]);
        assert_eq!(CertificateRequest::parse(&cr.encode()).unwrap(), cr);
        assert_eq!(
            parse_client_key_exchange(&encode_client_key_exchange(&[4, 1])).unwrap(),
            [4, 1]
        );
        let cv = ske.signed.clone();
        assert_eq!(
            parse_certificate_verify(&encode_certificate_verify(&cv)).unwrap(),
            cv
        );
    }
}
