//! The on-disk format: two alternating slots, each checksummed.
//!
//! A save writes the slot that does *not* hold the newest valid configuration, with a
//! sequence number one higher. A crash mid-write leaves a slot whose checksum fails;
//! it is ignored (and reported) and the other slot, untouched, still loads. So the disk
//! always yields the old or the new configuration, never a mix.
//!
//! Slot layout (little-endian):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0 | 8 | magic `VNCCONF1` |
//! | 8 | 8 | sequence number |
//! | 16 | 4 | payload length `n` |
//! | 20 | 4 | format version (`0` in format 1, which had no version) |
//! | 24 | n | payload |
//! | 24+n | 32 | SHA-256 of bytes `0..24+n` |
//!
//! Payload: one byte `0` (no identity), `1` followed by the 32-byte P-256 identity
//! secret, or `2` followed by the identity secret and the 32-byte secret of the next
//! identity (an identity rotation in progress, see `identity next`); then the
//! configuration as statements, UTF-8, one per line. A slot without a next key is
//! written with `0` or `1` exactly as before, so older appliances read it.
//!
//! Formats: 1 (zero at offset 20) is what appliances before the version field wrote;
//! 2 adds the version and keeps the payload of 1, plus the payload kind `2` (a next
//! identity; format 1 appliances never saw one, as both came in one release). A later change of the payload raises
//! [`FORMAT`]; the magic, the header up to offset 24 and the trailing checksum stay, so
//! every appliance can tell a newer format from damage. A slot of an older format is
//! read (and the next save writes [`FORMAT`]); a slot whose checksum holds but whose
//! format is newer than [`FORMAT`] is [`SlotError::NewerFormat`]: never loaded, and it
//! locks the appliance (`boot.rs`), so an older appliance does not overwrite what a
//! newer one saved.
//!
//! Decoding never panics, whatever the bytes.

use crate::{Config, Statement};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// Size of one slot; the configuration area holds two.
pub const SLOT_SIZE: usize = 64 * 1024;
/// Bytes of header before the payload.
pub const HEADER_LEN: usize = 24;
const DIGEST_LEN: usize = 32;
const MAGIC: &[u8; 8] = b"VNCCONF1";
/// The format this build writes, and the newest it reads.
pub const FORMAT: u32 = 2;
/// The largest payload a slot can hold.
pub const MAX_PAYLOAD: usize = SLOT_SIZE - HEADER_LEN - DIGEST_LEN;

/// What a slot holds. The identity key is wiped from memory when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Saved {
    /// The identity private key (P-256 scalar), if one was generated.
    pub identity: Option<[u8; 32]>,
    /// The next identity's private key (`identity next`), kept with the identity.
    pub next_identity: Option<[u8; 32]>,
    /// The configuration statements.
    pub text: String,
}

impl Drop for Saved {
    fn drop(&mut self) {
        if let Some(k) = self.identity.as_mut() {
            k.zeroize();
        }
        if let Some(k) = self.next_identity.as_mut() {
            k.zeroize();
        }
    }
}

impl fmt::Debug for Saved {
    // Never shows the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Saved")
            .field("identity", &self.identity.map(|_| "<secret>"))
            .field("next_identity", &self.next_identity.map(|_| "<secret>"))
            .field("text", &self.text)
            .finish()
    }
}

/// Why a slot was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotError {
    /// Never written (no magic; all zeros is the usual case).
    Empty,
    /// The length field points beyond the slot.
    BadLength,
    /// The checksum does not match: a torn or corrupted write.
    BadChecksum,
    /// The checksum matches but the payload is malformed.
    BadPayload,
    /// The configuration does not fit in a slot.
    TooLarge,
    /// Intact, but written in a format newer than [`FORMAT`] (by a newer appliance).
    NewerFormat(u32),
}

impl fmt::Display for SlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SlotError::Empty => "empty",
            SlotError::BadLength => "corrupt (bad length)",
            SlotError::BadChecksum => "corrupt (checksum mismatch: torn or damaged write)",
            SlotError::BadPayload => "corrupt (malformed contents)",
            SlotError::TooLarge => "configuration too large for a slot",
            SlotError::NewerFormat(v) => {
                return write!(
                    f,
                    "written by a newer appliance (configuration format {v}; this one reads \
                     formats up to {FORMAT})"
                )
            }
        })
    }
}

