//! Arbitrary disk contents: the two configuration slots and the GPT lookup must reject
//! anything malformed without panicking, and whatever loads must load again the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vnetcrypt_config::{gpt, store};

fuzz_target!(|data: &[u8]| {
    let half = data.len() / 2;
    let sel = store::select(&data[..half], &data[half..]);
    if let Some((_, seq, saved)) = &sel.newest {
        let mut buf = vec![0u8; store::SLOT_SIZE];
        if let Ok(n) = store::encode(*seq, saved, &mut buf) {
            assert_eq!(store::decode(&buf[..n]).as_ref().map(|(s, v)| (*s, v)), Ok((*seq, saved)));
        }
        let _ = store::load_text(&saved.text);
    }
    let _ = sel.next_write();
    if let Ok(h) = gpt::parse_header(data) {
        let _ = gpt::find_config(&h, data, u64::from(data.len() as u32));
    }
});
