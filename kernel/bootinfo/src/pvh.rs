//! The PVH boot protocol's `hvm_start_info` (Xen `arch-x86/hvm/start_info.h`), as
//! QEMU, Firecracker and cloud-hypervisor fill it.

use crate::bytes::{u32_at, u64_at};
use crate::BootInfoError;

/// `hvm_start_info.magic`: "xEn3" with the high bit of the last byte set.
pub const PVH_START_MAGIC: u32 = 0x336e_c578;
/// Length of `hvm_start_info` up to and including the version-1 memory map fields.
pub const PVH_START_INFO_LEN: usize = 56;
/// Length of one `hvm_memmap_table_entry`.
pub const PVH_MEMMAP_ENTRY_LEN: usize = 24;

/// The fields of `hvm_start_info` the appliance uses. Addresses are physical; zero
/// means "not given".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PvhStartInfo {
    pub version: u32,
    pub cmdline_paddr: u64,
    pub rsdp_paddr: u64,
    pub memmap_paddr: u64,
    pub memmap_entries: u32,
}

impl PvhStartInfo {
    /// Parses the start info. A version-0 structure has no memory map: its
    /// `memmap_entries` is reported as zero whatever the bytes after it hold.
    pub fn parse(b: &[u8]) -> Result<Self, BootInfoError> {
        let magic = u32_at(b, 0).ok_or(BootInfoError::Truncated)?;
        if magic != PVH_START_MAGIC {
            return Err(BootInfoError::BadMagic(magic));
        }
        let version = u32_at(b, 4).ok_or(BootInfoError::Truncated)?;
        let cmdline_paddr = u64_at(b, 24).ok_or(BootInfoError::Truncated)?;
        let rsdp_paddr = u64_at(b, 32).ok_or(BootInfoError::Truncated)?;
        let (memmap_paddr, memmap_entries) = if version >= 1 {
            (
                u64_at(b, 40).ok_or(BootInfoError::Truncated)?,
                u32_at(b, 48).ok_or(BootInfoError::Truncated)?,
            )
        } else {
            (0, 0)
        };
        Ok(Self {
            version,
            cmdline_paddr,
            rsdp_paddr,
            memmap_paddr,
            memmap_entries,
        })
    }

    /// Byte length of the memory map table, `None` if it would overflow.
    pub fn memmap_len(&self) -> Option<usize> {
        (self.memmap_entries as usize).checked_mul(PVH_MEMMAP_ENTRY_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_info(version: u32) -> [u8; PVH_START_INFO_LEN] {
        let mut b = [0u8; PVH_START_INFO_LEN];
        b[0..4].copy_from_slice(&PVH_START_MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&version.to_le_bytes());
        b[24..32].copy_from_slice(&0x2000u64.to_le_bytes());
        b[40..48].copy_from_slice(&0x3000u64.to_le_bytes());
        b[48..52].copy_from_slice(&5u32.to_le_bytes());
        b
    }

    #[test]
    fn parses_version_1() {
        let s = PvhStartInfo::parse(&start_info(1)).unwrap();
        assert_eq!(s.cmdline_paddr, 0x2000);
        assert_eq!(s.memmap_paddr, 0x3000);
        assert_eq!(s.memmap_entries, 5);
        assert_eq!(s.memmap_len(), Some(120));
    }

    #[test]
    fn version_0_has_no_memmap() {
        let s = PvhStartInfo::parse(&start_info(0)).unwrap();
        assert_eq!((s.memmap_paddr, s.memmap_entries), (0, 0));
    }

    #[test]
    fn rejects_bad_magic_and_truncation() {
        let mut b = start_info(1);
        assert_eq!(PvhStartInfo::parse(&b[..30]), Err(BootInfoError::Truncated));
        assert_eq!(PvhStartInfo::parse(&b[..44]), Err(BootInfoError::Truncated));
        assert_eq!(PvhStartInfo::parse(&b[..2]), Err(BootInfoError::Truncated));
        b[0] = 0;
        assert!(matches!(
            PvhStartInfo::parse(&b),
            Err(BootInfoError::BadMagic(_))
        ));
    }
}
