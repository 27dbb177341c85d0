//! The anti-replay window of RFC 6347 §4.1.2.6: 128 records wide.
//!
//! Use [`ReplayWindow::check`] before decrypting and [`ReplayWindow::update`] only after
//! the tag verified, so forged records cannot move the window.

/// Width of the window in records.
pub const WINDOW: u64 = 128;

/// Which sequence numbers of one epoch were already accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    /// One more than the highest accepted sequence number; 0 when none was accepted.
    top: u64,
    /// Bit i set: sequence number `top - 1 - i` was accepted.
    bits: u128,
}

impl ReplayWindow {
    /// An empty window.
    pub const fn new() -> Self {
        ReplayWindow { top: 0, bits: 0 }
    }

    /// Whether `seq` may be new: right of the window, or inside it and not yet seen.
    pub fn check(&self, seq: u64) -> bool {
        if seq >= self.top {
            return true;
        }
        let back = self.top - 1 - seq;
        back < WINDOW && (self.bits >> back) & 1 == 0
    }

    /// Marks `seq` as accepted, sliding the window right if needed.
    pub fn update(&mut self, seq: u64) {
        if seq >= self.top {
            let shift = seq + 1 - self.top;
            self.bits = if shift >= WINDOW {
                0
            } else {
                self.bits << shift
            };
            self.bits |= 1;
            self.top = seq + 1;
        } else {
            let back = self.top - 1 - seq;
            if back < WINDOW {
                self.bits |= 1 << back;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_sequence_once() {
        let mut w = ReplayWindow::new();
        for seq in [5u64, 3, 9, 4, 200, 150, 73] {
            assert!(w.check(seq), "{seq}");
            w.update(seq);
            assert!(!w.check(seq), "{seq} replayed");
        }
        // 200 - 128 = 72 is the left edge: 72 and below are too old, 73 was seen.
        assert!(!w.check(72));
        assert!(!w.check(9));
        assert!(w.check(74));
        assert!(w.check(199));
        assert!(w.check(201));
    }

    #[test]
    fn big_jump_clears_the_window() {
        let mut w = ReplayWindow::new();
        w.update(0);
        w.update(1_000_000);
        assert!(w.check(999_999));
        assert!(!w.check(0));
        assert!(!w.check(1_000_000));
    }

    #[test]
    fn check_does_not_move_the_window() {
        let mut w = ReplayWindow::new();
        w.update(10);
        assert!(w.check(500));
        assert!(w.check(9));
        w.update(9);
        assert!(!w.check(9));
    }
}
