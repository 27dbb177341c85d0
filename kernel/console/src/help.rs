//! `help`: every command with its usage and a one-line explanation.

use crate::command::COMMANDS;
use core::fmt::{self, Write};

/// Writes the command list, or the usage of one command.
pub fn write_help(topic: Option<&str>, w: &mut dyn Write) -> fmt::Result {
    match topic {
        None => {
            w.write_str("commands:\r\n")?;
            for (_, usage, what) in COMMANDS {
                write!(w, "  {usage:<22} {what}\r\n")?;
            }
            w.write_str("keys: backspace edits, ^U clears the line, ^C abandons it\r\n")
        }
        Some(name) => match COMMANDS.iter().find(|(n, _, _)| *n == name) {
            Some((_, usage, what)) => write!(w, "usage: {usage}\r\n  {what}\r\n"),
            None => write!(w, "error: no help for '{name}' (try 'help')\r\n"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn lists_every_command() {
        let mut out = String::new();
        write_help(None, &mut out).unwrap();
        for (name, _, _) in COMMANDS {
            assert!(out.contains(name), "{name} missing from help");
        }
    }

    #[test]
    fn explains_one_command_or_says_there_is_none() {
        let mut out = String::new();
        write_help(Some("status"), &mut out).unwrap();
        assert!(out.starts_with("usage: status"), "{out}");
        let mut out = String::new();
        write_help(Some("frobnicate"), &mut out).unwrap();
        assert!(out.starts_with("error: no help for 'frobnicate'"), "{out}");
    }

    #[test]
    fn every_listed_command_parses() {
        for (name, _, _) in COMMANDS {
            assert!(
                crate::parse(name).is_ok(),
                "'{name}' is in help but does not parse"
            );
        }
    }
}
