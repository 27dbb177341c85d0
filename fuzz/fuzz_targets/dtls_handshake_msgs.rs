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
    let mut last = None;
    while let Ok((h, frag)) = FragmentHeader::parse(&mut r) {
        // The fragment's own bits decide how the connection would drive the reassembler:
        // a new datagram, a verified flight (commit) or a refused one (rewind).
        if h.fragment_offset & 1 == 1 {
            reassembler.next_datagram();
        }
        reassembler.insert(&h, frag, (h.fragment_offset >> 1 & 1) as u16);
        while let Some((m, arrival)) = reassembler.pop_preferring(last) {
            assert!(m.message_seq < reassembler.next_seq() || reassembler.next_seq() == 0);
            parse_all(&m.body);
            last = Some(arrival);
            if m.body.len() % 3 == 0 {
                reassembler.rewind();
                last = None;
                break;
            }
            if m.body.len() % 3 == 1 {
                reassembler.commit();
            }
        }
    }
});
