//! The fast path of [`super::decode`]: one hand-written pass over the common shape of a
//! record, a flat JSON object whose strings have no escapes and whose values fit their columns.
//!
//! It answers only when it is sure. Anything else (an escape, a value that does not fit its
//! column, a number it cannot convert exactly as serde_json does, a syntax error, bytes that are
//! not UTF-8, nesting deeper than [`MAX_DEPTH`]) makes it give up, and the caller decodes the
//! record again with serde_json, which gives the value or the error. So the fast path never
//! changes a result: it only skips serde_json's per-token overhead. UTF-8 is checked where it
//! can be wrong, in strings: outside them the grammar admits only ASCII, and a string's bytes
//! are tested for ASCII in the words its end is searched in (only a string with other bytes is
//! validated).

use crate::row::{Field, Kind, RowSchema, Value, unseen_columns};
use crate::time;

/// Powers of ten up to 10^8, as integers.
const POW10_U64: [u64; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// Deepest nesting of a skipped value (an unknown key's) the fast path follows.
const MAX_DEPTH: usize = 64;

/// Powers of ten exactly representable as `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Each column's key as it is written in a compact record after another key's value: comma,
/// quotes and colon included (`,"name":`; without its comma, the key as it is written first),
/// when its name can be matched byte for byte (no quote, backslash or control character in
/// it, so no escape could spell it); otherwise empty. See [`object`].
pub(super) fn quoted_keys(schema: &RowSchema) -> Vec<Box<[u8]>> {
    let plain = |n: &str| !n.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20);
    schema
        .fields
        .iter()
        .map(|f| if plain(&f.name) { format!(",\"{}\":", f.name).into_bytes().into() } else { Box::default() })
        .collect()
}

/// Decodes `input` into `values` (one cell per column of `schema`); `false` when the record
/// needs the full decoder (then `values` holds nothing of use).
///
/// `keys` (from [`quoted_keys`], or empty) lets the expected next key be recognised by one
/// comparison instead of being scanned as a string and then compared. Columns whose bit is set
/// in `unread` (the first 64) are checked as the others are but left null: nothing reads them,
/// and building their strings was most of what they cost.
pub(super) fn object(
    schema: &RowSchema,
    keys: &[Box<[u8]>],
    unread: u64,
    input: &[u8],
    values: &mut Vec<Value>,
) -> bool {
    let fields = &schema.fields;
    // Each cell is written where it lies (a value built on the stack and then moved into the
    // row cost a store-forwarding stall per cell); cells of keys the record lacks are set to
    // null at the end (tracked in a bit set for the first 64 columns; wider rows are reset up
    // front).
    let tracked = fields.len() <= 64;
    if values.len() != fields.len() {
        values.clear();
        values.resize(fields.len(), Value::Null);
    } else if !tracked {
        values.iter_mut().for_each(|v| *v = Value::Null);
    }
    let mut seen = 0u64;
    let mut s = Scanner { b: input, at: 0 };
    s.ws();
    if !s.eat(b'{') {
        return false;
    }
    s.ws();
    // Keys mostly come in schema order: try the column after the last one first.
    let mut next = 0usize;
    // The next column's key when it was matched right after the last value, comma included.
    let mut matched = None;
    if !s.eat(b'}') {
        loop {
            let at = if let Some(i) = matched.take() {
                Some(i)
            } else if keys.get(next).and_then(|k| k.get(1..)).is_some_and(|k| s.skip_key(k)) {
                // The expected column's key and its colon, as written first (without a comma).
                Some(next)
            } else {
                let Some(key) = s.plain_string() else { return false };
                s.ws();
                if !s.eat(b':') {
                    return false;
                }
                if fields.get(next).is_some_and(|f| f.name == key) {
                    Some(next)
                } else {
                    fields.iter().position(|f| f.name == key)
                }
            };
            s.ws();
            match at {
                Some(i) => {
                    let unread = i < 64 && unread & 1 << i != 0;
                    let fits = if unread {
                        s.cell_into::<false>(&fields[i], &mut values[i])
                    } else {
                        s.cell_into::<true>(&fields[i], &mut values[i])
                    };
                    if !fits {
                        return false;
                    }
                    if i < 64 {
                        seen |= 1 << i;
                    }
                    next = i + 1;
                }
                None => {
                    if !s.skip_value(0) {
                        return false;
                    }
                }
            }
            // Compact JSON in schema order: the comma and the next column's key follow at once.
            if keys.get(next).is_some_and(|k| s.skip_key(k)) {
                matched = Some(next);
                continue;
            }
            s.ws();
            match s.next() {
                Some(b',') => s.ws(),
                Some(b'}') => break,
                _ => return false,
            }
        }
    }
    if tracked {
        for c in unseen_columns(fields.len(), seen) {
            values[c] = Value::Null;
        }
    }
    s.end()
}

