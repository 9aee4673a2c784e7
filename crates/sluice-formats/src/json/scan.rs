//! The fast path of [`super::decode`]: one hand-written pass over the common shape of a
//! record, a flat JSON object whose strings have no escapes and whose values fit their columns.
//!
//! It answers only when it is sure. Anything else (an escape, a value that does not fit its
//! column, a number it cannot convert exactly as serde_json does, a syntax error, bytes that are
//! not UTF-8, nesting deeper than [`MAX_DEPTH`]) makes it give up, and the caller decodes the
//! record again with serde_json, which gives the value or the error. So the fast path never
//! changes a result: it only skips serde_json's per-token overhead and per-string UTF-8 checks
//! (the input is checked once, whole).

use crate::row::{Field, Kind, RowSchema, Value};
use crate::time;
use compact_str::CompactString;

/// Deepest nesting of a skipped value (an unknown key's) the fast path follows.
const MAX_DEPTH: usize = 64;

/// Powers of ten exactly representable as `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Decodes `input` into `values` (one cell per column of `schema`); `false` when the record
/// needs the full decoder (then `values` holds nothing of use).
pub(super) fn object(schema: &RowSchema, input: &[u8], values: &mut Vec<Value>) -> bool {
    let Ok(text) = std::str::from_utf8(input) else { return false };
    let fields = &schema.fields;
    // Cells are pushed while keys come in schema order (the common case: no fill, no drop of
    // a placeholder); a key out of order fills the gap with nulls or replaces its cell.
    values.clear();
    let mut s = Scanner { text, b: input, at: 0 };
    s.ws();
    if !s.eat(b'{') {
        return false;
    }
    s.ws();
    if s.eat(b'}') {
        values.resize(fields.len(), Value::Null);
        return s.end();
    }
    // Keys mostly come in schema order: try the column after the last one first.
    let mut next = 0usize;
    loop {
        let Some(key) = s.plain_string() else { return false };
        s.ws();
        if !s.eat(b':') {
            return false;
        }
        s.ws();
        let at = if fields.get(next).is_some_and(|f| f.name == key) {
            Some(next)
        } else {
            fields.iter().position(|f| f.name == key)
        };
        match at {
            Some(i) => {
                let Some(v) = s.cell(&fields[i]) else { return false };
                if i >= values.len() {
                    if i > values.len() {
                        values.resize(i, Value::Null);
                    }
                    values.push(v);
                } else {
                    values[i] = v;
                }
                next = i + 1;
            }
            None => {
                if !s.skip_value(0) {
                    return false;
                }
            }
        }
        s.ws();
        match s.next() {
            Some(b',') => s.ws(),
            Some(b'}') => {
                if values.len() < fields.len() {
                    values.resize(fields.len(), Value::Null);
                }
                return s.end();
            }
            _ => return false,
        }
    }
}

struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    at: usize,
}

/// A JSON number as written: sign, up to 19 significant digits, the decimal exponent.
struct Number {
    negative: bool,
    digits: u64,
    /// The value is `digits × 10^exponent` (fraction digits make it negative).
    exponent: i32,
    /// Written with a fraction or an exponent (serde_json then visits it as a float).
    float: bool,
}