/// Writes a slot image into `out` (at least the returned length, rounded up to 512).
/// Returns the number of bytes to write (a multiple of 512, the sector size).
pub fn encode(seq: u64, saved: &Saved, out: &mut [u8]) -> Result<usize, SlotError> {
    // A next key is only kept beside an identity.
    let next = saved.next_identity.filter(|_| saved.identity.is_some());
    let key_len = match (saved.identity, next) {
        (None, _) => 1,
        (Some(_), None) => 33,
        (Some(_), Some(_)) => 65,
    };
    let n = key_len + saved.text.len();
    if n > MAX_PAYLOAD {
        return Err(SlotError::TooLarge);
    }
    let total = (HEADER_LEN + n + DIGEST_LEN).div_ceil(512) * 512;
    let out = out.get_mut(..total).ok_or(SlotError::TooLarge)?;
    out.fill(0);
    out[..8].copy_from_slice(MAGIC);
    out[8..16].copy_from_slice(&seq.to_le_bytes());
    out[16..20].copy_from_slice(&(n as u32).to_le_bytes());
    out[20..24].copy_from_slice(&FORMAT.to_le_bytes());
    let p = &mut out[HEADER_LEN..HEADER_LEN + n];
    match (&saved.identity, &next) {
        (Some(k), Some(n)) => {
            p[0] = 2;
            p[1..33].copy_from_slice(k);
            p[33..65].copy_from_slice(n);
        }
        (Some(k), None) => {
            p[0] = 1;
            p[1..33].copy_from_slice(k);
        }
        (None, _) => p[0] = 0,
    }
    p[key_len..].copy_from_slice(saved.text.as_bytes());
    let digest = Sha256::digest(&out[..HEADER_LEN + n]);
    out[HEADER_LEN + n..HEADER_LEN + n + DIGEST_LEN].copy_from_slice(&digest);
    Ok(total)
}

/// Reads a slot: its sequence number and contents.
pub fn decode(slot: &[u8]) -> Result<(u64, Saved), SlotError> {
    decode_with_format(slot).map(|(seq, _, saved)| (seq, saved))
}

/// Reads a slot: its sequence number, the format it was written in, and contents.
pub fn decode_with_format(slot: &[u8]) -> Result<(u64, u32, Saved), SlotError> {
    let header = slot.get(..HEADER_LEN).ok_or(SlotError::Empty)?;
    if &header[..8] != MAGIC {
        return Err(SlotError::Empty);
    }
    let seq = u64::from_le_bytes(header[8..16].try_into().map_err(|_| SlotError::BadLength)?);
    let n = u32::from_le_bytes(
        header[16..20]
            .try_into()
            .map_err(|_| SlotError::BadLength)?,
    ) as usize;
    if n > MAX_PAYLOAD || slot.len() < HEADER_LEN + n + DIGEST_LEN {
        return Err(SlotError::BadLength);
    }
    let digest = Sha256::digest(&slot[..HEADER_LEN + n]);
    if digest[..] != slot[HEADER_LEN + n..HEADER_LEN + n + DIGEST_LEN] {
        return Err(SlotError::BadChecksum);
    }
    let format = match u32::from_le_bytes([header[20], header[21], header[22], header[23]]) {
        0 | 1 => 1,
        v if v <= FORMAT => v,
        v => return Err(SlotError::NewerFormat(v)),
    };
    let p = &slot[HEADER_LEN..HEADER_LEN + n];
    let key = |b: &[u8]| {
        let mut k = [0u8; 32];
        k.copy_from_slice(&b[..32]);
        let key = Some(k);
        k.zeroize();
        key
    };
    let (identity, next_identity, text) = match p.split_first() {
        Some((0, rest)) => (None, None, rest),
        Some((1, rest)) if rest.len() >= 32 => (key(rest), None, &rest[32..]),
        Some((2, rest)) if rest.len() >= 64 => (key(rest), key(&rest[32..]), &rest[64..]),
        _ => return Err(SlotError::BadPayload),
    };
    let text = core::str::from_utf8(text).map_err(|_| SlotError::BadPayload)?;
    Ok((
        seq,
        format,
        Saved {
            identity,
            next_identity,
            text: String::from(text),
        },
    ))
}

/// What two slots hold, and where the next save goes.
#[derive(Debug)]
pub struct Selection {
    /// The newest valid slot: its index (0 or 1), sequence number and contents.
    pub newest: Option<(usize, u64, Saved)>,
    /// Why each slot was unusable (`None`: it was valid).
    pub errors: [Option<SlotError>; 2],
    /// The format the newest valid slot was written in.
    pub newest_format: u32,
}

impl Selection {
    /// The slot index and sequence number for the next save: always the other slot,
    /// so the newest valid configuration is never overwritten.
    pub fn next_write(&self) -> (usize, u64) {
        match &self.newest {
            Some((i, seq, _)) => (1 - i, seq.wrapping_add(1)),
            None => (0, 1),
        }
    }

