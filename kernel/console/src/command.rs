//! Parsing a console line into a typed [`Command`].
//!
//! Syntax: words separated by spaces; the first word (or two) names the command.
//! Configuration statements (`peer add …`, `enforcement drop`, …) are parsed by
//! `vnetcrypt-config`, so the console, provisioning files and the saved configuration
//! share one grammar. Any error names the token that was wrong.

use core::fmt;
use vnetcrypt_config::{Statement, StatementError};

/// A command the console understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// A blank line: print the prompt again.
    Empty,
    /// `help [command]`.
    Help(Option<&'a str>),
    Version,
    Status,
    Reboot,
    Poweroff,
    /// A read-only view.
    Show(View<'a>),
    /// A change to the running configuration.
    Set(Statement<'a>),
    /// `identity next`: make the next identity key (peers pin it beside the current
    /// one); handshakes keep presenting the current key.
    IdentityNext,
    /// `identity rotate`: handshakes present the next key from now on, every tunnel
    /// rekeys at once (make before break); the old key becomes the next one.
    IdentityRotate,
    /// `identity retire`: forget the next key (after a rotation: the old one).
    IdentityRetire,
    /// `config save`: persist the running configuration.
    ConfigSave,
    /// `config reset`: back to defaults (the identity is kept).
    ConfigReset,
    /// `config initialize confirm`: after a configuration disk that could not be
    /// read, start anew (an identity if there is none, saving allowed again, which
    /// overwrites what the disk held).
    ConfigInitialize,
    /// `debug fault <kind>`: crash on purpose (test builds only).
    Fault(FaultKind),
    /// `debug torn-save <sectors>`: a `config save` cut short after that many sectors,
    /// as a power cut would leave it (test builds only).
    TornSave(u64),
}

/// What a read-only command shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View<'a> {
    Identity,
    Interfaces,
    Peers,
    Peer(&'a str),
    /// `routes` / `route show`: routes on lan and whether each next hop is resolved.
    Routes,
    Sessions,
    Counters,
    Flows,
    Config,
    /// `peers json`, `sessions json`, `counters json`, `flows json`, `events json`:
    /// the view as one JSON document on one line.
    Json(JsonView),
    /// `events [N]`: the newest N events (default: all kept).
    Events(Option<usize>),
    /// The wall clock and its source (`time`).
    Time,
}

/// The views that have a JSON form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonView {
    Peers,
    Sessions,
    Counters,
    Flows,
    Events,
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
    /// Unbounded recursion: must hit the stack guard, not corrupt memory.
    StackOverflow,
    /// An interrupt vector nothing is routed to: reported like an exception.
    UnexpectedInterrupt,
}

impl FaultKind {
    /// Every kind with its console name.
    pub const ALL: [(&'static str, FaultKind); 8] = [
        ("panic", FaultKind::Panic),
        ("pagefault", FaultKind::PageFault),
        ("ud", FaultKind::InvalidOpcode),
        ("divide", FaultKind::DivideError),
        ("gp", FaultKind::GeneralProtection),
        ("breakpoint", FaultKind::Breakpoint),
        ("stack", FaultKind::StackOverflow),
        ("interrupt", FaultKind::UnexpectedInterrupt),
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
    /// A configuration statement that does not parse.
    Statement(StatementError<'a>),
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
            ParseError::Statement(e) => e.fmt(f),
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

/// Parses one console line.
pub fn parse(line: &str) -> Result<Command<'_>, ParseError<'_>> {
    let mut words = line.split_ascii_whitespace();
    let Some(first) = words.next() else {
        return Ok(Command::Empty);
    };
    let second = words.clone().next();
    let command = match (first, second) {
        ("help" | "?", _) => Command::Help(words.next()),
        ("version", _) => Command::Version,
        ("status", _) => Command::Status,
        ("reboot", _) => Command::Reboot,
        ("poweroff", _) => Command::Poweroff,
        ("interfaces", _) => Command::Show(View::Interfaces),
        ("peers", Some("json")) => json(&mut words, JsonView::Peers),
        ("sessions", Some("json")) => json(&mut words, JsonView::Sessions),
        ("counters", Some("json")) => json(&mut words, JsonView::Counters),
        ("flows", Some("json")) => json(&mut words, JsonView::Flows),
        ("events", Some("json")) => json(&mut words, JsonView::Events),
        ("peers", _) => Command::Show(View::Peers),
        ("routes", _) => Command::Show(View::Routes),
        ("route", Some("show")) => {
            words.next();
            Command::Show(View::Routes)
        }
        ("sessions", _) => Command::Show(View::Sessions),
        ("counters", _) => Command::Show(View::Counters),
        ("flows", _) => Command::Show(View::Flows),
        ("events", _) => match words.next() {
            None => Command::Show(View::Events(None)),
            Some(n) => match n.parse::<usize>() {
                Ok(n) if n > 0 => Command::Show(View::Events(Some(n))),
                _ => {
                    return Err(ParseError::InvalidValue {
                        token: n,
                        expected: "a count of events, or 'json'",
                    })
                }
            },
        },
        ("time", _) => Command::Show(View::Time),
        ("identity", _) => match words.next() {
            None | Some("show") => Command::Show(View::Identity),
            Some("next") => Command::IdentityNext,
            Some("rotate") => Command::IdentityRotate,
            Some("retire") => Command::IdentityRetire,
            Some(t) => {
                return Err(ParseError::InvalidValue {
                    token: t,
                    expected: "show, next, rotate or retire",
                })
            }
        },
        ("config", _) => match words.next() {
            Some("show") => Command::Show(View::Config),
            Some("save") => Command::ConfigSave,
            Some("reset") => Command::ConfigReset,
            Some("initialize") => match words.next() {
                Some("confirm") => Command::ConfigInitialize,
                Some(t) => {
                    return Err(ParseError::InvalidValue {
                        token: t,
                        expected: "'confirm'",
                    })
                }
                None => {
                    return Err(ParseError::MissingArgument {
                        command: "config initialize",
                        expected: "the word 'confirm' (what the disk held will be overwritten)",
                    })
                }
            },
            Some(t) => {
                return Err(ParseError::InvalidValue {
                    token: t,
                    expected: "show, save, reset or initialize",
                })
            }
            None => {
                return Err(ParseError::MissingArgument {
                    command: "config",
                    expected: "show, save, reset or initialize",
                })
            }
        },
        ("peer", Some("list")) => {
            words.next();
            Command::Show(View::Peers)
        }
        ("peer", Some("show")) => {
            words.next();
            let name = words.next().ok_or(ParseError::MissingArgument {
                command: "peer show",
                expected: "a peer name",
            })?;
            Command::Show(View::Peer(name))
        }
        #[cfg(feature = "test-commands")]
        ("debug", _) => parse_debug(&mut words)?,
        (word, _) if Statement::is_keyword(word) => {
            // The statement parser checks the whole line, trailing words included.
            return Statement::parse(line)
                .map(Command::Set)
                .map_err(ParseError::Statement);
        }
        (other, _) => return Err(ParseError::UnknownCommand(other)),
    };
    match words.next() {
        Some(extra) => Err(ParseError::UnexpectedArgument(extra)),
        None => Ok(command),
    }
}

/// The JSON form of a view (its `json` word taken).
fn json<'a>(words: &mut core::str::SplitAsciiWhitespace<'a>, view: JsonView) -> Command<'a> {
    words.next();
    Command::Show(View::Json(view))
}

#[cfg(feature = "test-commands")]
fn parse_debug<'a>(
    words: &mut core::str::SplitAsciiWhitespace<'a>,
) -> Result<Command<'a>, ParseError<'a>> {
    const KINDS: &str = "panic, pagefault, ud, divide, gp, breakpoint, stack or interrupt";
    match words.next() {
        Some("fault") => {}
        Some("torn-save") => {
            let n = words.next().ok_or(ParseError::MissingArgument {
                command: "debug torn-save",
                expected: "a sector count",
            })?;
            let sectors = n.parse().map_err(|_| ParseError::InvalidValue {
                token: n,
                expected: "a sector count",
            })?;
            return Ok(Command::TornSave(sectors));
        }
        Some(other) => {
            return Err(ParseError::InvalidValue {
                token: other,
                expected: "'fault' or 'torn-save'",
            });
        }
        None => {
            return Err(ParseError::MissingArgument {
                command: "debug",
                expected: "'fault' or 'torn-save'",
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
    use std::string::String;
    use vnetcrypt_config::Enforcement;

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
    fn views_and_management_verbs() {
        assert_eq!(parse("identity"), Ok(Command::Show(View::Identity)));
        assert_eq!(parse("identity show"), Ok(Command::Show(View::Identity)));
        assert_eq!(parse("identity rotate"), Ok(Command::IdentityRotate));
        assert_eq!(parse("identity next"), Ok(Command::IdentityNext));
        assert_eq!(parse("identity retire"), Ok(Command::IdentityRetire));
        assert_eq!(parse("peers"), Ok(Command::Show(View::Peers)));
        assert_eq!(parse("peer list"), Ok(Command::Show(View::Peers)));
        assert_eq!(
            parse("peer show gw-b"),
            Ok(Command::Show(View::Peer("gw-b")))
        );
        assert_eq!(parse("interfaces"), Ok(Command::Show(View::Interfaces)));
        assert_eq!(parse("routes"), Ok(Command::Show(View::Routes)));
        assert_eq!(parse("route show"), Ok(Command::Show(View::Routes)));
        assert_eq!(
            parse("route show all"),
            Err(ParseError::UnexpectedArgument("all"))
        );
        assert!(matches!(
            parse("route add 10.244.1.0/24 via 10.1.0.20"),
            Ok(Command::Set(Statement::RouteAdd(_)))
        ));
        assert_eq!(parse("sessions"), Ok(Command::Show(View::Sessions)));
        assert_eq!(parse("counters"), Ok(Command::Show(View::Counters)));
        assert_eq!(parse("flows"), Ok(Command::Show(View::Flows)));
        for (line, v) in [
            ("peers json", JsonView::Peers),
            ("sessions json", JsonView::Sessions),
            ("counters  json", JsonView::Counters),
            ("flows json", JsonView::Flows),
            ("events json", JsonView::Events),
        ] {
            assert_eq!(parse(line), Ok(Command::Show(View::Json(v))), "{line}");
        }
        assert_eq!(
            parse("peers json x"),
            Err(ParseError::UnexpectedArgument("x"))
        );
        assert_eq!(parse("events"), Ok(Command::Show(View::Events(None))));
        assert_eq!(parse("events 5"), Ok(Command::Show(View::Events(Some(5)))));
        assert!(matches!(
            parse("events 0"),
            Err(ParseError::InvalidValue { token: "0", .. })
        ));
        assert_eq!(parse("config show"), Ok(Command::Show(View::Config)));
        assert_eq!(parse("config save"), Ok(Command::ConfigSave));
        assert_eq!(parse("config reset"), Ok(Command::ConfigReset));
        assert_eq!(
            parse("config initialize confirm"),
            Ok(Command::ConfigInitialize)
        );
    }

    #[test]
    fn config_initialize_needs_the_confirmation_word() {
        assert!(matches!(
            parse("config initialize"),
            Err(ParseError::MissingArgument {
                command: "config initialize",
                ..
            })
        ));
        assert_eq!(
            parse("config initialize yes"),
            Err(ParseError::InvalidValue {
                token: "yes",
                expected: "'confirm'"
            })
        );
        assert_eq!(
            parse("config initialize confirm now"),
            Err(ParseError::UnexpectedArgument("now"))
        );
    }

    #[test]
    fn statements_are_delegated_to_the_config_grammar() {
        assert_eq!(
            parse("enforcement drop"),
            Ok(Command::Set(Statement::Enforcement(
                Enforcement::DropUnencrypted
            )))
        );
        assert_eq!(
            parse("enforcement sometimes"),
            Err(ParseError::Statement(StatementError::Invalid {
                token: "sometimes",
                expected: "allow or drop"
            }))
        );
        assert!(matches!(
            parse("peer remove b"),
            Ok(Command::Set(Statement::PeerRemove("b")))
        ));
    }

    #[test]
    fn errors_name_the_token() {
        assert_eq!(parse("stauts"), Err(ParseError::UnknownCommand("stauts")));
        assert_eq!(
            parse("status now"),
            Err(ParseError::UnexpectedArgument("now"))
        );
        assert_eq!(parse("help a b"), Err(ParseError::UnexpectedArgument("b")));
        assert_eq!(
            parse("peers all"),
            Err(ParseError::UnexpectedArgument("all"))
        );
        assert_eq!(
            parse("identity delete"),
            Err(ParseError::InvalidValue {
                token: "delete",
                expected: "show, next, rotate or retire"
            })
        );
        assert!(matches!(
            parse("config"),
            Err(ParseError::MissingArgument {
                command: "config",
                ..
            })
        ));
        assert!(matches!(
            parse("peer show"),
            Err(ParseError::MissingArgument { .. })
        ));
    }

    #[test]
    fn error_messages_are_short_and_clear() {
        use core::fmt::Write;
        let bytes = [b'x'; 100];
        let long = core::str::from_utf8(&bytes).unwrap();
        let mut text = String::new();
        write!(text, "{}", parse(long).unwrap_err()).unwrap();
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
        assert_eq!(
            parse("debug fault stack"),
            Ok(Command::Fault(FaultKind::StackOverflow))
        );
        assert_eq!(parse("debug torn-save 3"), Ok(Command::TornSave(3)));
        assert!(matches!(
            parse("debug torn-save x"),
            Err(ParseError::InvalidValue { token: "x", .. })
        ));
        assert!(matches!(
            parse("debug torn-save"),
            Err(ParseError::MissingArgument { .. })
        ));
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
