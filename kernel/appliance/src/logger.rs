//! The defmt global logger: rzCOBS-encoded frames on COM2, decoded on the host by
//! `defmt-print -e <kernel ELF>`. Without a COM2 UART the frames are dropped.
//!
//! The kernel is single-threaded and never enables interrupts, so a frame can only
//! nest if logging code itself logs; a nested frame is dropped rather than
//! interleaved.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use vnetcrypt_drivers::uart16550::{Uart16550, COM2};

static PRESENT: AtomicBool = AtomicBool::new(false);
static DEPTH: AtomicU32 = AtomicU32::new(0);
static mut ENCODER: defmt::Encoder = defmt::Encoder::new();

fn com2() -> Uart16550 {
    // SAFETY: COM2 is used by this logger only.
    unsafe { Uart16550::new(COM2) }
}

/// Probes and programs COM2. Returns whether it is there.
pub fn init() -> bool {
    let present = com2().init();
    PRESENT.store(present, Ordering::Relaxed);
    present
}

fn encoder() -> *mut defmt::Encoder {
    &raw mut ENCODER
}

fn write_com2(bytes: &[u8]) {
    if PRESENT.load(Ordering::Relaxed) {
        com2().write_bytes(bytes);
    }
}

#[defmt::global_logger]
struct Com2Logger;

// SAFETY: `acquire`/`release` bracket every frame; DEPTH makes only the outermost
// frame touch the encoder, and the kernel has one thread and no interrupts.
unsafe impl defmt::Logger for Com2Logger {
    fn acquire() {
        if DEPTH.fetch_add(1, Ordering::Acquire) == 0 {
            // SAFETY: depth 0 -> 1: this is the only live user of ENCODER.
            unsafe { (*encoder()).start_frame(write_com2) };
        }
    }

    unsafe fn flush() {}

    unsafe fn release() {
        if DEPTH.load(Ordering::Relaxed) == 1 {
            // SAFETY: the outermost frame owns ENCODER (see acquire).
            unsafe { (*encoder()).end_frame(write_com2) };
        }
        DEPTH.fetch_sub(1, Ordering::Release);
    }

    unsafe fn write(bytes: &[u8]) {
        if DEPTH.load(Ordering::Relaxed) == 1 {
            // SAFETY: the outermost frame owns ENCODER (see acquire).
            unsafe { (*encoder()).write(bytes, write_com2) };
        }
    }
}

defmt::timestamp!("{=u64:us}", crate::clock::uptime_us());
