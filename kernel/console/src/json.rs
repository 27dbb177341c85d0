//! A small JSON writer for the views' `json` forms: one document per command, on one
//! line, written straight into the console's `fmt::Write` (no allocation).
//!
//! Strings are escaped per RFC 8259 (quote, backslash and every control character),
//! so whatever a name or a rendered value holds, the document stays valid. Numbers are
//! unsigned integers; a missing value is `null`.

use core::fmt::{self, Display, Write};

/// Writes `s` with JSON's escapes (without the quotes).
struct Escaped<'a, 'w>(&'a mut (dyn Write + 'w));

impl Write for Escaped<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(i) = rest.find(|c: char| c == '"' || c == '\\' || c < ' ') {
            self.0.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().unwrap_or(' ');
            match c {
                '"' => self.0.write_str("\\\"")?,
                '\\' => self.0.write_str("\\\\")?,
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{:04x}", c as u32)?,
            }
            rest = &rest[i + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// Writes `v` (anything `Display`) as a JSON string.
pub fn string(w: &mut dyn Write, v: impl Display) -> fmt::Result {
    w.write_char('"')?;
    write!(Escaped(w), "{v}")?;
    w.write_char('"')
}

/// A JSON object being written; [`Object::end`] closes it.
pub struct Object<'a, 'w> {
    w: &'a mut (dyn Write + 'w),
    first: bool,
}

/// A JSON array being written; [`Array::end`] closes it.
pub struct Array<'a, 'w> {
    w: &'a mut (dyn Write + 'w),
    first: bool,
}

impl<'a, 'w> Object<'a, 'w> {
    /// Opens an object.
    pub fn new(w: &'a mut (dyn Write + 'w)) -> Result<Self, fmt::Error> {
        w.write_char('{')?;
        Ok(Self { w, first: true })
    }

    fn key(&mut self, k: &str) -> fmt::Result {
        if !core::mem::take(&mut self.first) {
            self.w.write_char(',')?;
        }
        string(self.w, k)?;
        self.w.write_char(':')
    }

    /// `"k":"v"`, `v` rendered and escaped.
    pub fn str(&mut self, k: &str, v: impl Display) -> Result<&mut Self, fmt::Error> {
        self.key(k)?;
        string(self.w, v)?;
        Ok(self)
    }

    /// `"k":"v"` or `"k":null`.
    pub fn opt_str(&mut self, k: &str, v: Option<impl Display>) -> Result<&mut Self, fmt::Error> {
        match v {
            Some(v) => self.str(k, v),
            None => self.null(k),
        }
    }

    /// `"k":n`.
    pub fn num(&mut self, k: &str, n: u64) -> Result<&mut Self, fmt::Error> {
        self.key(k)?;
        write!(self.w, "{n}")?;
        Ok(self)
    }

    /// `"k":n` or `"k":null`.
    pub fn opt_num(&mut self, k: &str, n: Option<u64>) -> Result<&mut Self, fmt::Error> {
        match n {
            Some(n) => self.num(k, n),
            None => self.null(k),
        }
    }

    /// `"k":true|false`.
    pub fn bool(&mut self, k: &str, b: bool) -> Result<&mut Self, fmt::Error> {
        self.key(k)?;
        self.w.write_str(if b { "true" } else { "false" })?;
        Ok(self)
    }

    /// `"k":null`.
    pub fn null(&mut self, k: &str) -> Result<&mut Self, fmt::Error> {
        self.key(k)?;
        self.w.write_str("null")?;
        Ok(self)
    }

    /// Opens an object under `k`.
    pub fn object(&mut self, k: &str) -> Result<Object<'_, 'w>, fmt::Error> {
        self.key(k)?;
        Object::new(&mut *self.w)
    }

    /// Opens an array under `k`.
    pub fn array(&mut self, k: &str) -> Result<Array<'_, 'w>, fmt::Error> {
        self.key(k)?;
        Array::new(&mut *self.w)
    }

    /// Closes the object.
    pub fn end(self) -> fmt::Result {
        self.w.write_char('}')
    }
}

impl<'a, 'w> Array<'a, 'w> {
    /// Opens an array.
    pub fn new(w: &'a mut (dyn Write + 'w)) -> Result<Self, fmt::Error> {
        w.write_char('[')?;
        Ok(Self { w, first: true })
    }

    fn comma(&mut self) -> fmt::Result {
        if !core::mem::take(&mut self.first) {
            self.w.write_char(',')?;
        }
        Ok(())
    }

    /// A string element.
    pub fn str(&mut self, v: impl Display) -> fmt::Result {
        self.comma()?;
        string(self.w, v)
    }

    /// An object element.
    pub fn object(&mut self) -> Result<Object<'_, 'w>, fmt::Error> {
        self.comma()?;
        Object::new(&mut *self.w)
    }

    /// Closes the array.
    pub fn end(self) -> fmt::Result {
        self.w.write_char(']')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn nested_documents_parse_and_strings_round_trip() {
        let nasty = "a\"b\\c\nd\re\tf\u{1}g\u{1f}h é ]";
        let mut out = String::new();
        let mut o = Object::new(&mut out).unwrap();
        o.str("name", nasty).unwrap().num("n", u64::MAX).unwrap();
        o.opt_num("none", None).unwrap().bool("yes", true).unwrap();
        {
            let mut a = o.array("list").unwrap();
            a.str("x").unwrap();
            let mut inner = a.object().unwrap();
            inner.opt_str("s", Some(42)).unwrap();
            inner.end().unwrap();
            a.end().unwrap();
        }
        o.object("empty").unwrap().end().unwrap();
        o.end().unwrap();
        assert!(!out.contains('\n'), "one line: {out}");
        let v: serde_json::Value = serde_json::from_str(&out).expect(&out);
        assert_eq!(v["name"], nasty);
        assert_eq!(v["n"], u64::MAX);
        assert!(v["none"].is_null());
        assert_eq!(v["yes"], true);
        assert_eq!(v["list"][0], "x");
        assert_eq!(v["list"][1]["s"], "42");
        assert!(v["empty"].as_object().unwrap().is_empty());
    }
}
