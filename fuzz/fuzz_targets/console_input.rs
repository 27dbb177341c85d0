//! Arbitrary bytes typed at the console: through the line editor, the parser, and
//! (for configuration statements) applied to a running configuration. Nothing may
//! panic, and a statement that is refused must leave the configuration unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vnetcrypt_config::Config;
use vnetcrypt_console::{parse, Command, LineEditor, Submit};

struct Sink;
impl core::fmt::Write for Sink {
    fn write_str(&mut self, _: &str) -> core::fmt::Result {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut editor = LineEditor::new();
    let mut config = Config::default();
    for &b in data {
        let Some(Submit::Line(line)) = editor.feed(b, &mut Sink) else {
            continue;
        };
        let Ok(Command::Set(st)) = parse(line) else {
            continue;
        };
        let before = config.clone();
        if config.apply(st).is_err() {
            assert_eq!(config, before, "a refused statement changed the configuration");
        }
        // What `config show` prints must rebuild the same configuration.
        let mut shown = String::new();
        config.write_statements(&mut shown).unwrap();
        let (rebuilt, errors) = vnetcrypt_config::store::load_text(&shown);
        assert!(errors.is_empty(), "config show printed a line it cannot read back: {errors:?}");
        assert_eq!(rebuilt, config, "config show does not round-trip");
    }
});
