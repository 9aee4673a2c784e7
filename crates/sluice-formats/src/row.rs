//! The row form shared by decoders, the stream engine and encoders.
//!
//! A [`Row`] is a vector of [`Value`]s laid out as a [`RowSchema`] says. Strings are
//! [`CompactString`]s, so the short keys and labels that streams are made of (`user3`,
//! `purchase`) live inline without an allocation per field.

use compact_str::CompactString;
use std::fmt;

/// The type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// true / false.
    Bool,
    /// Signed 64-bit integer (protobuf int32/int64/uint32/sint*, JSON integers).
    Int,
    /// 64-bit float (protobuf float/double, JSON numbers with a fraction).
    Float,
    /// UTF-8 text.
    Str,
    /// Raw bytes.
    Bytes,
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Str => "string",
            Kind::Bytes => "bytes",
            Kind::Timestamp => "timestamp",
        })
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Absent or null.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Str(CompactString),
    /// Bytes.
    Bytes(std::sync::Arc<[u8]>),
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp(i64),
}

/// The first 8 bytes of `t` (all of them when shorter, padded with zeros) as a little-endian
/// word, from at most two overlapping loads (a copy into a zeroed `[u8; 8]` is a variable-length
/// memcpy per string).
#[inline(always)]
pub fn le_word(t: &[u8]) -> u64 {
    let n = t.len();
    if n >= 8 {
        u64::from_le_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]])
    } else if n >= 4 {
        let lo = u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as u64;
        let hi = u32::from_le_bytes([t[n - 4], t[n - 3], t[n - 2], t[n - 1]]) as u64;
        // The overlapping bytes are the same in both halves, so OR keeps them.
        lo | (hi << (8 * (n - 4)))
    } else if n > 0 {
        (t[0] as u64) | ((t[n / 2] as u64) << (8 * (n / 2))) | ((t[n - 1] as u64) << (8 * (n - 1)))
    } else {
        0
    }
}

/// Up to 16 bytes as two little-endian words, zero-padded: with the length, they are the bytes.
/// (Written as `(le_word(b), le_word(b.get(8..).unwrap_or_default()))` it measured 4% slower
/// over the user-events job: the branch on the length is what keeps short keys to one load.)
#[inline(always)]
pub fn words16(b: &[u8]) -> (u64, u64) {
    match b.len() {
        n @ 9.. => (le_word(&b[..8]), le_word(&b[8..n.min(16)])),
        _ => (le_word(b), 0),
    }
}

/// Makes the inline string `s` the `len` bytes held in `lo`, `hi` (little-endian), which must be
/// valid UTF-8 followed by zeros: two word stores and the length. Building a new string costs
/// more: compact_str assembles it on the stack with a zeroing, a byte-wise copy and a length
/// store, then reads it back word by word, and those reads stall on the narrower stores still
/// in flight. With [`Value::set_utf8`]'s ASCII test this took the bench's user-events job from
/// 0.410 to 0.369 CPU seconds (bench/stream/README.md, Run 21). Strings of up to 23 bytes
/// with a third word store were tried too: user-events 2% slower, transactions (19-byte
/// timestamps) no faster.
#[inline]
#[allow(unsafe_code)]
fn overwrite_inline(s: &mut CompactString, lo: u64, hi: u64, len: usize) {
    assert!(len <= 16 && !s.is_heap_allocated());
    // SAFETY: an inline CompactString's buffer is 24 bytes (`as_mut_bytes` turns a static one
    // inline first). Its first 16 become `len` bytes of UTF-8 followed by zeros (the callers
    // build the words from a `&str`, or from bytes they found to be ASCII), and `set_len` then
    // makes the string exactly those `len` bytes.
    unsafe {
        let buf = s.as_mut_bytes();
        buf[..8].copy_from_slice(&lo.to_le_bytes());
        buf[8..16].copy_from_slice(&hi.to_le_bytes());
        s.set_len(len);
    }
}

