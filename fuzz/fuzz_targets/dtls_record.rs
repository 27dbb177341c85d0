//! The record layer on arbitrary datagrams: splitting, opening, replay window, and the
//! ClientHello detector callers route datagrams with.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vnetcrypt_dtls::crypto::AeadKey;
use vnetcrypt_dtls::record::{OpeningKey, RecordLimits, Records, SealingKey, HEADER_ROOM};
use vnetcrypt_dtls::AeadBackend;

fuzz_target!(|data: &[u8]| {
    let key = || AeadKey::new(AeadBackend::default(), &[0x42; 16]).unwrap();
    let mut open = OpeningKey::new(key(), [1, 2, 3, 4], 1, RecordLimits::default());
    // Never panics; agrees with what splitting the records finds.
    let hello = vnetcrypt_dtls::datagram_has_client_hello(data);
    let found =
        Records::new(data).any(|(h, r)| h.epoch == 0 && r[0] == 22 && r.get(13) == Some(&1));
    assert_eq!(hello, found);
    for (_, record) in Records::new(data) {
        let mut copy = record.to_vec();
        if let Ok((h, range)) = open.open_in_place(&mut copy) {
            assert!(range.end <= copy.len());
            assert!(h.epoch == 1);
        }
    }
    // Whatever the input, a record we seal opens exactly once.
    let mut seal = SealingKey::new(key(), [1, 2, 3, 4], 1, RecordLimits::default());
    let len = data.len().min(1400);
    let mut buf = vec![0u8; HEADER_ROOM + len + 16];
    buf[HEADER_ROOM..HEADER_ROOM + len].copy_from_slice(&data[..len]);
    let n = seal
        .seal_in_place(
            vnetcrypt_dtls::record::ContentType::ApplicationData,
            &mut buf,
            len,
        )
        .unwrap();
    let mut fresh = OpeningKey::new(key(), [1, 2, 3, 4], 1, RecordLimits::default());
    let mut again = buf.clone();
    let (_, r) = fresh.open_in_place(&mut buf[..n]).unwrap();
    assert_eq!(&buf[r], &data[..len]);
    assert!(fresh.open_in_place(&mut again[..n]).is_err());
});
