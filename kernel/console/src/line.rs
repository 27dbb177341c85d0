//! Line editing over a byte stream: echo, backspace, ^U, ^C, and rejection of lines
//! that are too long, not UTF-8 or carry control bytes.

use core::fmt::{self, Write};

/// The longest line the console accepts, in bytes.
pub const LINE_CAPACITY: usize = 512;

const BS: u8 = 0x08;
const DEL: u8 = 0x7f;
const CTRL_C: u8 = 0x03;
const CTRL_U: u8 = 0x15;
const ESC: u8 = 0x1b;

/// Why a submitted line was thrown away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// More than [`LINE_CAPACITY`] bytes before the end of the line.
    TooLong,
    /// The line is not valid UTF-8.
    NotUtf8,
    /// The line carries a control byte other than the editing keys.
    ControlByte(u8),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::TooLong => write!(f, "line too long (limit {LINE_CAPACITY} bytes)"),
            LineError::NotUtf8 => f.write_str("line is not valid UTF-8"),
            LineError::ControlByte(b) => write!(f, "line contains control byte 0x{b:02x}"),
        }
    }
}

/// What a completed line turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Submit<'a> {
    /// A line to parse (without its terminator, possibly empty).
    Line(&'a str),
    /// The line was discarded; the console prints the error and the prompt.
    Rejected(LineError),
    /// ^C: the line was abandoned; the console prints a fresh prompt.
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// Inside a CSI sequence (`ESC [` … final byte).
    Csi,
}

/// A fixed-capacity line editor. Feed it bytes; it echoes what the user should see and
/// hands back whole lines.
#[derive(Debug)]
pub struct LineEditor {
    buf: [u8; LINE_CAPACITY],
    len: usize,
    overflowed: bool,
    control: Option<u8>,
    escape: Escape,
    /// The last byte was CR, so an immediately following LF is the same line end.
    after_cr: bool,
    submitted: bool,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    pub const fn new() -> Self {
        Self {
            buf: [0; LINE_CAPACITY],
            len: 0,
            overflowed: false,
            control: None,
            escape: Escape::None,
            after_cr: false,
            submitted: false,
        }
    }