impl Value {
    /// Makes this cell the string `s`, written into the string it holds when it holds one (a
    /// decoder's row reused from record to record builds no new string per cell).
    #[inline]
    pub fn set_str(&mut self, s: &str) {
        match self {
            // A heap buffer is kept and reused. Overwriting with `replace_range` when the new
            // string is no longer was tried too: 5% slower over the user-events job.
            Value::Str(old) if old.is_heap_allocated() => {
                old.clear();
                old.push_str(s);
            }
            Value::Str(old) if s.len() <= 16 => {
                let (lo, hi) = words16(s.as_bytes());
                overwrite_inline(old, lo, hi, s.len());
            }
            _ => *self = Value::Str(CompactString::from(s)),
        }
    }

    /// [`Value::set_str`] from bytes that should be UTF-8: the decoders' string fields. Short
    /// ASCII, what keys and labels mostly are, is told by one test of the words it is copied
    /// in; anything else is validated by `std`.
    #[inline]
    pub fn set_utf8(&mut self, b: &[u8]) -> Result<(), std::str::Utf8Error> {
        if let Value::Str(old) = self
            && b.len() <= 16
            && !old.is_heap_allocated()
        {
            let (lo, hi) = words16(b);
            if (lo | hi) & 0x8080_8080_8080_8080 == 0 {
                overwrite_inline(old, lo, hi, b.len());
                return Ok(());
            }
        }
        self.set_str(std::str::from_utf8(b)?);
        Ok(())
    }

    /// The kind of a non-null value.
    pub fn kind(&self) -> Option<Kind> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => Kind::Bool,
            Value::Int(_) => Kind::Int,
            Value::Float(_) => Kind::Float,
            Value::Str(_) => Kind::Str,
            Value::Bytes(_) => Kind::Bytes,
            Value::Timestamp(_) => Kind::Timestamp,
        })
    }

    /// Whether the value is null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as a float, for numeric aggregates (ints and timestamps widen).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) | Value::Timestamp(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value as an integer (floats are not truncated: `None`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::Timestamp(i) => Some(*i),
            _ => None,
        }
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(CompactString::from(s))
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(CompactString::from(s))
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl fmt::Display for Value {
    /// Spark's `show()` rendering: `null`, numbers as written, text as is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
            Value::Bytes(b) => {
                for byte in b.iter() {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            Value::Timestamp(ms) => write!(f, "{ms}"),
        }
    }
}

/// One column of a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Column name.
    pub name: String,
    /// Column type.
    pub kind: Kind,
}

impl Field {
    /// A field.
    pub fn new(name: impl Into<String>, kind: Kind) -> Self {
        Field { name: name.into(), kind }
    }
}

/// The columns of a row, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowSchema {
    /// The columns.
    pub fields: Vec<Field>,
}

impl RowSchema {
    /// A schema from its fields.
    pub fn new(fields: Vec<Field>) -> Self {
        RowSchema { fields }
    }

    /// The position of a column by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no columns.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// One row: values in the order of its [`RowSchema`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    /// The cells.
    pub values: Vec<Value>,
}

impl Row {
    /// A row from its values.
    pub fn new(values: Vec<Value>) -> Self {
        Row { values }
    }

    /// A cell by position; `Null` past the end.
    pub fn get(&self, index: usize) -> &Value {
        self.values.get(index).unwrap_or(&Value::Null)
    }
}