    /// When the newest configuration was read from an older format: (that format,
    /// [`FORMAT`]), which the next save writes.
    pub fn upgraded_from(&self) -> Option<(u32, u32)> {
        (self.newest.is_some() && self.newest_format < FORMAT)
            .then_some((self.newest_format, FORMAT))
    }

    /// A slot written in a format newer than this build reads, if any.
    pub fn newer_format(&self) -> Option<u32> {
        self.errors.iter().find_map(|e| match e {
            Some(SlotError::NewerFormat(v)) => Some(*v),
            _ => None,
        })
    }

    /// Slots that are damaged, worth a console warning (an empty slot is not).
    pub fn damaged(&self) -> impl Iterator<Item = (usize, SlotError)> + '_ {
        self.errors
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.filter(|e| *e != SlotError::Empty).map(|e| (i, e)))
    }
}

/// Reads both slots and picks the newest valid one.
pub fn select(slot0: &[u8], slot1: &[u8]) -> Selection {
    let mut newest: Option<(usize, u64, Saved)> = None;
    let mut newest_format = FORMAT;
    let mut errors = [None, None];
    for (i, bytes) in [slot0, slot1].into_iter().enumerate() {
        match decode_with_format(bytes) {
            Ok((seq, format, saved)) => {
                if newest.as_ref().is_none_or(|(_, s, _)| seq > *s) {
                    newest = Some((i, seq, saved));
                    newest_format = format;
                }
            }
            Err(e) => errors[i] = Some(e),
        }
    }
    Selection {
        newest,
        errors,
        newest_format,
    }
}

/// A statement in saved or provisioned text that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

