//! The metrics endpoint's HTTP request parser on arbitrary bytes, fed whole and in
//! pieces as TCP would deliver them: it never panics, never asks for more past the
//! bound, and every prefix of a head that parses is still incomplete or the same
//! verdict.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vnetcrypt_ops::http::{answer, parse, Parsed, MAX_REQUEST};

fuzz_target!(|data: &[u8]| {
    let whole = parse(data);
    if data.len() >= MAX_REQUEST {
        assert_ne!(whole, Parsed::Incomplete, "a full buffer must be answered");
    }
    if let Parsed::Request(r) = whole {
        assert!(r.target.starts_with('/'));
        let _ = answer(&r);
    }
    // Growing the buffer byte by byte (as segments arrive) reaches a verdict no later
    // than the whole buffer does, and the first verdict is final.
    let mut first = None;
    for n in 0..=data.len().min(MAX_REQUEST + 1) {
        match parse(&data[..n]) {
            Parsed::Incomplete => assert!(first.is_none(), "verdict taken back at {n}"),
            v => {
                if first.is_none() {
                    first = Some(v);
                }
            }
        }
    }
});
