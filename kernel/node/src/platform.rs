//! What the node needs from the machine besides its NICs: a monotonic clock, random
//! bytes, the wall clock, and somewhere to log. The appliance implements it over the
//! TSC, the kernel CSPRNG, the CMOS RTC and defmt; host tests over a virtual clock and
//! a seeded generator.

use core::fmt;
use vnetcrypt_console::DateTime;

/// The hardware random source is missing: key generation and session seeds are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngUnavailable;

/// Which way a traced frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// The machine under the node. Every method takes `&self`: the node hands the platform
/// to many parts at once (a NIC's transmit token traces while the stack polls).
pub trait Platform {
    /// Microseconds since boot; never goes backwards.
    fn now_us(&self) -> u64;
    /// Fills `buf` from a cryptographically secure generator, or refuses.
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RngUnavailable>;
    /// The wall clock now, if the machine has one.
    fn wall_clock(&self) -> Option<DateTime>;
    /// One diagnostic line (not for the console).
    fn log(&self, args: fmt::Arguments<'_>);
    /// One traced frame (`net.trace`): `bytes` as sent or received on `role`.
    fn trace_frame(&self, role: &str, dir: Direction, bytes: &[u8]);
}

/// A `Write` into [`Platform::log`], for messages with no console to go to.
pub struct LogWriter<'a>(pub &'a dyn Platform);

impl fmt::Write for LogWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let s = s.trim_end();
        if !s.is_empty() {
            self.0.log(format_args!("{s}"));
        }
        Ok(())
    }
}