/// Builds a configuration from statements, one per line; blank lines and lines starting
/// with `#` are skipped. Lines that fail are reported and skipped, the rest applied.
/// `collector` and `syslog` lines are applied after all others, wherever they stand
/// (both are checked against the lan address and peers, which may be listed after them).
pub fn load_text(text: &str) -> (Config, Vec<LineError>) {
    use core::fmt::Write;
    let mut config = Config::default();
    let mut errors = Vec::new();
    let is_collector = |l: &str| {
        matches!(
            l.split_ascii_whitespace().next(),
            Some("collector" | "syslog")
        )
    };
    let ordered = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !is_collector(l))
        .chain(text.lines().enumerate().filter(|(_, l)| is_collector(l)));
    for (i, line) in ordered {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut message = String::new();
        let result = match Statement::parse(line) {
            Ok(st) => config.apply(st).map_err(|e| write!(message, "{e}")),
            Err(e) => Err(write!(message, "{e}")),
        };
        if result.is_err() {
            errors.push(LineError {
                line: i + 1,
                message,
            });
        }
    }
    (config, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    fn saved(text: &str, key: Option<u8>) -> Saved {
        Saved {
            identity: key.map(|k| [k; 32]),
            next_identity: None,
            text: text.into(),
        }
    }

    fn slot(seq: u64, s: &Saved) -> std::vec::Vec<u8> {
        let mut buf = vec![0u8; SLOT_SIZE];
        let n = encode(seq, s, &mut buf).unwrap();
        assert_eq!(n % 512, 0);
        buf
    }

    #[test]
    fn encode_decode_round_trip() {
        for s in [saved("enforcement drop\n", Some(7)), saved("", None)] {
            assert_eq!(decode(&slot(42, &s)), Ok((42, s)));
        }
    }

    #[test]
    fn a_next_identity_travels_with_the_identity_and_older_slots_still_read() {
        let mut two = saved("enforcement drop\n", Some(7));
        two.next_identity = Some([9; 32]);
        let image = slot(3, &two);
        assert_eq!(image[HEADER_LEN], 2);
        assert_eq!(decode(&image), Ok((3, two)));
        // Without a next key the slot is byte for byte what older appliances wrote.
        let one = saved("enforcement drop\n", Some(7));
        let image = slot(3, &one);
        assert_eq!(image[HEADER_LEN], 1);
        assert_eq!(&image[HEADER_LEN + 1..HEADER_LEN + 33], &[7; 32]);
        assert_eq!(decode(&image), Ok((3, one)));
        // A next key without an identity is not written.
        let mut orphan = saved("", None);
        orphan.next_identity = Some([9; 32]);
        let (_, back) = decode(&slot(1, &orphan)).unwrap();
        assert_eq!((back.identity, back.next_identity), (None, None));
        // Truncated tag-2 payloads are refused, not misread.
        let mut bad = slot(4, &saved("", Some(7)));
        bad[HEADER_LEN] = 2;
        let n = 33;
        let digest = Sha256::digest(&bad[..HEADER_LEN + n]);
        bad[HEADER_LEN + n..HEADER_LEN + n + DIGEST_LEN].copy_from_slice(&digest);
        assert_eq!(decode(&bad), Err(SlotError::BadPayload));
    }

    #[test]
    fn empty_disk_has_nothing_and_writes_slot_0_first() {
        let zero = vec![0u8; SLOT_SIZE];
        let sel = select(&zero, &zero);
        assert!(sel.newest.is_none());
        assert_eq!(sel.errors, [Some(SlotError::Empty), Some(SlotError::Empty)]);
        assert_eq!(sel.damaged().count(), 0);
        assert_eq!(sel.next_write(), (0, 1));
    }

    #[test]
    fn newest_valid_slot_wins_and_next_write_goes_to_the_other() {
        let a = slot(5, &saved("enforcement drop\n", Some(1)));
        let b = slot(6, &saved("enforcement allow\n", Some(1)));
        let sel = select(&a, &b);
        assert_eq!(sel.newest.as_ref().map(|n| (n.0, n.1)), Some((1, 6)));
        assert_eq!(sel.next_write(), (0, 7));
        let sel = select(&b, &a);
        assert_eq!(sel.newest.as_ref().map(|n| (n.0, n.1)), Some((0, 6)));
        assert_eq!(sel.next_write(), (1, 7));
    }

    #[test]
    fn every_torn_write_leaves_the_old_configuration() {
        // The old config sits in slot 0; slot 1 held an older one. A save of the new
        // config to slot 1 is cut after every possible number of sectors.
        let old = saved("enforcement drop\n", Some(1));
        let new = saved(&"peer remove x\n".repeat(100), Some(1));
        let s0 = slot(10, &old);
        let mut previous = slot(9, &saved("listen port 1\n", Some(1)));
        let image = slot(11, &new);
        let sectors = image.iter().rposition(|&b| b != 0).unwrap() / 512 + 1;
        for cut in 0..=sectors {
            let mut s1 = previous.clone();
            s1[..cut * 512].copy_from_slice(&image[..cut * 512]);
            let sel = select(&s0, &s1);
            let (_, seq, got) = sel.newest.expect("a valid slot");
            if cut == sectors {
                assert_eq!((seq, &got), (11, &new));
            } else {
                assert_eq!((seq, &got), (10, &old), "cut after {cut} sectors");
            }
        }
        previous.clear();
    }

    #[test]
    fn corruption_is_detected_not_loaded() {
        let good = slot(3, &saved("enforcement drop\n", None));
        // 21: in the version field, which the checksum covers too.
        for i in [0usize, 9, 17, 19, 21, 30, 40] {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            let want = match i {
                0..=7 => SlotError::Empty,
                19 => SlotError::BadLength, // the length now points past the slot
                _ => SlotError::BadChecksum,
            };
            assert_eq!(decode(&bad).unwrap_err(), want, "flip at {i}");
        }
        let mut huge = good.clone();
        huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&huge), Err(SlotError::BadLength));
        assert_eq!(decode(&good[..10]), Err(SlotError::Empty));
        assert_eq!(decode(&good[..50]), Err(SlotError::BadLength));
    }

    #[test]
    fn checksummed_but_malformed_payload_is_rejected() {
        let mut buf = vec![0u8; 1024];
        buf[..8].copy_from_slice(MAGIC);
        buf[16..20].copy_from_slice(&3u32.to_le_bytes());
        buf[HEADER_LEN..HEADER_LEN + 3].copy_from_slice(&[9, b'a', b'b']);
        let d = Sha256::digest(&buf[..HEADER_LEN + 3]);
        buf[HEADER_LEN + 3..HEADER_LEN + 35].copy_from_slice(&d);
        assert_eq!(decode(&buf), Err(SlotError::BadPayload));
    }

    /// A slot as an appliance of format 1 wrote it: zero where the version now is.
    fn format1_slot(seq: u64, s: &Saved) -> std::vec::Vec<u8> {
        let mut buf = slot(seq, s);
        let n = u32::from_le_bytes(buf[16..20].try_into().unwrap()) as usize;
        buf[20..24].fill(0);
        let d = Sha256::digest(&buf[..HEADER_LEN + n]);
        buf[HEADER_LEN + n..HEADER_LEN + n + DIGEST_LEN].copy_from_slice(&d);
        buf
    }

    /// A slot as a future appliance might write it: version `v`, some other payload.
    fn future_slot(seq: u64, v: u32) -> std::vec::Vec<u8> {
        let mut buf = vec![0u8; SLOT_SIZE];
        let payload = b"\x07something else entirely";
        buf[..8].copy_from_slice(MAGIC);
        buf[8..16].copy_from_slice(&seq.to_le_bytes());
        buf[16..20].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        buf[20..24].copy_from_slice(&v.to_le_bytes());
        buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
        let end = HEADER_LEN + payload.len();
        let d = Sha256::digest(&buf[..end]);
        buf[end..end + DIGEST_LEN].copy_from_slice(&d);
        buf
    }

    #[test]
    fn saves_carry_the_format_version() {
        let buf = slot(1, &saved("enforcement drop\n", Some(3)));
        assert_eq!(&buf[20..24], &FORMAT.to_le_bytes());
        assert_eq!(decode_with_format(&buf).map(|(_, v, _)| v), Ok(FORMAT));
        let sel = select(&buf, &vec![0u8; SLOT_SIZE]);
        assert_eq!(sel.upgraded_from(), None);
    }

    #[test]
    fn an_older_format_slot_is_read_and_says_what_the_next_save_writes() {
        let old = saved("enforcement drop\npeer remove x\n", Some(9));
        let s0 = format1_slot(4, &old);
        assert_eq!(decode_with_format(&s0), Ok((4, 1, old.clone())));
        let sel = select(&s0, &vec![0u8; SLOT_SIZE]);
        assert_eq!(sel.newest.as_ref().map(|n| &n.2), Some(&old));
        assert_eq!(sel.upgraded_from(), Some((1, FORMAT)));
        assert_eq!(sel.next_write(), (1, 5));
        // Once the newer appliance saved, the newest slot is of its format.
        let s1 = slot(5, &old);
        assert_eq!(select(&s0, &s1).upgraded_from(), None);
        // An older slot beside a newer one: the newest decides.
        assert_eq!(select(&s1, &format1_slot(3, &old)).upgraded_from(), None);
    }

    #[test]
    fn a_newer_format_is_refused_not_misread() {
        let s0 = future_slot(7, FORMAT + 1);
        assert_eq!(decode(&s0), Err(SlotError::NewerFormat(FORMAT + 1)));
        let sel = select(&s0, &slot(6, &saved("enforcement drop\n", Some(1))));
        assert_eq!(sel.newer_format(), Some(FORMAT + 1));
        assert_eq!(sel.damaged().count(), 1, "reported on the console");
        assert!(std::format!("{}", SlotError::NewerFormat(3)).contains("format 3"));
        // A damaged newer slot is damage, not a newer format.
        let mut torn = s0.clone();
        torn[30] ^= 1;
        assert_eq!(decode(&torn), Err(SlotError::BadChecksum));
        assert_eq!(
            decode(&future_slot(1, u32::MAX)),
            Err(SlotError::NewerFormat(u32::MAX))
        );
    }

    #[test]
    fn oversized_config_is_refused() {
        let s = saved(&"x".repeat(MAX_PAYLOAD), None);
        let mut buf = vec![0u8; SLOT_SIZE];
        assert_eq!(encode(1, &s, &mut buf), Err(SlotError::TooLarge));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let s = saved("", Some(0xAB));
        let shown = std::format!("{s:?}");
        assert!(
            !shown.contains("171") && !shown.to_lowercase().contains("ab, "),
            "{shown}"
        );
        assert!(shown.contains("<secret>"));
    }

    #[test]
    fn a_collector_listed_before_its_peer_still_loads() {
        let fp = "ab".repeat(32);
        let text = std::format!(
            "collector 10.2.0.9:2055 interval 60\n\
             peer add b endpoint 192.0.2.2:4433 fingerprint {fp} prefix 10.2.0.0/24\n"
        );
        let (c, errors) = load_text(&text);
        assert_eq!(errors, []);
        assert_eq!(c.collector.map(|c| c.interval_s), Some(60));
        // One with no protected path is reported with its own line number, not loaded.
        let (c, errors) = load_text("enforcement allow\ncollector 192.0.2.9:2055\n");
        assert_eq!(c.collector, None);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert!(
            errors[0].message.contains("in the clear"),
            "{:?}",
            errors[0]
        );
    }

    #[test]
    fn load_text_skips_comments_and_reports_bad_lines() {
        let (c, errors) = load_text("# comment\n\nenforcement drop\nfrob\nlisten port 99999\n");
        assert_eq!(c.enforcement, crate::Enforcement::DropUnencrypted);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].line, 4);
        assert!(errors[0].message.contains("'frob'"), "{:?}", errors[0]);
        assert_eq!(errors[1].line, 5);
    }
}
