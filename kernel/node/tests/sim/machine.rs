//! The fake machine under a node: a virtual clock, a seeded random generator, a fixed
//! wall clock, an in-memory configuration disk that outlives the node (a reboot boots a
//! new node from it).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use vnetcrypt_console::DateTime;
use vnetcrypt_node::{BlockDevice, Direction, IoError, Platform, RngUnavailable, SECTOR};

/// Microseconds of virtual uptime, shared by every node of a simulation.
pub type Clock = Rc<Cell<u64>>;

pub struct FakePlatform {
    pub clock: Clock,
    rng: Cell<u64>,
    /// A machine without RDSEED/RDRAND: every request for random bytes is refused.
    pub no_rng: bool,
    pub log: Rc<RefCell<Vec<String>>>,
}

impl FakePlatform {
    pub fn new(clock: &Clock, seed: u64) -> Self {
        FakePlatform {
            clock: clock.clone(),
            rng: Cell::new(seed),
            no_rng: false,
            log: Rc::default(),
        }
    }

    fn next(&self) -> u64 {
        // splitmix64: test randomness only (keys made at test time, never kept).
        let s = self.rng.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.rng.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Platform for FakePlatform {
    fn now_us(&self) -> u64 {
        self.clock.get()
    }
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RngUnavailable> {
        if self.no_rng {
            return Err(RngUnavailable);
        }
        for chunk in buf.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        Ok(())
    }
    fn wall_clock(&self) -> Option<DateTime> {
        Some(DateTime {
            year: 2026,
            month: 11,
            day: 30,
            hour: 3,
            minute: 0,
            second: 0,
        })
    }
    fn log(&self, args: std::fmt::Arguments<'_>) {
        self.log.borrow_mut().push(args.to_string());
    }
    fn trace_frame(&self, _role: &str, _dir: Direction, _bytes: &[u8]) {}
}

/// A configuration disk in memory; clones share the sectors.
#[derive(Clone)]
pub struct MemDisk(pub Rc<RefCell<Vec<u8>>>);

impl MemDisk {
    /// A blank disk of `sectors` sectors.
    pub fn blank(sectors: usize) -> Self {
        MemDisk(Rc::new(RefCell::new(vec![0; sectors * SECTOR])))
    }
}

impl BlockDevice for MemDisk {
    fn sectors(&self) -> u64 {
        (self.0.borrow().len() / SECTOR) as u64
    }
    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let at = lba as usize * SECTOR;
        let disk = self.0.borrow();
        let src = disk.get(at..at + buf.len()).ok_or(IoError)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError> {
        let at = lba as usize * SECTOR;
        let mut disk = self.0.borrow_mut();
        let dst = disk.get_mut(at..at + buf.len()).ok_or(IoError)?;
        dst.copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

/// A disk that answers with errors (reads only, or everything).
pub struct FailingDisk {
    pub inner: MemDisk,
    pub fail_reads: bool,
    pub fail_writes: bool,
}

impl BlockDevice for FailingDisk {
    fn sectors(&self) -> u64 {
        self.inner.sectors()
    }
    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), IoError> {
        if self.fail_reads {
            return Err(IoError);
        }
        self.inner.read(lba, buf)
    }
    fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError> {
        if self.fail_writes {
            return Err(IoError);
        }
        self.inner.write(lba, buf)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}