/// The columns among the first `len` (at most 64) whose bit is not set in `seen`: the cells a
/// decoder writing a reused row in place did not write for this record.
pub(crate) fn unseen_columns(len: usize, seen: u64) -> impl Iterator<Item = usize> {
    let all = if len >= 64 { u64::MAX } else { (1u64 << len) - 1 };
    let mut missing = all & !seen;
    std::iter::from_fn(move || {
        (missing != 0).then(|| {
            let c = missing.trailing_zeros() as usize;
            missing &= missing - 1;
            c
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unseen_columns_are_the_clear_bits_below_the_width() {
        let got = |len, seen| unseen_columns(len, seen).collect::<Vec<_>>();
        assert_eq!(got(5, 0b10110), vec![0, 3]);
        assert_eq!(got(3, u64::MAX), Vec::<usize>::new());
        assert_eq!(got(0, 0), Vec::<usize>::new());
        assert_eq!(got(64, u64::MAX - 1 - (1 << 63)), vec![0, 63]);
    }

    #[test]
    fn set_str_overwrites_any_cell_with_exactly_the_string() {
        let long = "a string longer than the twenty-four inline bytes";
        let longer = "an even longer string, longer than the heap buffer the first one had";
        // Each step from the previous cell: same length, shorter, longer (inline), heap, heap
        // growing, heap to short, empty, and from a cell of another kind.
        // Then the word boundaries of an inline overwrite (8, 9, 16, 17 bytes), a shorter one over
        // a longer, 24 bytes (inline, no length byte) and a non-ASCII one.
        let steps = [
            "user1",
            "user2",
            "view",
            "purchase",
            long,
            longer,
            "x",
            "",
            "click",
            "abcdefgh",
            "abcdefghi",
            "sixteen bytes ok",
            "seventeen bytes!!",
            "ab",
            "twenty-three bytes long",
            "exactly twenty-four byte",
            "TXN_20240101_000123",
            "héllo wörld",
        ];
        let mut cell = Value::Int(7);
        for s in steps {
            cell.set_str(s);
            assert_eq!(cell, Value::from(s), "after set_str({s:?})");
            assert_eq!(cell.as_str().map(str::len), Some(s.len()));
        }
        let mut cell = Value::Null;
        cell.set_str(long);
        cell.set_str("short");
        assert_eq!(cell, Value::from("short"));
        for s in steps {
            let mut cell = Value::from(long);
            cell.set_str(s);
            assert_eq!(cell, Value::from(s), "heap cell, then set_str({s:?})");
        }
        // A string built at compile time is neither inline nor on the heap until written.
        let mut cell = Value::Str(CompactString::const_new("a static one"));
        cell.set_str("user3");
        assert_eq!(cell, Value::from("user3"));
    }

    #[test]
    fn set_utf8_is_set_str_of_valid_utf8_and_an_error_otherwise() {
        let texts = ["user1", "", "purchase", "sixteen bytes ok", "seventeen bytes!!", "héllo", "ab\u{7f}", "日本"];
        let mut cell = Value::Null;
        for t in texts {
            cell.set_utf8(t.as_bytes()).unwrap();
            assert_eq!(cell, Value::from(t), "set_utf8({t:?})");
        }
        // Invalid in the first word, in the second, truncated in the middle of a character,
        // and a lone continuation byte: an error, with the cell as it was.
        let before = Value::from("kept");
        for bad in [&b"\xff"[..], b"abcdefgh\xc3(", b"sixteen bytes ok\xff", "日本".as_bytes().split_at(4).0, b"\x80"]
        {
            let mut cell = before.clone();
            let err = cell.set_utf8(bad).unwrap_err();
            assert_eq!(Some(err), std::str::from_utf8(bad).err(), "{bad:?}");
            assert_eq!(cell, before, "{bad:?}");
        }
    }

    #[test]
    fn words_are_the_first_eight_bytes_zero_padded() {
        let bytes: Vec<u8> = (1..=10u8).map(|b| b.wrapping_mul(37) | 0x80).collect();
        for n in 0..=10 {
            let mut w = [0u8; 8];
            w[..n.min(8)].copy_from_slice(&bytes[..n.min(8)]);
            assert_eq!(le_word(&bytes[..n]), u64::from_le_bytes(w), "{n} bytes");
        }
    }

    #[test]
    fn short_strings_are_inline_and_values_stay_small() {
        let v = Value::from("purchase");
        assert!(matches!(&v, Value::Str(s) if !s.is_heap_allocated()));
        assert!(std::mem::size_of::<Value>() <= 32, "Value grew to {} bytes", std::mem::size_of::<Value>());
    }

    #[test]
    fn lookups_and_display() {
        let schema = RowSchema::new(vec![Field::new("userId", Kind::Str), Field::new("value", Kind::Float)]);
        assert_eq!(schema.index_of("value"), Some(1));
        assert_eq!(schema.index_of("nope"), None);
        let row = Row::new(vec![Value::from("user3"), Value::Float(221.45)]);
        assert_eq!(row.get(0).to_string(), "user3");
        assert_eq!(row.get(1).as_f64(), Some(221.45));
        assert!(row.get(7).is_null());
        assert_eq!(Value::Int(3).as_f64(), Some(3.0));
        assert_eq!(Value::Float(3.5).as_i64(), None);
    }
}
