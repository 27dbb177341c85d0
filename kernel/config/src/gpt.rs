//! Finding the configuration area on a disk.
//!
//! A deployable image (`image/mkimage.sh`) is a GPT disk whose configuration lives in
//! the partition of type [`CONFIG_PARTITION_TYPE`]. A disk without a GPT (what
//! `vnetcrypt-provision` writes, or a blank disk given to the appliance) is a
//! configuration area from its first sector. Disk contents are untrusted: a malformed
//! table yields an error, never a panic or an area outside the disk.

/// `0f949086-ed54-4849-8714-99ed7ed93811`, in GPT's on-disk (mixed-endian) byte order.
pub const CONFIG_PARTITION_TYPE: [u8; 16] = [
    0x86, 0x90, 0x94, 0x0f, 0x54, 0xed, 0x49, 0x48, 0x87, 0x14, 0x99, 0xed, 0x7e, 0xd9, 0x38, 0x11,
];

const SIGNATURE: &[u8; 8] = b"EFI PART";

/// What LBA 1 says about the partition entry array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GptHeader {
    pub entries_lba: u64,
    pub entry_count: u32,
    pub entry_size: u32,
}

impl GptHeader {
    /// Bytes of the entry array (bounded: at most 128 KiB is read).
    pub fn entries_len(&self) -> usize {
        (self.entry_count as usize).saturating_mul(self.entry_size as usize)
    }
}

/// Why a GPT was not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GptError {
    /// LBA 1 has no GPT signature: the disk is not partitioned.
    NotGpt,
    /// The header's checksum or fields are wrong.
    BadHeader,
    /// The table has no configuration partition.
    NoConfigPartition,
    /// The configuration partition lies outside the disk or is too small.
    BadPartition,
}

/// Parses the GPT header in LBA 1.
pub fn parse_header(lba1: &[u8]) -> Result<GptHeader, GptError> {
    if lba1.get(..8) != Some(SIGNATURE.as_slice()) {
        return Err(GptError::NotGpt);
    }
    let u32_at = |o: usize| {
        lba1.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        lba1.get(o..o + 8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    };
    let header_size = u32_at(12).ok_or(GptError::BadHeader)? as usize;
    if !(92..=lba1.len()).contains(&header_size) {
        return Err(GptError::BadHeader);
    }
    let stored_crc = u32_at(16).ok_or(GptError::BadHeader)?;
    let mut crc = Crc32::new();
    crc.update(&lba1[..16]);
    crc.update(&[0; 4]);
    crc.update(&lba1[20..header_size]);
    if crc.finish() != stored_crc {
        return Err(GptError::BadHeader);
    }
    let h = GptHeader {
        entries_lba: u64_at(72).ok_or(GptError::BadHeader)?,
        entry_count: u32_at(80).ok_or(GptError::BadHeader)?,
        entry_size: u32_at(84).ok_or(GptError::BadHeader)?,
    };
    if h.entry_size < 128
        || !h.entry_size.is_multiple_of(8)
        || h.entries_len() > 128 * 1024
        || h.entries_lba < 2
    {
        return Err(GptError::BadHeader);
    }
    Ok(h)
}

/// Finds the configuration partition in the entry array; returns its first LBA and its
/// length in sectors, checked against the disk size.
pub fn find_config(
    header: &GptHeader,
    entries: &[u8],
    disk_sectors: u64,
) -> Result<(u64, u64), GptError> {
    let size = header.entry_size as usize;
    for e in entries.chunks_exact(size).take(header.entry_count as usize) {
        if e[..16] != CONFIG_PARTITION_TYPE {
            continue;
        }
        let mut first = [0u8; 8];
        let mut last = [0u8; 8];
        first.copy_from_slice(&e[32..40]);
        last.copy_from_slice(&e[40..48]);
        let (first, last) = (u64::from_le_bytes(first), u64::from_le_bytes(last));
        if first < 2 || last < first || last >= disk_sectors {
            return Err(GptError::BadPartition);
        }
        let sectors = last - first + 1;
        if sectors * 512 < 2 * crate::store::SLOT_SIZE as u64 {
            return Err(GptError::BadPartition);
        }
        return Ok((first, sectors));
    }
    Err(GptError::NoConfigPartition)
}

/// CRC-32 (IEEE 802.3, reflected), as GPT uses. Bitwise: only run on a few hundred bytes.
struct Crc32(u32);

impl Crc32 {
    fn new() -> Self {
        Crc32(0xffff_ffff)
    }
    fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= u32::from(b);
            for _ in 0..8 {
                let mask = (self.0 & 1).wrapping_neg();
                self.0 = (self.0 >> 1) ^ (0xedb8_8320 & mask);
            }
        }
    }
    fn finish(self) -> u32 {
        !self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn crc32_known_value() {
        let mut c = Crc32::new();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xcbf4_3926);
    }

    /// A GPT as sgdisk would write it, built here byte by byte.
    fn disk(config_first: u64, config_last: u64) -> (Vec<u8>, Vec<u8>) {
        let mut entries = std::vec![0u8; 128 * 128];
        let e = &mut entries[128..256];
        e[..16].copy_from_slice(&CONFIG_PARTITION_TYPE);
        e[32..40].copy_from_slice(&config_first.to_le_bytes());
        e[40..48].copy_from_slice(&config_last.to_le_bytes());
        let mut h = std::vec![0u8; 512];
        h[..8].copy_from_slice(SIGNATURE);
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[72..80].copy_from_slice(&2u64.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        let mut c = Crc32::new();
        c.update(&h[..92]);
        let crc = c.finish();
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        (h, entries)
    }

    #[test]
    fn finds_the_config_partition() {
        let (h, entries) = disk(20480, 22527);
        let header = parse_header(&h).unwrap();
        assert_eq!(header.entries_len(), 128 * 128);
        assert_eq!(find_config(&header, &entries, 24576), Ok((20480, 2048)));
    }

    #[test]
    fn rejects_what_does_not_add_up() {
        let (mut h, entries) = disk(20480, 22527);
        assert_eq!(parse_header(&[0u8; 512]), Err(GptError::NotGpt));
        assert_eq!(parse_header(&h[..40]), Err(GptError::BadHeader));
        h[80] ^= 1;
        assert_eq!(
            parse_header(&h),
            Err(GptError::BadHeader),
            "checksum must catch a flipped bit"
        );
        let (h, _) = disk(20480, 22527);
        let header = parse_header(&h).unwrap();
        assert_eq!(
            find_config(&header, &entries, 21000),
            Err(GptError::BadPartition)
        );
        let (h2, e2) = disk(20480, 20490);
        assert_eq!(
            find_config(&parse_header(&h2).unwrap(), &e2, 24576),
            Err(GptError::BadPartition)
        );
        let (h3, e3) = disk(30, 10);
        assert_eq!(
            find_config(&parse_header(&h3).unwrap(), &e3, 24576),
            Err(GptError::BadPartition)
        );
        assert_eq!(
            find_config(&header, &[0u8; 1024], 24576),
            Err(GptError::NoConfigPartition)
        );
        // A short entry array is searched as far as it goes, never past its end.
        assert_eq!(
            find_config(&header, &entries[..200], 24576),
            Err(GptError::NoConfigPartition)
        );
    }
}
