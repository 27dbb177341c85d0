//! A peer's pinned identity, as bytes.

use core::fmt;

/// The SHA-256 of a DER SubjectPublicKeyInfo (HPKP `pin-sha256`): what a peer pins.
/// Shown as 64 lowercase hex digits; parsed from that or the colon-separated form.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Parses 64 hex digits, optionally with a colon between bytes; `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        let mut n = 0;
        let mut hi: Option<u8> = None;
        for c in s.bytes() {
            if c == b':' {
                if hi.is_some() {
                    return None;
                }
                continue;
            }
            let v = (c as char).to_digit(16)? as u8;
            match hi.take() {
                None => hi = Some(v),
                Some(h) => {
                    *out.get_mut(n)? = h << 4 | v;
                    n += 1;
                }
            }
        }
        (n == 32 && hi.is_none()).then_some(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_colon_forms() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let f = Fingerprint::parse(hex).unwrap();
        assert_eq!(f.0[0], 0x00);
        assert_eq!(f.0[1], 0x11);
        assert_eq!(f.0[31], 0xff);
        assert_eq!(std::format!("{f}"), hex);
        let colons: std::string::String =
            f.0.iter()
                .map(|b| std::format!("{b:02X}"))
                .collect::<std::vec::Vec<_>>()
                .join(":");
        assert_eq!(Fingerprint::parse(&colons), Some(f));
        assert_eq!(Fingerprint::parse(&hex[..62]), None);
        assert_eq!(Fingerprint::parse(&std::format!("{hex}00")), None);
        assert_eq!(Fingerprint::parse("zz"), None);
        assert_eq!(Fingerprint::parse("0:0"), None);
        assert_eq!(Fingerprint::parse(""), None);
    }
}
