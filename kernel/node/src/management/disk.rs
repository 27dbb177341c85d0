//! The configuration disk: the two-slot store of `vnetcrypt_config::store` on a block
//! device, found as a GPT partition of the configuration type or, on a disk without a
//! GPT, from sector 0.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use vnetcrypt_config::gpt::{self, GptError};
use vnetcrypt_config::store::{self, Saved, Selection, SlotError, SLOT_SIZE};
use zeroize::Zeroizing;

pub const SECTOR: usize = 512;
const SLOT_SECTORS: u64 = (SLOT_SIZE / SECTOR) as u64;

/// A disk, sector by sector.
pub trait BlockDevice {
    fn sectors(&self) -> u64;
    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), IoError>;
    fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError>;
    fn flush(&mut self) -> Result<(), IoError>;
}

impl<D: BlockDevice + ?Sized> BlockDevice for alloc::boxed::Box<D> {
    fn sectors(&self) -> u64 {
        (**self).sectors()
    }
    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), IoError> {
        (**self).read(lba, buf)
    }
    fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError> {
        (**self).write(lba, buf)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        (**self).flush()
    }
}

/// The device refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskError {
    /// No configuration disk is attached.
    Absent,
    Io,
    /// Too small to hold two slots.
    TooSmall,
    /// A GPT without a usable configuration partition.
    Gpt(GptError),
    Slot(SlotError),
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskError::Absent => f.write_str("no configuration disk attached"),
            DiskError::Io => f.write_str("disk I/O error"),
            DiskError::TooSmall => f.write_str("disk too small for the configuration slots"),
            DiskError::Gpt(GptError::NoConfigPartition) => {
                f.write_str("partitioned disk without a vnetcrypt-config partition")
            }
            DiskError::Gpt(e) => write!(f, "unusable partition table ({e:?})"),
            DiskError::Slot(e) => write!(f, "{e}"),
        }
    }
}

impl From<IoError> for DiskError {
    fn from(_: IoError) -> Self {
        DiskError::Io
    }
}

pub struct ConfigDisk<D: BlockDevice> {
    dev: D,
    /// First sector of the configuration area.
    base: u64,
    /// "partition" or "whole disk", for the console.
    pub layout: &'static str,
    /// The slot and sequence number the next save uses.
    next: (usize, u64),
}

impl<D: BlockDevice> ConfigDisk<D> {
    /// Finds the configuration area.
    pub fn open(mut dev: D) -> Result<Self, DiskError> {
        let mut lba1 = [0u8; SECTOR];
        dev.read(1, &mut lba1)?;
        let (base, len, layout) = match gpt::parse_header(&lba1) {
            Ok(h) => {
                let mut entries = vec![0u8; h.entries_len().div_ceil(SECTOR) * SECTOR];
                dev.read(h.entries_lba, &mut entries)?;
                let (first, n) =
                    gpt::find_config(&h, &entries, dev.sectors()).map_err(DiskError::Gpt)?;
                (first, n, "partition")
            }
            Err(GptError::NotGpt) => (0, dev.sectors(), "whole disk"),
            Err(e) => return Err(DiskError::Gpt(e)),
        };
        if len < 2 * SLOT_SECTORS {
            return Err(DiskError::TooSmall);
        }
        Ok(Self {
            dev,
            base,
            layout,
            next: (0, 1),
        })
    }

    /// Reads both slots; remembers where the next save goes.
    pub fn load(&mut self) -> Result<Selection, DiskError> {
        // The slots carry the identity key: wiped when dropped.
        let mut slots = [
            Zeroizing::new(vec![0u8; SLOT_SIZE]),
            Zeroizing::new(vec![0u8; SLOT_SIZE]),
        ];
        for (i, buf) in slots.iter_mut().enumerate() {
            self.dev.read(self.slot_lba(i), &mut buf[..])?;
        }
        let sel = store::select(&slots[0], &slots[1]);
        self.next = sel.next_write();
        Ok(sel)
    }

    /// Writes `saved` to the slot not holding the newest configuration, then flushes.
    /// Returns the slot and sequence number written.
    pub fn save(&mut self, saved: &Saved) -> Result<(usize, u64), DiskError> {
        self.save_partial(saved, u64::MAX)
    }

    /// As `save`, but stops after `max_sectors` sectors: what a power cut mid-save
    /// leaves behind (test builds use it to prove the old configuration survives).
    pub fn save_partial(
        &mut self,
        saved: &Saved,
        max_sectors: u64,
    ) -> Result<(usize, u64), DiskError> {
        let (slot, seq) = self.next;
        let image = encode(seq, saved)?;
        let lba = self.slot_lba(slot);
        for (i, sector) in image.chunks(SECTOR).enumerate() {
            if i as u64 >= max_sectors {
                return Ok((slot, seq));
            }
            self.dev.write(lba + i as u64, sector)?;
        }
        self.dev.flush()?;
        self.next = (1 - slot, seq.wrapping_add(1));
        Ok((slot, seq))
    }

    fn slot_lba(&self, slot: usize) -> u64 {
        self.base + slot as u64 * SLOT_SECTORS
    }
}

/// The slot image carries the identity key: wiped when dropped.
fn encode(seq: u64, saved: &Saved) -> Result<Zeroizing<Vec<u8>>, DiskError> {
    let mut image = Zeroizing::new(vec![0u8; SLOT_SIZE]);
    let n = store::encode(seq, saved, &mut image).map_err(DiskError::Slot)?;
    image.truncate(n);
    Ok(image)
}