    /// Takes one byte from the terminal. What should appear on the terminal is written
    /// to `echo` (echo errors are ignored: a broken terminal must not wedge the editor).
    pub fn feed(&mut self, byte: u8, echo: &mut dyn Write) -> Option<Submit<'_>> {
        if self.submitted {
            self.reset();
        }
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        match self.escape {
            Escape::Start => {
                self.escape = if byte == b'[' {
                    Escape::Csi
                } else {
                    Escape::None
                };
                return None;
            }
            // Arrow keys and the like: swallowed whole, never echoed or stored.
            Escape::Csi => {
                if (0x40..=0x7e).contains(&byte) {
                    self.escape = Escape::None;
                }
                return None;
            }
            Escape::None => {}
        }
        match byte {
            b'\n' if after_cr => None,
            b'\r' | b'\n' => {
                self.after_cr = byte == b'\r';
                let _ = echo.write_str("\r\n");
                self.submitted = true;
                Some(self.finish())
            }
            BS | DEL => {
                if self.len > 0 && !self.overflowed {
                    // Remove a whole UTF-8 character, not just its last byte.
                    self.len -= 1;
                    while self.len > 0 && (self.buf[self.len] & 0xc0) == 0x80 {
                        self.len -= 1;
                    }
                    let _ = echo.write_str("\x08 \x08");
                }
                None
            }
            CTRL_C => {
                let _ = echo.write_str("^C\r\n");
                self.submitted = true;
                Some(Submit::Cancelled)
            }
            CTRL_U => {
                for _ in 0..self.visible_chars() {
                    let _ = echo.write_str("\x08 \x08");
                }
                self.reset();
                None
            }
            ESC => {
                self.escape = Escape::Start;
                None
            }
            _ => {
                self.push(byte, echo);
                None
            }
        }
    }

    fn push(&mut self, byte: u8, echo: &mut dyn Write) {
        if byte == b'\t' {
            return self.push(b' ', echo);
        }
        if byte < 0x20 && self.control.is_none() {
            self.control = Some(byte);
        }
        if self.len == LINE_CAPACITY {
            self.overflowed = true;
            return;
        }
        self.buf[self.len] = byte;
        self.len += 1;
        // Echo printable ASCII as is; echo a complete UTF-8 character once its last byte
        // arrives; never echo control bytes or broken sequences back to the terminal.
        match byte {
            0x20..=0x7e => {
                let _ = echo.write_char(byte as char);
            }
            0x80.. => {
                let start = self.char_start();
                if let Ok(s) = core::str::from_utf8(&self.buf[start..self.len]) {
                    let _ = echo.write_str(s);
                }
            }
            _ => {}
        }
    }

    fn char_start(&self) -> usize {
        let mut i = self.len - 1;
        while i > 0 && (self.buf[i] & 0xc0) == 0x80 && self.len - i < 4 {
            i -= 1;
        }
        i
    }

    fn visible_chars(&self) -> usize {
        self.buf[..self.len.min(LINE_CAPACITY)]
            .iter()
            .filter(|&&b| (0x20..=0x7e).contains(&b) || (b & 0xc0) == 0xc0)
            .count()
    }

    fn finish(&self) -> Submit<'_> {
        if self.overflowed {
            return Submit::Rejected(LineError::TooLong);
        }
        if let Some(b) = self.control {
            return Submit::Rejected(LineError::ControlByte(b));
        }
        match core::str::from_utf8(&self.buf[..self.len]) {
            Ok(s) => Submit::Line(s),
            Err(_) => Submit::Rejected(LineError::NotUtf8),
        }
    }

    fn reset(&mut self) {
        self.len = 0;
        self.overflowed = false;
        self.control = None;
        self.submitted = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sink {
        buf: [u8; 4096],
        len: usize,
    }
    impl Sink {
        fn new() -> Self {
            Sink {
                buf: [0; 4096],
                len: 0,
            }
        }
        fn text(&self) -> &str {
            core::str::from_utf8(&self.buf[..self.len]).unwrap()
        }
    }
    impl Write for Sink {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = (self.len + s.len()).min(self.buf.len());
            self.buf[self.len..end].copy_from_slice(&s.as_bytes()[..end - self.len]);
            self.len = end;
            Ok(())
        }
    }

    /// Feeds `input` and returns the last submission, rendered for comparison.
    fn run(
        ed: &mut LineEditor,
        input: &[u8],
        echo: &mut Sink,
    ) -> Option<Result<[u8; 64], LineError>> {
        let mut last = None;
        for &b in input {
            match ed.feed(b, echo) {
                Some(Submit::Line(s)) => {
                    let mut out = [0u8; 64];
                    out[..s.len().min(64)].copy_from_slice(&s.as_bytes()[..s.len().min(64)]);
                    last = Some(Ok(out));
                }
                Some(Submit::Rejected(e)) => last = Some(Err(e)),
                Some(Submit::Cancelled) => last = None,
                None => {}
            }
        }
        last
    }

    fn line(s: &str) -> Option<Result<[u8; 64], LineError>> {
        let mut out = [0u8; 64];
        out[..s.len()].copy_from_slice(s.as_bytes());
        Some(Ok(out))
    }

    #[test]
    fn plain_line_is_echoed_and_submitted() {
        let (mut ed, mut echo) = (LineEditor::new(), Sink::new());
        assert_eq!(run(&mut ed, b"status\r", &mut echo), line("status"));
        assert_eq!(echo.text(), "status\r\n");
    }

    #[test]
    fn crlf_is_one_line_end_and_lf_alone_works() {
        let (mut ed, mut echo) = (LineEditor::new(), Sink::new());
        let mut count = 0;
        for &b in b"a\r\nb\nc\r\r" {
            if let Some(Submit::Line(_)) = ed.feed(b, &mut echo) {
                count += 1;
            }
        }
        // "a", "b", "c", and one empty line from the second CR.
        assert_eq!(count, 4);
    }

    #[test]
    fn backspace_and_delete_edit_the_line() {
        let (mut ed, mut echo) = (LineEditor::new(), Sink::new());
        assert_eq!(
            run(&mut ed, b"statx\x08us\x7f\x7fus\r", &mut echo),
            line("status")
        );
        assert!(echo.text().contains("\x08 \x08"));
        // Backspace on an empty line does nothing and echoes nothing.
        let (mut ed, mut echo) = (LineEditor::new(), Sink::new());
        assert_eq!(run(&mut ed, b"\x08\x08ok\r", &mut echo), line("ok"));
        assert_eq!(echo.text(), "ok\r\n");
    }

    #[test]
    fn backspace_removes_a_whole_utf8_character() {
        let (mut ed, mut echo) = (LineEditor::new(), Sink::new());
        assert_eq!(
            run(&mut ed, "ab\u{e9}\x7fc\r".as_bytes(), &mut echo),
            line("abc")
        );
    }

    #[test]
    fn ctrl_u_clears_and_ctrl_c_cancels() {
        let (mut ed, mut echo) = (LineEditor::new(), Sink::new());
        assert_eq!(run(&mut ed, b"garbage\x15help\r", &mut echo), line("help"));
        let (mut ed, mut echo) = (LineEditor::new(), Sink::new());
        assert_eq!(run(&mut ed, b"reboot\x03", &mut echo), None);
        assert_eq!(run(&mut ed, b"\r", &mut echo), line(""));
    }

    #[test]
    fn arrow_keys_are_swallowed() {
        let (mut ed, mut echo) = (LineEditor::new(), Sink::new());
        assert_eq!(
            run(&mut ed, b"ver\x1b[A\x1b[Dsion\r", &mut echo),
            line("version")
        );
        assert_eq!(echo.text(), "version\r\n");
    }

    #[test]
    fn overlong_line_is_rejected_and_editor_recovers() {
        let (mut ed, mut echo) = (LineEditor::new(), Sink::new());
        let mut long = [b'x'; 10 * 1024];
        long[10 * 1024 - 1] = b'\r';
        assert_eq!(
            run(&mut ed, &long, &mut echo),
            Some(Err(LineError::TooLong))
        );
        assert_eq!(run(&mut ed, b"help\r", &mut echo), line("help"));
    }

    #[test]
    fn invalid_utf8_and_control_bytes_are_rejected() {
        let (mut ed, mut echo) = (LineEditor::new(), Sink::new());
        assert_eq!(
            run(&mut ed, b"a\xff\xfeb\r", &mut echo),
            Some(Err(LineError::NotUtf8))
        );
        assert_eq!(
            run(&mut ed, b"a\x01b\r", &mut echo),
            Some(Err(LineError::ControlByte(1)))
        );
        assert_eq!(
            run(&mut ed, b"\x00\r", &mut echo),
            Some(Err(LineError::ControlByte(0)))
        );
        assert_eq!(run(&mut ed, b"ok\r", &mut echo), line("ok"));
    }

    #[test]
    fn tab_becomes_space() {
        let (mut ed, mut echo) = (LineEditor::new(), Sink::new());
        assert_eq!(
            run(&mut ed, b"help\tstatus\r", &mut echo),
            line("help status")
        );
    }

    #[test]
    fn every_byte_sequence_is_survivable() {
        // A cheap deterministic stand-in for the fuzz target: pseudo-random bytes of
        // every value never panic and the editor always accepts a clean line after.
        let (mut ed, mut echo) = (LineEditor::new(), Sink::new());
        let mut x: u32 = 0x1234_5678;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let _ = ed.feed((x >> 24) as u8, &mut echo);
            echo.len = 0;
        }
        run(&mut ed, b"\x03", &mut echo);
        assert_eq!(run(&mut ed, b"status\r", &mut echo), line("status"));
    }
}
