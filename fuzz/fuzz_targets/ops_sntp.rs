//! The SNTP reply parser and client on arbitrary datagrams: nothing panics, a reply
//! is only ever accepted when it echoes the request's nonce, and the clock it feeds
//! stays consistent (slews never move it backwards).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vnetcrypt_ops::sntp::{parse_reply, Client, SntpError};
use vnetcrypt_ops::wallclock::{Correction, WallClock};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let nonce = u64::from_le_bytes(data[..8].try_into().unwrap());
    let datagram = &data[8..];
    match parse_reply(datagram, nonce) {
        Ok(_) => assert_eq!(&datagram[24..32], &nonce.to_be_bytes()),
        Err(SntpError::Short) => assert!(datagram.len() < 48),
        Err(_) => {}
    }
    let mut client = Client::new(0);
    let mut clock = WallClock::new(Some(1_796_083_200_000_000), 0);
    let mut now = 0u64;
    for chunk in datagram.chunks(48).take(16) {
        now += 500_000;
        if client.poll_request(now, clock.unix_us(now), nonce).is_none() {
            client.handle_timeout(now);
        }
        let before = clock.unix_us(now + 1);
        if let Ok(s) = client.handle_reply(now, clock.unix_us(now), chunk) {
            assert_eq!(&chunk[24..32], &nonce.to_be_bytes());
            if let Correction::Slewing(_) = clock.apply(now + 1, s.offset_us, s.delay_us, s.stratum) {
                assert_eq!(clock.unix_us(now + 1), before);
                assert!(clock.unix_us(now + 1_000_000) >= before);
            }
        }
    }
});
