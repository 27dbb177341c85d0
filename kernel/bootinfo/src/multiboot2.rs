//! The multiboot2 boot information structure (as GRUB 2 passes it), reduced to the
//! tags the appliance uses: the command line (type 1) and the memory map (type 6).

use crate::bytes::u32_at;
use crate::memory::MemoryRegion;
use crate::BootInfoError;

/// The value a multiboot2 loader leaves in `%eax`.
pub const MULTIBOOT2_BOOT_MAGIC: u32 = 0x36d7_6289;

const TAG_END: u32 = 0;
const TAG_CMDLINE: u32 = 1;
const TAG_MMAP: u32 = 6;

/// The tags of one boot information structure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Multiboot2Info<'a> {
    /// The command line bytes, without the terminating NUL.
    pub cmdline: Option<&'a [u8]>,
    mmap: Option<(&'a [u8], usize)>,
}

impl<'a> Multiboot2Info<'a> {
    /// Reads the structure's total size from its first four bytes.
    pub fn total_size(header: &[u8]) -> Result<usize, BootInfoError> {
        let n = u32_at(header, 0).ok_or(BootInfoError::Truncated)? as usize;
        if n < 8 {
            return Err(BootInfoError::BadLength);
        }
        Ok(n)
    }

    /// Parses the tags of the whole structure (`total_size` bytes).
    pub fn parse(b: &'a [u8]) -> Result<Self, BootInfoError> {
        let total = Self::total_size(b)?;
        let b = b.get(..total).ok_or(BootInfoError::Truncated)?;
        let mut info = Self::default();
        let mut off = 8usize;
        loop {
            let kind = u32_at(b, off).ok_or(BootInfoError::Truncated)?;
            let size = u32_at(b, off + 4).ok_or(BootInfoError::Truncated)? as usize;
            if size < 8 {
                return Err(BootInfoError::BadLength);
            }
            let end = off.checked_add(size).ok_or(BootInfoError::BadLength)?;
            let tag = b.get(off..end).ok_or(BootInfoError::Truncated)?;
            match kind {
                TAG_END => return Ok(info),
                TAG_CMDLINE => {
                    let s = &tag[8..];
                    let n = s.iter().position(|&c| c == 0).unwrap_or(s.len());
                    info.cmdline = Some(&s[..n]);
                }
                TAG_MMAP => {
                    let entry_size = u32_at(tag, 8).ok_or(BootInfoError::Truncated)? as usize;
                    if entry_size < 20 {
                        return Err(BootInfoError::BadLength);
                    }
                    info.mmap = Some((tag.get(16..).ok_or(BootInfoError::Truncated)?, entry_size));
                }
                _ => {}
            }
            // Tags are padded to 8 bytes.
            off = end.checked_add(7).ok_or(BootInfoError::BadLength)? & !7;
        }
    }

    /// The memory map entries (empty when the loader gave no memory map tag).
    pub fn memory_map(&self) -> impl Iterator<Item = MemoryRegion> + 'a {
        let (bytes, entry_size) = self.mmap.unwrap_or((&[], 24));
        MemoryRegion::iter_e820(bytes, entry_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryKind;
    use std::vec::Vec;

    fn tag(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&kind.to_le_bytes());
        v.extend_from_slice(&(8 + body.len() as u32).to_le_bytes());
        v.extend_from_slice(body);
        while v.len() % 8 != 0 {
            v.push(0);
        }
        v
    }

    fn info(tags: &[Vec<u8>]) -> Vec<u8> {
        let mut body: Vec<u8> = tags.concat();
        body.extend(tag(TAG_END, &[]));
        let mut v = Vec::new();
        v.extend_from_slice(&(8 + body.len() as u32).to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend(body);
        v
    }

    fn mmap_tag() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&24u32.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        for (start, len, kind) in [(0u64, 0x9fc00u64, 1u32), (0x100000, 0x7f00000, 1)] {
            body.extend_from_slice(&start.to_le_bytes());
            body.extend_from_slice(&len.to_le_bytes());
            body.extend_from_slice(&kind.to_le_bytes());
            body.extend_from_slice(&0u32.to_le_bytes());
        }
        body
    }

    #[test]
    fn finds_cmdline_and_memory_map() {
        let b = info(&[
            tag(2, b"GRUB 2.06\0"),
            tag(TAG_CMDLINE, b"console=ttyS0\0"),
            tag(TAG_MMAP, &mmap_tag()),
        ]);
        let i = Multiboot2Info::parse(&b).unwrap();
        assert_eq!(i.cmdline, Some(&b"console=ttyS0"[..]));
        let m: Vec<_> = i.memory_map().collect();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].start, 0x100000);
        assert_eq!(m[1].kind, MemoryKind::Usable);
    }

    #[test]
    fn no_tags_is_empty() {
        let b = info(&[]);
        let i = Multiboot2Info::parse(&b).unwrap();
        assert_eq!(i.cmdline, None);
        assert_eq!(i.memory_map().count(), 0);
    }

    #[test]
    fn rejects_malformed_structures() {
        let good = info(&[tag(TAG_CMDLINE, b"x\0")]);
        // Missing end tag (cut short).
        assert_eq!(
            Multiboot2Info::parse(&good[..good.len() - 8]).map(|_| ()),
            Err(BootInfoError::Truncated)
        );
        // A tag whose size is below the tag header.
        let mut bad = good.clone();
        bad[12..16].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(
            Multiboot2Info::parse(&bad).map(|_| ()),
            Err(BootInfoError::BadLength)
        );
        // A tag running past the structure.
        let mut bad = good.clone();
        bad[12..16].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert!(Multiboot2Info::parse(&bad).is_err());
        assert_eq!(
            Multiboot2Info::total_size(&[4, 0, 0, 0]),
            Err(BootInfoError::BadLength)
        );
    }

    #[test]
    fn never_panics_on_any_prefix_or_byte_flip() {
        let good = info(&[tag(TAG_CMDLINE, b"a=b\0"), tag(TAG_MMAP, &mmap_tag())]);
        for n in 0..good.len() {
            let _ = Multiboot2Info::parse(&good[..n]);
        }
        for i in 0..good.len() {
            for v in [0u8, 1, 7, 0x80, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                if let Ok(info) = Multiboot2Info::parse(&b) {
                    let _ = info.memory_map().count();
                }
            }
        }
    }
}
