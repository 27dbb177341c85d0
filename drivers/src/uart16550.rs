//! A polled 16550 UART (COM1/COM2 on PC-compatible machines and QEMU).
//!
//! Polled, no interrupts: reads return `None` when nothing is waiting, writes wait
//! for the transmit holding register (bounded, so an absent or wedged UART cannot
//! hang the appliance). Works with QEMU's stdio, file and socket chardevs, which
//! hold input back while the receive FIFO is full, so nothing is lost however fast
//! the host sends.

use crate::port::{inb, outb};

/// I/O base of COM1.
pub const COM1: u16 = 0x3f8;
/// I/O base of COM2.
pub const COM2: u16 = 0x2f8;

const DATA: u16 = 0; // RBR/THR, or divisor low with DLAB
const IER: u16 = 1; // interrupt enable, or divisor high with DLAB
const FCR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const SCRATCH: u16 = 7;

const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;

/// How many status polls a write waits for the transmitter before dropping the byte.
const WRITE_SPIN_LIMIT: u32 = 1 << 20;

/// One 16550 at an I/O base.
#[derive(Debug)]
pub struct Uart16550 {
    base: u16,
}

impl Uart16550 {
    /// A handle on the UART at `base`, without touching it.
    ///
    /// # Safety
    /// `base` must be the I/O base of a 16550 or of nothing (unclaimed ports), and
    /// the caller must not let two handles drive the same UART at the same time,
    /// except to print a last report when the machine is about to stop.
    pub const unsafe fn new(base: u16) -> Self {
        Self { base }
    }

    fn read_reg(&self, reg: u16) -> u8 {
        // SAFETY: `new`'s contract: the port belongs to this UART (or to nothing).
        unsafe { inb(self.base + reg) }
    }

    fn write_reg(&mut self, reg: u16, v: u8) {
        // SAFETY: `new`'s contract: the port belongs to this UART (or to nothing).
        unsafe { outb(self.base + reg, v) }
    }

    /// Whether a UART answers at this base (its scratch register holds a value).
    pub fn is_present(&mut self) -> bool {
        [0x5a, 0xa5].into_iter().all(|v| {
            self.write_reg(SCRATCH, v);
            self.read_reg(SCRATCH) == v
        })
    }

    /// Programs 115200 baud, 8N1, FIFOs on (receive trigger at one byte) and the
    /// received-data interrupt on (OUT2 gates the line to the interrupt controller), so
    /// a typed byte can wake a halted CPU; whether it does is up to the I/O APIC
    /// routing. Returns whether the UART is present; an absent one is left alone.
    pub fn init(&mut self) -> bool {
        if !self.is_present() {
            return false;
        }
        self.write_reg(IER, 0x00);
        self.write_reg(LCR, 0x80); // DLAB on
        self.write_reg(DATA, 0x01); // divisor 1 = 115200 baud
        self.write_reg(IER, 0x00);
        self.write_reg(LCR, 0x03); // 8N1, DLAB off
                                   // Enable FIFOs and clear the transmit side only: bytes typed ahead stay.
        self.write_reg(FCR, 0x05);
        self.write_reg(MCR, 0x0b); // DTR, RTS, OUT2
        self.write_reg(IER, 0x01); // received data available
        true
    }

    /// The next received byte, if one is waiting.
    pub fn try_read(&mut self) -> Option<u8> {
        (self.read_reg(LSR) & LSR_DATA_READY != 0).then(|| self.read_reg(DATA))
    }

    /// Sends one byte, waiting (boundedly) for room in the transmitter.
    pub fn write_byte(&mut self, b: u8) {
        let mut spins = 0;
        while self.read_reg(LSR) & LSR_THR_EMPTY == 0 && spins < WRITE_SPIN_LIMIT {
            spins += 1;
            core::hint::spin_loop();
        }
        self.write_reg(DATA, b);
    }

    /// Sends bytes as they are.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_byte(b);
        }
    }
}

/// Text output; `\n` becomes `\r\n` for terminals.
impl core::fmt::Write for Uart16550 {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(b);
        }
        Ok(())
    }
}
