//! Parsing a console line into a typed [`Command`].
//!
//! Syntax: words separated by spaces; the first word (or two) names the command.
//! Any error names the token that was wrong, so the operator can fix it.

use core::fmt;

/// A command the console understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// A blank line: print the prompt again.
    Empty,
    /// `help [command]`.
    Help(Option<&'a str>),
    /// `version`.
    Version,
    /// `status`.
    Status,
    /// `reboot`.
    Reboot,
    /// `poweroff`.
    Poweroff,
    /// `debug fault <kind>`: crash on purpose (test builds only).
    Fault(FaultKind),
}

/// The crashes `debug fault` can cause, to prove they are reported as failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Panic,
    PageFault,
    InvalidOpcode,
    DivideError,
    GeneralProtection,
    Breakpoint,
}

impl FaultKind {
    /// Every kind with its console name.
    pub const ALL: [(&'static str, FaultKind); 6] = [
        ("panic", FaultKind::Panic),
        ("pagefault", FaultKind::PageFault),
        ("ud", FaultKind::InvalidOpcode),
        ("divide", FaultKind::DivideError),
        ("gp", FaultKind::GeneralProtection),
        ("breakpoint", FaultKind::Breakpoint),
    ];
}

/// Why a line is not a valid command. Each variant carries the offending token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError<'a> {
    /// The first word is not a command.
    UnknownCommand(&'a str),
    /// A word after a complete command.
    UnexpectedArgument(&'a str),
    /// The command needs another word; `expected` says which.
    MissingArgument {
        command: &'static str,
        expected: &'static str,
    },
    /// A word in an argument position is not one of the allowed values.
    InvalidValue {
        token: &'a str,
        expected: &'static str,
    },
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnknownCommand(t) => {
                write!(f, "unknown command '{}' (try 'help')", Shown(t))
            }
            ParseError::UnexpectedArgument(t) => write!(f, "unexpected argument '{}'", Shown(t)),
            ParseError::MissingArgument { command, expected } => {
                write!(f, "'{command}' needs {expected}")
            }
            ParseError::InvalidValue { token, expected } => {
                write!(f, "invalid value '{}': expected {expected}", Shown(token))
            }
        }
    }
}

/// Echoes an operator's token back, cut short so one bad token cannot flood the line.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 32;
        match self.0.char_indices().nth(MAX) {
            Some((cut, _)) => write!(f, "{}...", &self.0[..cut]),
            None => f.write_str(self.0),
        }
    }
}

/// Commands with their one-line summaries, in the order `help` lists them.
pub(crate) const COMMANDS: &[(&str, &str, &str)] = &[
    ("help", "help [COMMAND]", "list commands, or explain one"),
    ("version", "version", "show the appliance version"),
    (
        "status",
        "status",
        "uptime, boot time, memory, CPU crypto features, devices",
    ),
    ("reboot", "reboot", "restart the appliance"),
    ("poweroff", "poweroff", "stop the appliance"),
];

/// Parses one console line.
pub fn parse(line: &str) -> Result<Command<'_>, ParseError<'_>> {
    let mut words = line.split_ascii_whitespace();
    let Some(first) = words.next() else {
        return Ok(Command::Empty);
    };
    let command = match first {
        "help" | "?" => Command::Help(words.next()),
        "version" => Command::Version,
        "status" => Command::Status,
        "reboot" => Command::Reboot,
        "poweroff" => Command::Poweroff,
        #[cfg(feature = "test-commands")]
        "debug" => parse_debug(&mut words)?,
        other => return Err(ParseError::UnknownCommand(other)),
    };
    match words.next() {
        Some(extra) => Err(ParseError::UnexpectedArgument(extra)),
        None => Ok(command),
    }
}

#[cfg(feature = "test-commands")]
fn parse_debug<'a>(
    words: &mut core::str::SplitAsciiWhitespace<'a>,
) -> Result<Command<'a>, ParseError<'a>> {
    const KINDS: &str = "panic, pagefault, ud, divide, gp or breakpoint";
    match words.next() {
        Some("fault") => {}
        Some(other) => {
            return Err(ParseError::InvalidValue {
                token: other,
                expected: "'fault'",
            });
        }
        None => {
            return Err(ParseError::MissingArgument {
                command: "debug",
                expected: "'fault'",
            });
        }
    }
    let Some(kind) = words.next() else {
        return Err(ParseError::MissingArgument {
            command: "debug fault",
            expected: KINDS,
        });
    };
    FaultKind::ALL
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|&(_, k)| Command::Fault(k))
        .ok_or(ParseError::InvalidValue {
            token: kind,
            expected: KINDS,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_commands() {
        assert_eq!(parse("status"), Ok(Command::Status));
        assert_eq!(parse("  version  "), Ok(Command::Version));
        assert_eq!(parse("reboot"), Ok(Command::Reboot));
        assert_eq!(parse("poweroff"), Ok(Command::Poweroff));
        assert_eq!(parse(""), Ok(Command::Empty));
        assert_eq!(parse("   "), Ok(Command::Empty));
        assert_eq!(parse("help"), Ok(Command::Help(None)));
        assert_eq!(parse("help status"), Ok(Command::Help(Some("status"))));
    }

    #[test]
    fn errors_name_the_token() {
        assert_eq!(parse("stauts"), Err(ParseError::UnknownCommand("stauts")));
        assert_eq!(
            parse("status now"),
            Err(ParseError::UnexpectedArgument("now"))
        );
        assert_eq!(parse("help a b"), Err(ParseError::UnexpectedArgument("b")));
    }

    #[test]
    fn error_messages_are_short_and_clear() {
        use core::fmt::Write;
        struct Buf(usize, [u8; 256]);
        impl Write for Buf {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.1[self.0..self.0 + s.len()].copy_from_slice(s.as_bytes());
                self.0 += s.len();
                Ok(())
            }
        }
        let bytes = [b'x'; 100];
        let long = core::str::from_utf8(&bytes).unwrap();
        let mut b = Buf(0, [0; 256]);
        write!(b, "{}", parse(long).unwrap_err()).unwrap();
        let text = core::str::from_utf8(&b.1[..b.0]).unwrap();
        assert!(text.starts_with("unknown command 'xxxxxxxx"), "{text}");
        assert!(text.contains("...' (try 'help')"), "{text}");
        assert!(text.len() < 80, "{text}");
    }

    #[cfg(not(feature = "test-commands"))]
    #[test]
    fn debug_is_absent_from_production_builds() {
        assert_eq!(
            parse("debug fault panic"),
            Err(ParseError::UnknownCommand("debug"))
        );
    }

    #[cfg(feature = "test-commands")]
    #[test]
    fn debug_fault_kinds() {
        assert_eq!(
            parse("debug fault panic"),
            Ok(Command::Fault(FaultKind::Panic))
        );
        assert_eq!(
            parse("debug fault pagefault"),
            Ok(Command::Fault(FaultKind::PageFault))
        );
        assert_eq!(
            parse("debug fault ud"),
            Ok(Command::Fault(FaultKind::InvalidOpcode))
        );
        assert!(matches!(
            parse("debug fault nope"),
            Err(ParseError::InvalidValue { token: "nope", .. })
        ));
        assert!(matches!(
            parse("debug fault"),
            Err(ParseError::MissingArgument { .. })
        ));
        assert!(matches!(
            parse("debug crash"),
            Err(ParseError::InvalidValue { token: "crash", .. })
        ));
    }
}
