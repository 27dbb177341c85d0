//! The configuration disk: the two-slot store of `vnetcrypt_config::store` on a block
//! device, found as a GPT partition of the configuration type or, on a disk without a
//! GPT, from sector 0.
//!
//! With several disks attached ([`choose_config_disk`]), a dedicated configuration disk (no GPT)
//! wins over the configuration partition of a boot image, so that replacing the boot
//! image with a new release keeps identity and configuration. A blank dedicated disk
//! next to a partition that holds a configuration receives a copy of it first (the
//! migration from a boot image's partition); the partition itself is never written.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use vnetcrypt_config::gpt::{self, GptError};
use vnetcrypt_config::store::{self, Saved, Selection, SlotError, SLOT_SIZE};
use zeroize::Zeroizing;

pub const SECTOR: usize = 512;
const WHOLE_DISK: &str = "whole disk";
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

impl<D: BlockDevice + ?Sized> BlockDevice for &mut D {
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
            Err(GptError::NotGpt) => (0, dev.sectors(), WHOLE_DISK),
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

    /// Whether this is a dedicated configuration disk (no partition table).
    pub fn is_whole_disk(&self) -> bool {
        self.base == 0
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

/// What one attached disk is, for [`choose_config_disk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// No partition table: a configuration disk from sector 0.
    Dedicated,
    /// A GPT with a configuration partition (a boot image).
    Partition,
    /// An I/O error or a damaged partition table: it might be the configuration disk.
    Unreadable,
    /// Readable, but no configuration area (too small, a GPT without our partition).
    Foreign,
}

impl Probe {
    fn of(dev: &mut alloc::boxed::Box<dyn BlockDevice>) -> Self {
        match ConfigDisk::open(&mut **dev) {
            Ok(d) if d.is_whole_disk() => Probe::Dedicated,
            Ok(_) => Probe::Partition,
            Err(DiskError::TooSmall | DiskError::Gpt(GptError::NoConfigPartition)) => {
                Probe::Foreign
            }
            Err(_) => Probe::Unreadable,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Probe::Dedicated => "a dedicated configuration disk",
            Probe::Partition => "a boot image's configuration partition",
            Probe::Unreadable => "a disk that cannot be read",
            Probe::Foreign => "no configuration area found",
        }
    }
}

/// Picks the configuration disk among the attached disks (in discovery order) and says
/// on `w` what it chose when there was a choice:
/// - one disk (or none): that one, as before;
/// - a dedicated configuration disk (no GPT) that opens: the first such, and when it
///   is blank (never written) while a boot image's configuration partition holds a
///   configuration, that configuration (identity included) is copied onto it first;
/// - else a disk that cannot be read: it may be the configuration disk, so the boot
///   rules lock on it rather than fall back to a boot image's (possibly blank)
///   partition and generate a new identity there;
/// - else a disk with a configuration partition; else the first disk.
///
/// Never fails: a disk that cannot be read is left for `Management::boot` to report.
pub fn choose_config_disk(
    mut devs: alloc::vec::Vec<alloc::boxed::Box<dyn BlockDevice>>,
    w: &mut dyn fmt::Write,
) -> Option<alloc::boxed::Box<dyn BlockDevice>> {
    if devs.len() <= 1 {
        return devs.pop();
    }
    let kinds: Vec<Probe> = devs.iter_mut().map(Probe::of).collect();
    let first = |want: Probe| kinds.iter().position(|k| *k == want);
    let pick = match (first(Probe::Dedicated), first(Probe::Partition)) {
        (Some(d), Some(p)) => {
            let (d_dev, p_dev) = pair(&mut devs, d, p);
            migrate(p_dev, d_dev, w);
            d
        }
        (Some(d), None) => d,
        (None, partition) => first(Probe::Unreadable).or(partition).unwrap_or(0),
    };
    let _ = writeln!(
        w,
        "config: {} disks attached; the configuration is on disk {} ({})",
        devs.len(),
        pick + 1,
        kinds[pick].describe()
    );
    Some(devs.swap_remove(pick))
}

/// Two distinct elements of `v`, mutably.
fn pair<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    if a < b {
        let (lo, hi) = v.split_at_mut(b);
        (&mut lo[a], &mut hi[0])
    } else {
        let (lo, hi) = v.split_at_mut(a);
        (&mut hi[0], &mut lo[b])
    }
}

/// Copies the newest configuration of the boot image's partition onto a blank
/// dedicated disk. Only a disk whose slots were never written receives it: one that
/// holds anything (even damaged slots) is left as it is, for the boot rules to judge.
fn migrate(
    from: &mut alloc::boxed::Box<dyn BlockDevice>,
    to: &mut alloc::boxed::Box<dyn BlockDevice>,
    w: &mut dyn fmt::Write,
) {
    let Ok(mut target) = ConfigDisk::open(&mut **to) else {
        return;
    };
    let blank = matches!(
        target.load(),
        Ok(sel) if sel.newest.is_none() && sel.damaged().next().is_none()
    );
    if !blank {
        return;
    }
    let Ok(mut source) = ConfigDisk::open(&mut **from) else {
        return;
    };
    let Ok(sel) = source.load() else { return };
    let Some((_, seq, saved)) = sel.newest.as_ref() else {
        return;
    };
    match target.save(saved) {
        Ok(_) => {
            let _ = writeln!(
                w,
                "config: copied the configuration (sequence {seq}, identity included) from the \
                 boot image's partition to the blank configuration disk; from now on it lives there"
            );
        }
        Err(e) => {
            let _ = writeln!(
                w,
                "config: could not copy the boot image's configuration to the configuration disk: {e}"
            );
        }
    }
}
