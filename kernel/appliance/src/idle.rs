//! Waiting for work. The main loop calls [`wait_until`] when the node has nothing to do
//! before its next deadline; interrupts (NICs, console, timer) end the wait early.
//!
//! For now this only hints the CPU and returns: the appliance still polls.

/// Returns when an interrupt may have brought work, or once `deadline_us` (microseconds
/// of uptime) has passed; it may return early. `None`: no deadline.
pub fn wait_until(_deadline_us: Option<u64>) {
    core::hint::spin_loop();
}