struct Scanner<'a> {
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
    /// time: the first byte of a word that can end the string is found from the word's mask,
    /// and the words' high bits collected on the way tell ASCII (most strings, taken as they
    /// are) from text that must be validated; byte by byte only in the input's last seven bytes.
    #[inline]
    fn plain_string(&mut self) -> Option<&'a str> {
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        let mut i = start;
        let mut high = 0u64;
        while let Some(chunk) = self.b.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            let w = u64::from_le_bytes(w);
            let m = string_end_mask(w);
            if m != 0 {
                let k = m.trailing_zeros() / 8;
                let end = i + k as usize;
                if self.b[end] != b'"' {
                    return None;
                }
                // The word's bytes before the quote.
                high |= w & ((1u64 << (8 * k)) - 1);
                self.at = end + 1;
                return str_of(&self.b[start..end], high & HIGHS == 0);
            }
            high |= w;
            i += 8;
        }
        loop {
            match *self.b.get(i)? {
                b'"' => {
                    self.at = i + 1;
                    return str_of(&self.b[start..i], high & HIGHS == 0);
                }
                b'\\' => return None,
                c if c < 0x20 => return None,
                c => {
                    high |= u64::from(c);
                    i += 1;
                }
            }
        }
    }

    /// The digits that start the next eight bytes: their value and how many there are (0 to
    /// 8). Whole-word arithmetic: a long number was a chain of dependent multiply-adds, one per
    /// digit. Near the input's end the word is padded with zero bytes, which are not digits.
    #[inline(always)]
    fn eight_digits(&self) -> (u64, u32) {
        let w = match self.b.get(self.at..self.at + 8) {
            Some(chunk) => {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                w
            }
            None => padded_word(self.b.get(self.at..).unwrap_or_default()),
        };
        let (n, v) = leading_digits(u64::from_le_bytes(w));
        (v, n)
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
    // Inlined: returned through memory, its fields were stored one by one and read back whole, a
    // store-forwarding stall per number.
    #[inline(always)]
    fn number(&mut self) -> Option<Number> {
        let negative = self.eat(b'-');
        let mut digits: u64 = 0;
        let mut count = 0u32;
        match self.peek()? {
            b'0' => {
                self.at += 1;
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return None;
                }
            }
            // The first digit is read with the others (a number of up to eight digits is one
            // word).
            b'1'..=b'9' => loop {
                let (v, n) = self.eight_digits();
                if count + n > 19 {
                    return None;
                }
                digits = digits * POW10_U64[n as usize] + v;
                count += n;
                self.at += n as usize;
                if n < 8 {
                    break;
                }
            },
            _ => return None,
        }
        let mut exponent: i32 = 0;
        let mut float = false;
        if self.eat(b'.') {
            float = true;
            let before = self.at;
            loop {
                let (v, n) = self.eight_digits();
                // Significant digits: leading zeros (of a number that is zero so far) are not.
                let significant = if digits == 0 { v.checked_ilog10().map_or(0, |l| l + 1) } else { n };
                if count + significant > 19 {
                    return None;
                }
                digits = digits * POW10_U64[n as usize] + v;
                count += significant;
                exponent -= n as i32;
                self.at += n as usize;
                if n < 8 {
                    break;
                }
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

    /// Moves past `key` when the input goes on with it (an empty key never matches).
    #[inline(always)]
    fn skip_key(&mut self, key: &[u8]) -> bool {
        let hit = !key.is_empty() && self.b.get(self.at..).is_some_and(|rest| has_prefix(rest, key));
        if hit {
            self.at += key.len();
        }
        hit
    }

    /// Writes the value at the cursor into `cell`, column `f`'s, if it fits exactly as
    /// serde_json would make it fit; `false` otherwise (then `cell` may hold anything). With
    /// `KEEP` false the value is checked just the same, and `cell` is made null.
    #[inline(always)]
    fn cell_into<const KEEP: bool>(&mut self, f: &Field, cell: &mut Value) -> bool {
        if !KEEP && !cell.is_null() {
            *cell = Value::Null;
        }
        let Some(c) = self.peek() else { return false };
        match c {
            b'n' if self.literal(b"null") => put::<KEEP>(cell, Value::Null),
            b't' if f.kind == Kind::Bool && self.literal(b"true") => put::<KEEP>(cell, Value::Bool(true)),
            b'f' if f.kind == Kind::Bool && self.literal(b"false") => put::<KEEP>(cell, Value::Bool(false)),
            b'"' => {
                let Some(s) = self.plain_string() else { return false };
                match f.kind {
                    Kind::Str if KEEP => cell.set_str(s),
                    Kind::Str => {}
                    Kind::Timestamp => match time::parse_ms(s) {
                        Some(t) => put::<KEEP>(cell, Value::Timestamp(t)),
                        None => return false,
                    },
                    _ => return false,
                }
            }
            b'-' | b'0'..=b'9' => {
                let Some(n) = self.number() else { return false };
                // serde_json visits "-0" as the float -0.0: left to it.
                if n.negative && n.digits == 0 {
                    return false;
                }
                match f.kind {
                    Kind::Int | Kind::Timestamp if !n.float => {
                        let Ok(v) = i64::try_from(n.digits) else { return false };
                        let v = if n.negative { -v } else { v };
                        put::<KEEP>(cell, if f.kind == Kind::Int { Value::Int(v) } else { Value::Timestamp(v) });
                    }
                    Kind::Float => match exact_f64(&n) {
                        Some(x) => put::<KEEP>(cell, Value::Float(x)),
                        None => return false,
                    },
                    _ => return false,
                }
            }
            _ => return false,
        }
        true
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

/// Writes `v` into `cell` when `KEEP` (see [`Scanner::cell_into`]).
#[inline(always)]
fn put<const KEEP: bool>(cell: &mut Value, v: Value) {
    if KEEP {
        *cell = v;
    }
}

/// `b` as text: `ascii` says every byte is below 0x80 (then there is nothing to check);
/// otherwise it is validated. `None` when it is not UTF-8.
#[inline]
#[allow(unsafe_code)]
fn str_of(b: &[u8], ascii: bool) -> Option<&str> {
    if ascii {
        debug_assert!(b.is_ascii());
        // SAFETY: the caller saw every byte of `b` below 0x80, and ASCII is UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(b) })
    } else {
        not_ascii(b)
    }
}

/// [`str_of`]'s validation, out of line (rare in most data).
#[cold]
#[inline(never)]
fn not_ascii(b: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(b).ok()
}

/// The input's last bytes (fewer than eight) followed by zero bytes. Out of line: it is rare,
/// and its copy of a variable length is a `memcpy` call.
#[cold]
#[inline(never)]
fn padded_word(rest: &[u8]) -> [u8; 8] {
    let mut w = [0u8; 8];
    let n = rest.len().min(8);
    w[..n].copy_from_slice(&rest[..n]);
    w
}

/// How many of the bytes of the little-endian word `w` are decimal digits before the first
/// that is not (0 to 8), and the number they spell. A byte is a digit when it is at least '0'
/// and subtracting '0' leaves at most 9 (adding 0x76 does not reach the high bit); borrows and
/// carries only travel up, into bytes after the first non-digit, which are shifted out. The
/// digits then pair up into 2-, 4- and 8-digit numbers by three multiplications (the first
/// digit is the lowest byte).
#[inline(always)]
fn leading_digits(w: u64) -> (u32, u64) {
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let x = w.wrapping_sub(0x3030_3030_3030_3030);
    let not_digit = (x | x.wrapping_add(0x7676_7676_7676_7676)) & HIGHS;
    let n = not_digit.trailing_zeros() / 8;
    if n == 0 {
        return (0, 0);
    }
    // The digits as the last `n` of eight, after zeros.
    let v = x << (64 - 8 * n);
    let v = (v & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(10 << 8 | 1) >> 8;
    let v = (v & 0x00FF_00FF_00FF_00FF).wrapping_mul(100 << 16 | 1) >> 16;
    let v = (v & 0x0000_FFFF_0000_FFFF).wrapping_mul(10_000 << 32 | 1) >> 32;
    (n, v)
}

/// The bytes of the little-endian word `w` that are a quote, a backslash or a control
/// character, as their high bits (the classic zero-byte and less-than tests on whole words,
/// Hacker's Delight 6-1). Zero exactly when there is none; otherwise its lowest set bit is the
/// first such byte's (a borrow can only mark bytes above a true one).
#[inline]
fn string_end_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let quote = zero_byte(w ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(w ^ (ONES * u64::from(b'\\')));
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    quote | backslash | control
}

/// Whether `rest` starts with `key`: whole words compared (a key of eight bytes or more as
/// overlapping words), not a `memcmp` call per key.
#[inline]
fn has_prefix(rest: &[u8], key: &[u8]) -> bool {
    let n = key.len();
    if n < 8 || rest.len() < n {
        return rest.starts_with(key);
    }
    let word = |s: &[u8], i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let mut i = 0;
    while i + 8 < n {
        if word(rest, i) != word(key, i) {
            return false;
        }
        i += 8;
    }
    word(rest, n - 8) == word(key, n - 8)
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

    /// [`object`] without and with the quoted keys: both must give the same answer and cells.
    fn both(schema: &RowSchema, input: &[u8], v: &mut Vec<Value>) -> bool {
        let plain = object(schema, &[], 0, input, v);
        // Stale cells of every column (a long string: a heap buffer to reuse or replace).
        let mut with_keys = vec![Value::from("a stale cell from the last record, long"); schema.len()];
        let keyed = object(schema, &quoted_keys(schema), 0, input, &mut with_keys);
        assert_eq!(plain, keyed, "{}", String::from_utf8_lossy(input));
        if plain {
            assert_eq!(*v, with_keys, "{}", String::from_utf8_lossy(input));
        }
        plain
    }

    #[test]
    fn keys_are_matched_whole_and_only_when_no_escape_could_spell_them() {
        let schema = RowSchema::new(vec![
            Field::new("id", Kind::Int),
            Field::new("idx", Kind::Int),
            Field::new("a\\b", Kind::Int),
        ]);
        let keys = quoted_keys(&schema);
        assert_eq!(&*keys[0], b",\"id\":");
        assert!(keys[2].is_empty(), "a name with a backslash is never matched raw");
        let mut v = Vec::new();
        // `"idx"` starts with `"id` but is not `"id"`; whitespace around the colon, after it.
        assert!(both(&schema, br#"{"idx":1,"id" : 2}"#, &mut v));
        assert_eq!(v, vec![Value::Int(2), Value::Int(1), Value::Null]);
        assert!(both(&schema, br#"{"id": 1, "idx" :2}"#, &mut v));
        assert_eq!(v, vec![Value::Int(1), Value::Int(2), Value::Null]);
        assert!(!both(&schema, br#"{"id" 1}"#, &mut v));
        // A key matched with the comma before it, or not (whitespace first); then no value, or
        // the record cut short.
        assert!(both(&schema, br#"{"id":1 ,"idx":2}"#, &mut v));
        assert_eq!(v, vec![Value::Int(1), Value::Int(2), Value::Null]);
        assert!(!both(&schema, br#"{"id":1,"idx":}"#, &mut v));
        assert!(!both(&schema, br#"{"id":1,"idx":"#, &mut v));
        assert!(!both(&schema, br#"{"id":1,"idx""#, &mut v));
        assert!(both(&schema, br#"{"id":1,"idx":2,"other":3}"#, &mut v));
        assert_eq!(v, vec![Value::Int(1), Value::Int(2), Value::Null]);
        // The escaped key spells `a<backspace>`, not the column `a\b`: left to serde_json,
        // which must not fill the column.
        assert!(!both(&schema, br#"{"id":1,"idx":2,"a\b":3}"#, &mut v));
        let row = super::super::decode(&schema, br#"{"id":1,"idx":2,"a\b":3}"#).unwrap();
        assert_eq!(row.values[2], Value::Null);
        let row = super::super::decode(&schema, br#"{"id":1,"idx":2,"a\\b":3}"#).unwrap();
        assert_eq!(row.values[2], Value::Int(3));
    }

    fn ends_string(c: u8) -> bool {
        c == b'"' || c == b'\\' || c < 0x20
    }

    #[test]
    fn prefixes_of_every_length_match_exactly() {
        for n in 0..40usize {
            let key: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            for extra in [0usize, 1, 9] {
                let mut rest = key.clone();
                rest.extend(std::iter::repeat_n(b'"', extra));
                assert!(has_prefix(&rest, &key), "{n} {extra}");
                // One byte different anywhere: no match; the input shorter than the key: none.
                for at in 0..n {
                    let mut other = rest.clone();
                    other[at] ^= 0x20;
                    assert!(!has_prefix(&other, &key), "{n} {extra} {at}");
                }
                if n > 0 {
                    assert!(!has_prefix(&rest[..n - 1], &key), "{n}");
                }
            }
        }
    }

    /// What the word test must find: whether some byte ends a string, and the first one's index.
    fn first_end(w: [u8; 8]) -> Option<u32> {
        w.iter().position(|&b| ends_string(b)).map(|i| i as u32)
    }

    fn first_end_by_mask(w: u64) -> Option<u32> {
        let m = string_end_mask(w);
        (m != 0).then(|| m.trailing_zeros() / 8)
    }

    #[test]
    fn the_word_test_finds_exactly_the_first_byte_that_ends_a_string() {
        // Every byte value at every position, among neighbours of every kind.
        for filler in [0x00, 0x1f, 0x20, 0x21, 0x22, 0x41, 0x5c, 0x7f, 0x80, 0xa2, 0xdc, 0xff] {
            for at in 0..8 {
                for c in 0..=255u8 {
                    let mut w = [filler; 8];
                    w[at] = c;
                    assert_eq!(first_end_by_mask(u64::from_le_bytes(w)), first_end(w), "{w:02x?}");
                }
            }
        }
        // And words of mixed bytes, some with several enders.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..400_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut w = x.to_le_bytes();
            if i % 2 == 1 {
                // Enders are rare in random bytes: plant one or two.
                w[(x >> 59) as usize & 7] = [b'"', b'\\', 0x00, 0x1f][(x >> 40) as usize & 3];
                w[(x >> 61) as usize & 7] = [b'"', b'\\', 0x0a, 0x20][(x >> 44) as usize & 3];
            }
            assert_eq!(first_end_by_mask(u64::from_le_bytes(w)), first_end(w), "{w:02x?}");
        }
    }

    #[test]
    fn strings_of_every_length_end_where_they_end() {
        let schema = RowSchema::new(vec![Field::new("s", Kind::Str), Field::new("n", Kind::Int)]);
        let mut v = Vec::new();
        for len in 0..40 {
            let text: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let json = format!(r#"{{"s":"{text}","n":{len}}}"#);
            assert!(both(&schema, json.as_bytes(), &mut v), "{json}");
            assert_eq!(v, vec![Value::from(text.as_str()), Value::Int(len)]);
            // A quote, backslash or control character anywhere in it: left to serde_json.
            for at in 0..len as usize {
                for bad in ["\\n", "\u{1}"] {
                    let mut t = text.clone();
                    t.insert_str(at, bad);
                    let json = format!(r#"{{"s":"{t}","n":1}}"#);
                    assert!(!both(&schema, json.as_bytes(), &mut v), "{json}");
                }
            }
        }
        // Keys out of schema order, missing and unknown.
        assert!(both(&schema, br#"{"x":[1,{"y":"z"}],"n":5,"s":"abcdefghijkl"}"#, &mut v));
        assert_eq!(v, vec![Value::from("abcdefghijkl"), Value::Int(5)]);
        assert!(both(&schema, br#"{"n":5}"#, &mut v));
        assert_eq!(v, vec![Value::Null, Value::Int(5)]);
        assert!(both(&schema, br#"{"n":5,"n":6}"#, &mut v));
        assert_eq!(v, vec![Value::Null, Value::Int(6)]);
    }

    #[test]
    fn strings_are_taken_only_when_utf8_wherever_their_other_bytes_lie() {
        let schema = RowSchema::new(vec![Field::new("s", Kind::Str), Field::new("n", Kind::Int)]);
        let mut v = Vec::new();
        // Valid: two-, three- and four-byte characters; not: a stray continuation byte, a byte
        // never in UTF-8, a sequence cut short, an encoded surrogate, an overlong encoding.
        let good: [&[u8]; 3] = ["é".as_bytes(), "€".as_bytes(), "😀".as_bytes()];
        let bad: [&[u8]; 5] = [b"\x80", b"\xff", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf"];
        for len in 0..20usize {
            let text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            for at in 0..=len {
                let with = |piece: &[u8]| [&text[..at], piece, &text[at..]].concat();
                for piece in good {
                    let s = with(piece);
                    let json = [br#"{"s":""#, &s[..], br#"","n":1}"#].concat();
                    assert!(both(&schema, &json, &mut v), "{}", String::from_utf8_lossy(&json));
                    assert_eq!(v, vec![Value::from(std::str::from_utf8(&s).unwrap()), Value::Int(1)]);
                }
                for piece in bad {
                    let s = with(piece);
                    // As a column's value, as an unknown key's (skipped) value, as an unknown key.
                    let cases = [
                        [br#"{"s":""#, &s[..], br#"","n":1}"#].concat(),
                        [br#"{"x":[""#, &s[..], br#""],"n":1}"#].concat(),
                        [br#"{""#, &s[..], br#"":1,"n":1}"#].concat(),
                    ];
                    for json in &cases {
                        assert!(!both(&schema, json, &mut v), "{}", String::from_utf8_lossy(json));
                    }
                    // serde_json then refuses the column's value (an ignored value's bytes it
                    // does not check).
                    assert!(
                        super::super::decode(&schema, &cases[0]).is_err(),
                        "{}",
                        String::from_utf8_lossy(&cases[0])
                    );
                }
            }
        }
    }

    #[test]
    fn leading_digits_are_counted_and_read_exactly() {
        let naive = |w: [u8; 8]| {
            let n = w.iter().take_while(|c| c.is_ascii_digit()).count();
            (n as u32, w[..n].iter().fold(0u64, |v, c| v * 10 + u64::from(c - b'0')))
        };
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Every byte value right after 0 to 7 digits, the digits and the bytes after it random
        // (any byte, or digits again).
        for n in 0..8 {
            for c in 0..=255u8 {
                for _ in 0..20 {
                    let r = next().to_le_bytes();
                    let mut w = [0u8; 8];
                    for (i, b) in w.iter_mut().enumerate() {
                        *b = if i < n {
                            b'0' + r[i] % 10
                        } else if next() % 2 == 0 {
                            r[i]
                        } else {
                            b'0' + r[i] % 10
                        };
                    }
                    w[n] = c;
                    assert_eq!(leading_digits(u64::from_le_bytes(w)), naive(w), "{w:02x?}");
                }
            }
        }
        for _ in 0..100_000 {
            let r = next().to_le_bytes();
            let w = r.map(|b| b'0' + b % 10);
            assert_eq!(leading_digits(u64::from_le_bytes(w)), naive(w), "{w:02x?}");
        }
    }

    #[test]
    fn numbers_of_every_length_read_as_serde_json_reads_them() {
        let schema =
            RowSchema::new(vec![Field::new("i", Kind::Int), Field::new("f", Kind::Float), Field::new("s", Kind::Str)]);
        let digits = "31415926535897932384626433832795";
        let mut taken = 0;
        let mut v = Vec::new();
        for int_len in 1..22 {
            for frac in [
                "",
                ".",
                ".5",
                ".25",
                ".000123",
                ".0000000001",
                ".00000000000000000009",
                ".1234567890123",
                ".99999999999999999999",
                "e5",
                "E-3",
                ".5e+2",
                ".123456789012345678",
            ] {
                for zero in [false, true] {
                    let int = if zero { "0".to_string() } else { digits[..int_len].to_string() };
                    for sign in ["", "-"] {
                        let num = format!("{sign}{int}{frac}");
                        // At the start and at the end of the record, so that the number's last
                        // digits are read from whole words and from a zero-padded one; as an int and as a
                        // float; and skipped.
                        for json in [
                            format!(r#"{{"i":{num},"s":"padding to read whole words"}}"#),
                            format!(r#"{{"s":"x","f":{num}}}"#),
                            format!(r#"{{"f":{num},"s":"padding to read whole words"}}"#),
                            format!(r#"{{"i":{num}}}"#),
                            format!(r#"{{"x":{num},"i":1}}"#),
                        ] {
                            let want = super::super::decode_with_serde_json(&schema, json.as_bytes());
                            if both(&schema, json.as_bytes(), &mut v) {
                                taken += 1;
                                let want = want.unwrap_or_else(|e| panic!("{json}: taken, but serde_json says {e}"));
                                assert_eq!(v, want.values, "{json}");
                            }
                        }
                    }
                }
            }
        }
        assert!(taken > 1500, "the fast path took only {taken} records");
    }

    #[test]
    fn takes_flat_records_and_leaves_the_rest() {
        let mut v = Vec::new();
        let seed = br#"{"customer_id":"CUST_10001","transaction_id":"TXN_100000","final_amount":1234.56,
            "batch_number":7,"batch_position":1,"producer_timestamp":1795435200.123,"at":"2026-11-23T10:00:00Z",
            "nested":{"a":[1,2.5e3,null,true]},"ok":false}"#;
        assert!(both(&schema(), seed, &mut v));
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
        assert!(both(&schema(), b" {} ", &mut v));
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
            assert!(!both(&schema(), other, &mut v), "{}", String::from_utf8_lossy(other));
        }
    }
}
