//! The kernel command line: whitespace-separated `key` or `key=value` parameters,
//! where a value may be double-quoted to hold spaces (the Linux convention, which
//! QEMU, Firecracker and GRUB users expect).

use crate::virtio_mmio::{VirtioMmioDevice, VirtioMmioError};

/// One parameter of the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    pub key: &'a str,
    pub value: Option<&'a str>,
}

/// A parsed view of the command line. Never fails: bytes after the first invalid
/// UTF-8 sequence are ignored, and a missing closing quote ends at the line's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmdline<'a> {
    text: &'a str,
}

impl<'a> Cmdline<'a> {
    /// Views the command line bytes (without the terminating NUL).
    pub fn from_bytes(bytes: &'a [u8]) -> Self {
        let text = match core::str::from_utf8(bytes) {
            Ok(s) => s,
            // The prefix up to `valid_up_to` is valid UTF-8 by definition.
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
        };
        Self { text }
    }

    /// The command line as text.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The parameters in order.
    pub fn params(&self) -> Params<'a> {
        Params { rest: self.text }
    }

    /// The value of the last parameter named `key` (`Some(None)` if it has no `=`).
    pub fn get(&self, key: &str) -> Option<Option<&'a str>> {
        self.params()
            .filter(|p| p.key == key)
            .last()
            .map(|p| p.value)
    }

    /// Every `virtio_mmio.device=` entry, parsed.
    pub fn virtio_mmio_devices(
        &self,
    ) -> impl Iterator<Item = Result<VirtioMmioDevice, VirtioMmioError>> + 'a {
        self.params()
            .filter(|p| p.key == "virtio_mmio.device")
            .map(|p| VirtioMmioDevice::parse(p.value.unwrap_or("")))
    }
}

/// Iterator over the parameters of a command line.
#[derive(Clone, Debug)]
pub struct Params<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        let s = self
            .rest
            .trim_start_matches(|c: char| c.is_ascii_whitespace());
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        // A token ends at whitespace outside double quotes.
        let mut in_quotes = false;
        let mut end = s.len();
        for (i, c) in s.char_indices() {
            if c == '"' {
                in_quotes = !in_quotes;
            } else if c.is_ascii_whitespace() && !in_quotes {
                end = i;
                break;
            }
        }
        let (token, rest) = s.split_at(end);
        self.rest = rest;
        Some(match token.split_once('=') {
            Some((key, value)) => Param {
                key,
                value: Some(unquote(value)),
            },
            None => Param {
                key: token,
                value: None,
            },
        })
    }
}

fn unquote(v: &str) -> &str {
    let v = v.strip_prefix('"').unwrap_or(v);
    v.strip_suffix('"').unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn splits_keys_and_values() {
        let c = Cmdline::from_bytes(b"  console=ttyS0 quiet  vnetcrypt.log=info ");
        let p: Vec<_> = c.params().collect();
        assert_eq!(
            p,
            [
                Param {
                    key: "console",
                    value: Some("ttyS0")
                },
                Param {
                    key: "quiet",
                    value: None
                },
                Param {
                    key: "vnetcrypt.log",
                    value: Some("info")
                },
            ]
        );
        assert_eq!(c.get("quiet"), Some(None));
        assert_eq!(c.get("console"), Some(Some("ttyS0")));
        assert_eq!(c.get("missing"), None);
    }

    #[test]
    fn quoted_values_keep_spaces() {
        let c = Cmdline::from_bytes(b"name=\"a b  c\" x=1");
        assert_eq!(c.get("name"), Some(Some("a b  c")));
        assert_eq!(c.get("x"), Some(Some("1")));
        // An unclosed quote runs to the end and never panics.
        let c = Cmdline::from_bytes(b"name=\"a b");
        assert_eq!(c.get("name"), Some(Some("a b")));
    }

    #[test]
    fn last_value_wins_and_value_may_hold_equals() {
        let c = Cmdline::from_bytes(b"k=1 k=2 e=a=b");
        assert_eq!(c.get("k"), Some(Some("2")));
        assert_eq!(c.get("e"), Some(Some("a=b")));
    }

    #[test]
    fn invalid_utf8_truncates() {
        let c = Cmdline::from_bytes(b"a=1 b=\xff\xfe c=3");
        assert_eq!(c.as_str(), "a=1 b=");
        assert_eq!(c.get("c"), None);
        assert_eq!(Cmdline::from_bytes(b"").params().count(), 0);
    }

    #[test]
    fn finds_virtio_mmio_devices_as_qemu_appends_them() {
        let c = Cmdline::from_bytes(
            b"console=ttyS0 virtio_mmio.device=512@0xfeb00e00:12 virtio_mmio.device=512@0xfeb00c00:11 virtio_mmio.device=bad",
        );
        let d: Vec<_> = c.virtio_mmio_devices().collect();
        assert_eq!(d.len(), 3);
        assert_eq!(
            d[0],
            Ok(VirtioMmioDevice {
                base: 0xfeb00e00,
                size: 512,
                irq: 12,
                id: None
            })
        );
        assert_eq!(d[1].as_ref().map(|d| d.irq), Ok(11));
        assert!(d[2].is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let alphabet = b"a=\" \t\xff\x00=\"xy";
        let mut seed = 0x1234_5678u32;
        for _ in 0..5000 {
            let mut buf = [0u8; 24];
            for b in buf.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                *b = alphabet[(seed as usize) % alphabet.len()];
            }
            let c = Cmdline::from_bytes(&buf);
            for p in c.params() {
                // Whitespace only ever appears inside quotes.
                assert!(!p.key.contains(' ') || p.key.contains('"'));
            }
            let _ = c.virtio_mmio_devices().count();
        }
    }
}
