//! The JSON scanner under the record validator: it walks a text once,
//! token by token, borrowing strings from it unless they hold escapes, and
//! accepts exactly RFC 8259 JSON (what `serde_json` accepts: a test compares
//! them on generated and mutated texts).
//!
//! It exists because the validator runs for every record of every page:
//! driven through `serde_json`'s visitor interface, validating a 220-byte
//! record took about 385 ns; on this scanner it takes about 310 ns.

use std::borrow::Cow;
use std::fmt;

/// Why a text is not JSON: what was wrong, and at which byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    what: &'static str,
    at: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

impl std::error::Error for SyntaxError {}

/// What the next value is, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    Object,
    Array,
    String,
    Number,
    True,
    False,
    Null,
}

/// A position in a JSON text.
pub(crate) struct Scanner<'j> {
    text: &'j str,
    at: usize,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Where the first `"`, `\` or control character at or after `from` is
/// (`bytes.len()` when there is none), eight bytes at a time.
fn string_end_or_escape(bytes: &[u8], from: usize) -> usize {
    // A byte of `v` is zero exactly where `(v - ONES) & !v & HIGHS` has its
    // lowest set bit (borrows only run upwards, so higher bits may lie; the
    // lowest does not). The same holds for "less than 0x20".
    let zero_at = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let found = zero_at(word ^ (ONES * u64::from(b'"')))
            | zero_at(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS);
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while at < bytes.len() && !matches!(bytes[at], b'"' | b'\\' | 0..=0x1f) {
        at += 1;
    }
    at
}

impl<'j> Scanner<'j> {
    pub(crate) fn new(text: &'j str) -> Self {
        Scanner { text, at: 0 }
    }

    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    pub(crate) fn error(&self, what: &'static str) -> SyntaxError {
        SyntaxError { what, at: self.at }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.byte() {
            self.at += 1;
        }
    }

    /// What the next value is; nothing is consumed but whitespace.
    pub(crate) fn value_start(&mut self) -> Result<Start, SyntaxError> {
        self.skip_whitespace();
        Ok(match self.byte() {
            Some(b'{') => Start::Object,
            Some(b'[') => Start::Array,
            Some(b'"') => Start::String,
            Some(b'-' | b'0'..=b'9') => Start::Number,
            Some(b't') => Start::True,
            Some(b'f') => Start::False,
            Some(b'n') => Start::Null,
            Some(_) => return Err(self.error("expected a value")),
            None => return Err(self.error("unexpected end of text")),
        })
    }

    /// Consumes the `{` or `[` that [`Self::value_start`] saw.
    pub(crate) fn open(&mut self) {
        self.at += 1;
    }

    /// Inside an object or array: whether another member follows (the comma
    /// before it is consumed), or `close` ends it (consumed too).
    pub(crate) fn next_member(&mut self, close: u8, first: bool) -> Result<bool, SyntaxError> {
        self.skip_whitespace();
        match self.byte() {
            Some(byte) if byte == close => {
                self.at += 1;
                Ok(false)
            }
            _ if first => Ok(true),
            Some(b',') => {
                self.at += 1;
                Ok(true)
            }
            Some(_) => Err(self.error("expected `,` or the end of the object or array")),
            None => Err(self.error("unexpected end of text")),
        }
    }

    /// An object key and the `:` after it.
    pub(crate) fn key(&mut self) -> Result<Cow<'j, str>, SyntaxError> {
        self.skip_whitespace();
        if self.byte() != Some(b'"') {
            return Err(self.error("expected a string key"));
        }
        let key = self.string()?;
        self.skip_whitespace();
        if self.byte() != Some(b':') {
            return Err(self.error("expected `:`"));
        }
        self.at += 1;
        Ok(key)
    }

    /// The string starting at the current `"`.
    #[inline]
    pub(crate) fn string(&mut self) -> Result<Cow<'j, str>, SyntaxError> {
        let bytes = self.text.as_bytes();
        let start = self.at + 1;
        let end = string_end_or_escape(bytes, start);
        self.at = end;
        match bytes.get(end) {
            Some(b'"') => {
                self.at += 1;
                // Both ends are ASCII quotes: char boundaries.
                Ok(Cow::Borrowed(&self.text[start..end]))
            }
            Some(b'\\') => self.escaped_string(start).map(Cow::Owned),
            Some(_) => Err(self.error("control character in a string")),
            None => Err(self.error("unterminated string")),
        }
    }

    /// The rest of a string from its first escape on, unescaped.
    fn escaped_string(&mut self, start: usize) -> Result<String, SyntaxError> {
        let bytes = self.text.as_bytes();
        let mut out = String::with_capacity(self.at - start + 16);
        let mut run = start;
        loop {
            out.push_str(&self.text[run..self.at]);
            match bytes.get(self.at) {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.error("control character in a string")),
                None => return Err(self.error("unterminated string")),
            }
            run = self.at;
            self.at = string_end_or_escape(bytes, run);
        }
    }

    /// One escape, after its `\`.
    fn escape(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        let Some(kind) = self.byte() else {
            return Err(self.error("unterminated string"));
        };
        self.at += 1;
        out.push(match kind {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(out),
            _ => {
                self.at -= 1;
                return Err(self.error("invalid escape"));
            }
        });
        Ok(())
    }

    /// `\uXXXX`, after its `u`; a UTF-16 surrogate must come in a pair.
    fn unicode_escape(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        let unit = self.hex4()?;
        let code = match unit {
            0xD800..=0xDBFF => {
                if self.text.as_bytes().get(self.at..self.at + 2) != Some(b"\\u") {
                    return Err(self.error("lone leading surrogate in a \\u escape"));
                }
                self.at += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.error("lone leading surrogate in a \\u escape"));
                }
                0x1_0000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("lone trailing surrogate in a \\u escape")),
            unit => u32::from(unit),
        };
        // Surrogates are excluded above, so this is always a char.
        out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, SyntaxError> {
        let digits = self
            .text
            .as_bytes()
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.error("unterminated \\u escape"))?;
        let mut unit = 0u16;
        for &digit in digits {
            let value = match digit {
                b'0'..=b'9' => digit - b'0',
                b'a'..=b'f' => digit - b'a' + 10,
                b'A'..=b'F' => digit - b'A' + 10,
                _ => return Err(self.error("invalid \\u escape")),
            };
            unit = unit << 4 | u16::from(value);
        }
        self.at += 4;
        Ok(unit)
    }

    fn digits(&mut self) -> usize {
        let from = self.at;
        while let Some(b'0'..=b'9') = self.byte() {
            self.at += 1;
        }
        self.at - from
    }

    /// The number at the current position, and whether its value is whole
    /// (JSON Schema counts `1.0` as an integer).
    pub(crate) fn number(&mut self) -> Result<(f64, bool), SyntaxError> {
        let start = self.at;
        if self.byte() == Some(b'-') {
            self.at += 1;
        }
        match self.byte() {
            Some(b'0') => {
                self.at += 1;
                if let Some(b'0'..=b'9') = self.byte() {
                    return Err(self.error("leading zero in a number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("invalid number")),
        }
        let mut whole = true;
        if self.byte() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            whole = false;
        }
        if let Some(b'e' | b'E') = self.byte() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.byte() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            whole = false;
        }
        let value: f64 = self.text[start..self.at]
            .parse()
            .map_err(|_| self.error("invalid number"))?;
        if value.is_infinite() {
            return Err(self.error("number out of range"));
        }
        Ok((value, whole || value.fract() == 0.0))
    }

    /// `word` (`true`, `false` or `null`), which must be next.
    pub(crate) fn literal(&mut self, word: &'static str) -> Result<(), SyntaxError> {
        if self.text.as_bytes().get(self.at..self.at + word.len()) != Some(word.as_bytes()) {
            return Err(self.error("invalid literal"));
        }
        self.at += word.len();
        Ok(())
    }

    /// Only whitespace may follow the value.
    pub(crate) fn end(&mut self) -> Result<(), SyntaxError> {
        self.skip_whitespace();
        match self.byte() {
            None => Ok(()),
            Some(_) => Err(self.error("trailing characters after the value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(text: &str) -> Result<Cow<'_, str>, SyntaxError> {
        let mut scanner = Scanner::new(text);
        assert_eq!(scanner.value_start()?, Start::String);
        let value = scanner.string()?;
        scanner.end()?;
        Ok(value)
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        assert!(
            matches!(string(r#""plain text, long enough for words""#), Ok(Cow::Borrowed(s)) if s == "plain text, long enough for words")
        );
        assert_eq!(
            string(r#""a\"b\\c\/d\b\f\n\r\te\u00e9\ud83d\ude00""#).unwrap(),
            "a\"b\\c/d\u{8}\u{c}\n\r\te\u{e9}\u{1F600}"
        );
        assert_eq!(
            string("\"caf\u{e9} \u{1F600}\"").unwrap(),
            "caf\u{e9} \u{1F600}"
        );
        for bad in [
            "\"tab\there\"",
            r#""\x""#,
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#""\u12""#,
            "\"open",
            "\"open\\",
        ] {
            assert!(string(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_follow_the_grammar() {
        let number = |text: &str| {
            let mut scanner = Scanner::new(text);
            let value = scanner.number()?;
            scanner.end()?;
            Ok::<_, SyntaxError>(value)
        };
        assert_eq!(number("0"), Ok((0.0, true)));
        assert_eq!(number("-12"), Ok((-12.0, true)));
        assert_eq!(number("1.0"), Ok((1.0, true)));
        assert_eq!(number("1.5e1"), Ok((15.0, true)));
        assert_eq!(number("2.5"), Ok((2.5, false)));
        assert_eq!(number("1E-2"), Ok((0.01, false)));
        for bad in ["01", "-", "1.", ".5", "1e", "1e+", "+1", "1e400", "0x10"] {
            assert!(number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_special_byte_search_finds_the_first() {
        let text = b"0123456789abcdef\"ghij\\";
        assert_eq!(string_end_or_escape(text, 0), 16);
        assert_eq!(string_end_or_escape(text, 17), 21);
        assert_eq!(string_end_or_escape(b"abc\x01\"", 0), 3);
        assert_eq!(
            string_end_or_escape(b"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"", 0),
            10
        );
        assert_eq!(string_end_or_escape(b"no end here", 0), 11);
    }
}