impl<'a> Scanner<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    #[inline]
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    /// Only whitespace after the object.
    fn end(&mut self) -> bool {
        self.ws();
        self.at == self.b.len()
    }

    /// A string without escapes or control characters (its text, borrowed). Eight bytes at a
    /// time while none of them can end it, then byte by byte.
    #[inline]
    fn plain_string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        let mut i = start;
        while let Some(chunk) = self.b.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            if may_end_string(u64::from_le_bytes(w)) {
                break;
            }
            i += 8;
        }
        loop {
            match *self.b.get(i)? {
                b'"' => {
                    self.at = i + 1;
                    return self.text.get(start..i);
                }
                b'\\' => return None,
                c if c < 0x20 => return None,
                _ => i += 1,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        if self.b.get(self.at..self.at + word.len()) == Some(word) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    /// A number in JSON's grammar, if its significand has at most 19 digits.
    fn number(&mut self) -> Option<Number> {
        let negative = self.eat(b'-');
        let mut digits: u64 = 0;
        let mut count = 0u32;
        match self.next()? {
            b'0' => {
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return None;
                }
            }
            c @ b'1'..=b'9' => {
                digits = u64::from(c - b'0');
                count = 1;
                while let Some(c @ b'0'..=b'9') = self.peek() {
                    if count == 19 {
                        return None;
                    }
                    self.at += 1;
                    digits = digits * 10 + u64::from(c - b'0');
                    count += 1;
                }
            }
            _ => return None,
        }
        let mut exponent: i32 = 0;
        let mut float = false;
        if self.eat(b'.') {
            float = true;
            let before = self.at;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                self.at += 1;
                if digits == 0 && c == b'0' {
                    // Leading zeros of the fraction add no significant digit.
                } else {
                    if count == 19 {
                        return None;
                    }
                    digits = digits * 10 + u64::from(c - b'0');
                    count += 1;
                }
                exponent -= 1;
            }
            if self.at == before {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            float = true;
            let minus = match self.peek() {
                Some(b'-') => {
                    self.at += 1;
                    true
                }
                Some(b'+') => {
                    self.at += 1;
                    false
                }
                _ => false,
            };
            let before = self.at;
            let mut e: i32 = 0;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                self.at += 1;
                e = e.checked_mul(10)?.checked_add(i32::from(c - b'0'))?;
            }
            if self.at == before {
                return None;
            }
            exponent = exponent.checked_add(if minus { -e } else { e })?;
        }
        Some(Number { negative, digits, exponent, float })
    }

    /// The cell of the value at the cursor for column `f`, if it fits exactly as serde_json
    /// would make it fit.
    fn cell(&mut self, f: &Field) -> Option<Value> {
        match self.peek()? {
            b'n' => self.literal(b"null").then_some(Value::Null),
            b't' if f.kind == Kind::Bool => self.literal(b"true").then_some(Value::Bool(true)),
            b'f' if f.kind == Kind::Bool => self.literal(b"false").then_some(Value::Bool(false)),
            b'"' => {
                let s = self.plain_string()?;
                match f.kind {
                    Kind::Str => Some(Value::Str(CompactString::from(s))),
                    Kind::Timestamp => time::parse_ms(s).map(Value::Timestamp),
                    _ => None,
                }
            }
            b'-' | b'0'..=b'9' => {
                let n = self.number()?;
                // serde_json visits "-0" as the float -0.0: left to it.
                if n.negative && n.digits == 0 {
                    return None;
                }
                match f.kind {
                    Kind::Int | Kind::Timestamp if !n.float => {
                        let v = i64::try_from(n.digits).ok()?;
                        let v = if n.negative { -v } else { v };
                        Some(if f.kind == Kind::Int { Value::Int(v) } else { Value::Timestamp(v) })
                    }
                    Kind::Float => exact_f64(&n).map(Value::Float),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Skips any JSON value (an unknown key's); `false` on anything the fast path leaves to
    /// serde_json.
    fn skip_value(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match self.peek() {
            Some(b'"') => self.plain_string().is_some(),
            Some(b'n') => self.literal(b"null"),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'-' | b'0'..=b'9') => self.number().is_some(),
            Some(b'[') => {
                self.at += 1;
                self.ws();
                if self.eat(b']') {
                    return true;
                }
                loop {
                    if !self.skip_value(depth + 1) {
                        return false;
                    }
                    self.ws();
                    match self.next() {
                        Some(b',') => self.ws(),
                        Some(b']') => return true,
                        _ => return false,
                    }
                }
            }
            Some(b'{') => {
                self.at += 1;
                self.ws();
                if self.eat(b'}') {
                    return true;
                }
                loop {
                    if self.plain_string().is_none() {
                        return false;
                    }
                    self.ws();
                    if !self.eat(b':') {
                        return false;
                    }
                    self.ws();
                    if !self.skip_value(depth + 1) {
                        return false;
                    }
                    self.ws();
                    match self.next() {
                        Some(b',') => self.ws(),
                        Some(b'}') => return true,
                        _ => return false,
                    }
                }
            }
            _ => false,
        }
    }
}

/// Whether one of the eight bytes of `w` is a quote, a backslash or a control character
/// (exact: the classic zero-byte and less-than tests on whole words, Hacker's Delight 6-1).
#[inline]
fn may_end_string(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let quote = zero_byte(w ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(w ^ (ONES * u64::from(b'\\')));
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    quote | backslash | control != 0
}

/// `n` as an `f64` when one multiplication or division of exactly representable values gives
/// it (so correctly rounded, and what serde_json computes); `None` otherwise.
fn exact_f64(n: &Number) -> Option<f64> {
    if n.digits >= 1 << 53 {
        return None;
    }
    let m = n.digits as f64;
    let v = match n.exponent {
        0 => m,
        e @ 1..=22 => m * POW10[e as usize],
        e @ -22..=-1 => m / POW10[(-e) as usize],
        _ if n.digits == 0 => 0.0,
        _ => return None,
    };
    Some(if n.negative { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> RowSchema {
        RowSchema::new(vec![
            Field::new("customer_id", Kind::Str),
            Field::new("final_amount", Kind::Float),
            Field::new("batch_number", Kind::Int),
            Field::new("at", Kind::Timestamp),
            Field::new("ok", Kind::Bool),
        ])
    }

    fn ends_string(c: u8) -> bool {
        c == b'"' || c == b'\\' || c < 0x20
    }

    #[test]
    fn the_word_test_finds_exactly_the_bytes_that_end_a_string() {
        // Every byte value at every position, among neighbours of every kind.
        for filler in [0x00, 0x1f, 0x20, 0x21, 0x22, 0x41, 0x5c, 0x7f, 0x80, 0xa2, 0xdc, 0xff] {
            for at in 0..8 {
                for c in 0..=255u8 {
                    let mut w = [filler; 8];
                    w[at] = c;
                    let want = w.iter().any(|&b| ends_string(b));
                    assert_eq!(may_end_string(u64::from_le_bytes(w)), want, "{w:02x?}");
                }
            }
        }
        // And words of mixed bytes.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let want = x.to_le_bytes().iter().any(|&b| ends_string(b));
            assert_eq!(may_end_string(x), want, "{x:#018x}");
        }
    }

    #[test]
    fn strings_of_every_length_end_where_they_end() {
        let schema = RowSchema::new(vec![Field::new("s", Kind::Str), Field::new("n", Kind::Int)]);
        let mut v = Vec::new();
        for len in 0..40 {
            let text: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let json = format!(r#"{{"s":"{text}","n":{len}}}"#);
            assert!(object(&schema, json.as_bytes(), &mut v), "{json}");
            assert_eq!(v, vec![Value::from(text.as_str()), Value::Int(len)]);
            // A quote, backslash or control character anywhere in it: left to serde_json.
            for at in 0..len as usize {
                for bad in ["\\n", "\u{1}"] {
                    let mut t = text.clone();
                    t.insert_str(at, bad);
                    let json = format!(r#"{{"s":"{t}","n":1}}"#);
                    assert!(!object(&schema, json.as_bytes(), &mut v), "{json}");
                }
            }
        }
        // Keys out of schema order, missing and unknown.
        assert!(object(&schema, br#"{"x":[1,{"y":"z"}],"n":5,"s":"abcdefghijkl"}"#, &mut v));
        assert_eq!(v, vec![Value::from("abcdefghijkl"), Value::Int(5)]);
        assert!(object(&schema, br#"{"n":5}"#, &mut v));
        assert_eq!(v, vec![Value::Null, Value::Int(5)]);
        assert!(object(&schema, br#"{"n":5,"n":6}"#, &mut v));
        assert_eq!(v, vec![Value::Null, Value::Int(6)]);
    }

    #[test]
    fn takes_flat_records_and_leaves_the_rest() {
        let mut v = Vec::new();
        let seed = br#"{"customer_id":"CUST_10001","transaction_id":"TXN_100000","final_amount":1234.56,
            "batch_number":7,"batch_position":1,"producer_timestamp":1795435200.123,"at":"2026-11-23T10:00:00Z",
            "nested":{"a":[1,2.5e3,null,true]},"ok":false}"#;
        assert!(object(&schema(), seed, &mut v));
        assert_eq!(
            v,
            vec![
                Value::from("CUST_10001"),
                Value::Float(1234.56),
                Value::Int(7),
                Value::Timestamp(1_795_428_000_000),
                Value::Bool(false)
            ]
        );
        assert!(object(&schema(), b" {} ", &mut v));
        assert_eq!(v, vec![Value::Null; 5]);
        for other in [
            &br#"{"customer_id":"esc\"aped"}"#[..],
            br#"{"batch_number":3.0}"#,
            br#"{"final_amount":-0}"#,
            br#"{"final_amount":1e23}"#,
            br#"{"customer_id":12}"#,
            br#"{"ok":1}"#,
            br#"{"at":"not a time"}"#,
            br#"{"customer_id":"x"} x"#,
            br#"{"customer_id":"x",}"#,
            b"[1]",
            b"{\"customer_id\":\"\xff\"}",
        ] {
            assert!(!object(&schema(), other, &mut v), "{}", String::from_utf8_lossy(other));
        }
    }
}
