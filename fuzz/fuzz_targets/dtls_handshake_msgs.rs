//! Handshake fragments, reassembly and every message parser on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vnetcrypt_dtls::codec::Reader;
use vnetcrypt_dtls::handshake::fragment::{FragmentHeader, Reassembler};
use vnetcrypt_dtls::handshake::msgs::*;

fn parse_all(body: &[u8]) {
    if let Ok(ch) = ClientHello::parse(body) {
        assert_eq!(ClientHello::parse(&ch.encode()).as_ref(), Ok(&ch));
    }
    if let Ok(sh) = ServerHello::parse(body) {
        assert_eq!(ServerHello::parse(&sh.encode()).as_ref(), Ok(&sh));
    }
    let _ = HelloVerifyRequest::parse(body);
    if let Ok(c) = CertificateMsg::parse(body) {
        for cert in &c.chain {
            let _ = vnetcrypt_dtls::identity::peer_key_from_certificate(cert);
        }
    }
    let _ = ServerKeyExchange::parse(body);
    let _ = CertificateRequest::parse(body);
    let _ = parse_client_key_exchange(body);
    let _ = parse_certificate_verify(body);
    let _ = parse_u16_list(body);
}

fuzz_target!(|data: &[u8]| {
    parse_all(data);
    let mut r = Reader::new(data);
    let mut reassembler = Reassembler::new(0);
    while let Ok((h, frag)) = FragmentHeader::parse(&mut r) {
        reassembler.insert(&h, frag, 0);
        while let Some(m) = reassembler.pop() {
            parse_all(&m.body);
        }
    }
});
