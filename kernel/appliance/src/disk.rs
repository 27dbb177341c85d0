//! The configuration disk on virtio-blk (`virtio-drivers`), over either transport: the
//! node's [`BlockDevice`].

use alloc::boxed::Box;
use virtio_drivers::device::blk::VirtIOBlk;
use virtio_drivers::transport::Transport;
use virtio_drivers::Hal;
use vnetcrypt_node::{BlockDevice, IoError, SECTOR};

pub struct VirtioDisk<H: Hal, T: Transport> {
    blk: VirtIOBlk<H, T>,
}

impl<H: Hal, T: Transport> VirtioDisk<H, T> {
    pub fn new(transport: T) -> Option<Self> {
        VirtIOBlk::new(transport).ok().map(|blk| Self { blk })
    }
}

impl<H: Hal, T: Transport> BlockDevice for VirtioDisk<H, T> {
    fn sectors(&self) -> u64 {
        self.blk.capacity()
    }

    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), IoError> {
        check(lba, buf.len(), self.sectors())?;
        self.blk.read_blocks(lba as usize, buf).map_err(|_| IoError)
    }

    fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError> {
        check(lba, buf.len(), self.sectors())?;
        if self.blk.readonly() {
            return Err(IoError);
        }
        self.blk
            .write_blocks(lba as usize, buf)
            .map_err(|_| IoError)
    }

    fn flush(&mut self) -> Result<(), IoError> {
        self.blk.flush().map_err(|_| IoError)
    }
}

/// Whole sectors, inside the disk.
fn check(lba: u64, len: usize, sectors: u64) -> Result<(), IoError> {
    let n = (len / SECTOR) as u64;
    if len == 0 || !len.is_multiple_of(SECTOR) || lba.checked_add(n).is_none_or(|end| end > sectors)
    {
        return Err(IoError);
    }
    Ok(())
}

/// Takes every virtio-blk device, in discovery order; the node picks the
/// configuration disk among them (`vnetcrypt_node::choose_config_disk`).
pub fn take_all(
    devices: &mut alloc::vec::Vec<crate::virtio::VirtioDevice>,
) -> alloc::vec::Vec<Box<dyn BlockDevice>> {
    use crate::virtio::{hal::KernelHal, DeviceType};
    let mut disks: alloc::vec::Vec<Box<dyn BlockDevice>> = alloc::vec::Vec::new();
    while let Some(i) = devices.iter().position(|d| d.kind == DeviceType::Block) {
        let dev = devices.remove(i);
        let location = dev.location;
        match VirtioDisk::<KernelHal, _>::new(dev.transport) {
            Some(d) => {
                defmt::info!("virtio-blk at {=str}", location.as_str());
                disks.push(Box::new(d));
            }
            None => {
                defmt::warn!("virtio-blk at {=str} did not initialise", location.as_str());
            }
        }
    }
    disks
}
