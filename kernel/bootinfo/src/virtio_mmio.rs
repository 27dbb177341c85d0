//! `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` command line entries, the way
//! QEMU's microvm (with `acpi=off`) and Firecracker describe virtio-mmio devices.
//! Numbers follow the Linux conventions: size takes a K/M/G suffix, base and size
//! are decimal, `0x` hexadecimal or `0` octal; irq and id are decimal.

/// One virtio-mmio device window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioMmioDevice {
    pub base: u64,
    pub size: u64,
    pub irq: u32,
    /// The platform device id, when given.
    pub id: Option<u32>,
}

/// Why a `virtio_mmio.device=` entry was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtioMmioError {
    /// No `@` between size and base.
    MissingBase,
    /// No `:` before the interrupt number.
    MissingIrq,
    /// The size is not a number, is zero, or overflows.
    BadSize,
    /// The base address is not a number, or base + size overflows.
    BadBase,
    /// The interrupt number is not a decimal `u32`.
    BadIrq,
    /// The id is not a decimal `u32`.
    BadId,
}

impl core::fmt::Display for VirtioMmioError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::MissingBase => "virtio_mmio.device: missing '@<base>'",
            Self::MissingIrq => "virtio_mmio.device: missing ':<irq>'",
            Self::BadSize => "virtio_mmio.device: bad size",
            Self::BadBase => "virtio_mmio.device: bad base address",
            Self::BadIrq => "virtio_mmio.device: bad irq",
            Self::BadId => "virtio_mmio.device: bad id",
        })
    }
}

impl VirtioMmioDevice {
    /// Parses the value of one `virtio_mmio.device=` parameter.
    pub fn parse(v: &str) -> Result<Self, VirtioMmioError> {
        let (size, rest) = v.split_once('@').ok_or(VirtioMmioError::MissingBase)?;
        let (base, rest) = rest.split_once(':').ok_or(VirtioMmioError::MissingIrq)?;
        let (irq, id) = match rest.split_once(':') {
            Some((irq, id)) => (irq, Some(id)),
            None => (rest, None),
        };
        let size = parse_size(size)
            .filter(|&s| s > 0)
            .ok_or(VirtioMmioError::BadSize)?;
        let base = parse_number(base).ok_or(VirtioMmioError::BadBase)?;
        base.checked_add(size).ok_or(VirtioMmioError::BadBase)?;
        let irq = parse_decimal(irq).ok_or(VirtioMmioError::BadIrq)?;
        let id = match id {
            Some(id) => Some(parse_decimal(id).ok_or(VirtioMmioError::BadId)?),
            None => None,
        };
        Ok(Self {
            base,
            size,
            irq,
            id,
        })
    }
}

fn parse_decimal(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A number in C's `strtoull(s, 0)` notation, without sign.
fn parse_number(s: &str) -> Option<u64> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// A number with an optional K/M/G suffix (powers of 1024), like Linux `memparse`.
fn parse_size(s: &str) -> Option<u64> {
    let (num, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    parse_number(num)?.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_microvm_entry() {
        assert_eq!(
            VirtioMmioDevice::parse("512@0xfeb00e00:12"),
            Ok(VirtioMmioDevice {
                base: 0xfeb0_0e00,
                size: 512,
                irq: 12,
                id: None
            })
        );
    }

    #[test]
    fn parses_suffixes_and_id() {
        assert_eq!(
            VirtioMmioDevice::parse("4K@0xd0000000:5:3"),
            Ok(VirtioMmioDevice {
                base: 0xd000_0000,
                size: 4096,
                irq: 5,
                id: Some(3)
            })
        );
        assert_eq!(
            VirtioMmioDevice::parse("1M@4096:1").map(|d| (d.size, d.base)),
            Ok((1 << 20, 4096))
        );
        assert_eq!(
            VirtioMmioDevice::parse("0x200@010:1").map(|d| (d.size, d.base)),
            Ok((512, 8))
        );
    }

    #[test]
    fn rejects_malformed_entries() {
        use VirtioMmioError::*;
        let cases = [
            ("", MissingBase),
            ("512", MissingBase),
            ("512@0x1000", MissingIrq),
            ("@0x1000:1", BadSize),
            ("0@0x1000:1", BadSize),
            ("99999999999999999999G@0:1", BadSize),
            ("16G@0xffffffffffffffff:1", BadBase),
            ("512@0xzz:1", BadBase),
            ("512@0x:1", BadBase),
            ("512@0x1000:", BadIrq),
            ("512@0x1000:-1", BadIrq),
            ("512@0x1000:+1", BadIrq),
            ("512@0x1000:99999999999", BadIrq),
            ("512@0x1000:1:x", BadId),
            ("512@0x1000:1:2:3", BadId),
            ("512@09:1", BadBase),
        ];
        for (input, want) in cases {
            assert_eq!(VirtioMmioDevice::parse(input), Err(want), "{input:?}");
        }
    }
}
