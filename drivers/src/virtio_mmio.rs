//! Identifying a virtio-mmio transport from its register window.
//!
//! The window's first four registers say whether a device sits behind it: magic
//! "virt", the transport version (1 legacy, 2 modern), the virtio device id (0 =
//! an empty slot) and the vendor id. Drivers proper (virtio-net) come later.

/// "virt" in little-endian, at offset 0 of every virtio-mmio window.
pub const MAGIC: u32 = 0x7472_6976;

/// What a virtio-mmio window holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioMmioId {
    pub version: u32,
    pub device_id: u32,
    pub vendor_id: u32,
}

impl VirtioMmioId {
    /// Decodes the first four registers; `None` for a window without the magic, of
    /// an unknown version, or with no device behind it (device id 0).
    pub fn from_registers(
        magic: u32,
        version: u32,
        device_id: u32,
        vendor_id: u32,
    ) -> Option<Self> {
        (magic == MAGIC && (version == 1 || version == 2) && device_id != 0).then_some(Self {
            version,
            device_id,
            vendor_id,
        })
    }

    /// A short name of the device type.
    pub fn kind(&self) -> &'static str {
        match self.device_id {
            1 => "virtio-net",
            2 => "virtio-blk",
            3 => "virtio-console",
            4 => "virtio-rng",
            5 => "virtio-balloon",
            9 => "virtio-9p",
            16 => "virtio-gpu",
            18 => "virtio-input",
            19 => "virtio-vsock",
            _ => "virtio",
        }
    }
}

/// Reads the identification registers of the window at `base`.
///
/// # Safety
/// `base` must be the physical (identity-mapped, uncached) address of a
/// virtio-mmio register window of at least 16 bytes, such as one named by a
/// `virtio_mmio.device=` entry of the command line.
pub unsafe fn probe(base: u64) -> Option<VirtioMmioId> {
    let reg = |off: u64| {
        let p = (base + off) as *const u32;
        // SAFETY: the caller vouches for a mapped register window; these four
        // registers are read-only and reading them has no side effect.
        unsafe { p.read_volatile() }
    };
    VirtioMmioId::from_registers(reg(0x0), reg(0x4), reg(0x8), reg(0xc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_net_device() {
        let id = VirtioMmioId::from_registers(MAGIC, 2, 1, 0x554d_4551).unwrap();
        assert_eq!(id.kind(), "virtio-net");
        assert_eq!(id.vendor_id, 0x554d_4551);
    }

    #[test]
    fn rejects_empty_or_foreign_windows() {
        assert_eq!(VirtioMmioId::from_registers(MAGIC, 2, 0, 0x554d_4551), None);
        assert_eq!(VirtioMmioId::from_registers(0xffff_ffff, 2, 1, 0), None);
        assert_eq!(VirtioMmioId::from_registers(MAGIC, 3, 1, 0), None);
        assert_eq!(
            VirtioMmioId::from_registers(MAGIC, 1, 2, 0).map(|d| d.kind()),
            Some("virtio-blk")
        );
    }
}
