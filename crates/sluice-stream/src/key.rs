//! Group keys, their stable hash, and the virtual node a key belongs to.
//!
//! The hash must be the same in every process and every build, because it decides which of the
//! [`VNODES`] virtual nodes owns a key, and virtual nodes move between instances with their
//! state. So it is a fixed multiply-rotate mix over a canonical encoding of the values (floats
//! normalised so that `-0.0 == 0.0` and all NaNs are one key), never `std`'s random hasher.
//! The same 64-bit hash also indexes the in-memory hash tables, so a record is hashed once.

use sluice_formats::Value;
use sluice_formats::row::{le_word, words16};
use std::cmp::Ordering;

/// Number of virtual nodes that keyed state is partitioned into.
pub const VNODES: u16 = 128;

const K: u64 = 0x517c_c1b7_2722_0a95;

/// A stable, seedless hasher over values (FxHash's mixing step with a murmur3 finaliser).
#[derive(Debug, Clone, Copy)]
pub struct StableHasher(u64);

const SEED: u64 = 0x243f_6a88_85a3_08d3;

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher(SEED)
    }
}

/// The stable hash of the empty key (an aggregate without `group_by`).
pub const EMPTY_KEY_HASH: u64 = StableHasher(SEED).finish();

impl StableHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }

    /// The length, then the bytes as little-endian words, the last one zero-padded. Up to 16
    /// bytes (what keys mostly are) are taken from the words [`words16`] loads them in.
    #[inline(always)]
    fn add_bytes(&mut self, bytes: &[u8]) {
        self.add(bytes.len() as u64);
        if bytes.len() <= 16 {
            let (lo, hi) = words16(bytes);
            if !bytes.is_empty() {
                self.add(lo);
            }
            if bytes.len() > 8 {
                self.add(hi);
            }
            return;
        }
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            self.add(le_word(tail));
        }
    }

    /// Adds one value.
    #[inline]
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.add(0),
            Value::Bool(b) => {
                self.add(1);
                self.add(*b as u64)
            }
            Value::Int(i) => {
                self.add(2);
                self.add(*i as u64)
            }
            Value::Float(f) => {
                self.add(3);
                self.add(canonical_bits(*f))
            }
            Value::Str(s) => self.str(s),
            Value::Bytes(b) => {
                self.add(5);
                self.add_bytes(b)
            }
            Value::Timestamp(t) => {
                self.add(6);
                self.add(*t as u64)
            }
        }
    }

    /// Adds a string value (what [`StableHasher::value`] adds for `Value::Str`).
    #[inline(always)]
    fn str(&mut self, s: &str) {
        self.add(4);
        self.add_bytes(s.as_bytes())
    }

    /// The finished hash.
    #[inline]
    pub const fn finish(self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The stable hash of one value: [`hash_values`] of `[v]`, with a string (what keys mostly are)
/// hashed inline, so the seed and the string's tag fold into constants.
#[inline(always)]
pub fn hash_one(v: &Value) -> u64 {
    match v {
        Value::Str(s) => {
            let mut h = StableHasher::default();
            h.str(s);
            h.finish()
        }
        _ => hash_values([v]),
    }
}

/// The stable hash of a sequence of values.
#[inline]
pub fn hash_values<'a>(values: impl IntoIterator<Item = &'a Value>) -> u64 {
    let mut h = StableHasher::default();
    for v in values {
        h.value(v);
    }
    h.finish()
}

/// The virtual node of a key hash.
#[inline]
pub fn vnode_of(hash: u64) -> u16 {
    ((hash >> 40) % VNODES as u64) as u16
}

fn canonical_bits(f: f64) -> u64 {
    if f.is_nan() {
        f64::NAN.to_bits()
    } else if f == 0.0 {
        0
    } else {
        f.to_bits()
    }
}

/// Key equality: like `==` except that floats compare by canonical bits (NaN equals NaN,
/// `-0.0` equals `0.0`), as SQL grouping does.
/// Strings of up to 16 bytes compare as two words each, without a `memcmp` call.
#[inline(always)]
pub fn key_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => {
            let (x, y) = (x.as_bytes(), y.as_bytes());
            x.len() == y.len() && if x.len() <= 16 { words16(x) == words16(y) } else { x == y }
        }
        _ => other_key_eq(a, b),
    }
}

fn other_key_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => canonical_bits(*x) == canonical_bits(*y),
        (Value::Int(x), Value::Int(y)) | (Value::Timestamp(x), Value::Timestamp(y)) => x == y,
        _ => a == b,
    }
}

/// The order of kinds in [`value_cmp`].
pub(crate) fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Int(_) => 2,
        Value::Float(_) => 3,
        Value::Str(_) => 4,
        Value::Bytes(_) => 5,
        Value::Timestamp(_) => 6,
    }
}

/// A total order over values: nulls first, then by kind; floats with NaN greatest (as Spark
/// orders them), strings by UTF-8 bytes. Used for deterministic output order, min/max and
/// top-N.
pub fn value_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Int(x), Value::Int(y)) | (Value::Timestamp(x), Value::Timestamp(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => float_cmp(*x, *y),
        (Value::Int(x), Value::Float(y)) => float_cmp(*x as f64, *y),
        (Value::Float(x), Value::Int(y)) => float_cmp(*x, *y as f64),
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bytes(x), Value::Bytes(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn float_cmp(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

/// Compares two value slices element by element with [`value_cmp`].
pub fn values_cmp(a: &[Value], b: &[Value]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = value_cmp(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// The values of a group-by key, in group-by order.
#[derive(Debug, Clone, Default)]
pub struct GroupKey(pub Box<[Value]>);

impl GroupKey {
    /// The stable hash of the key.
    pub fn hash(&self) -> u64 {
        hash_values(self.0.iter())
    }

    /// Whether the key equals these values (with [`key_eq`]).
    #[inline]
    pub fn matches(&self, values: &[Value]) -> bool {
        self.0.len() == values.len() && self.0.iter().zip(values).all(|(a, b)| key_eq(a, b))
    }
}

impl PartialEq for GroupKey {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}
impl Eq for GroupKey {}
impl PartialOrd for GroupKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for GroupKey {
    fn cmp(&self, other: &Self) -> Ordering {
        values_cmp(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_canonical() {
        // A fixed value: if this changes, checkpoints from older builds put keys in other vnodes.
        let h = hash_values([&Value::from("user3")]);
        assert_eq!(h, hash_values([&Value::from("user3")]));
        assert_eq!(vnode_of(h), vnode_of(hash_values([&Value::from("user3")])));
        assert_ne!(h, hash_values([&Value::from("user4")]));
        assert_eq!(hash_values([&Value::Float(0.0)]), hash_values([&Value::Float(-0.0)]));
        assert_eq!(hash_values([&Value::Float(f64::NAN)]), hash_values([&Value::Float(-f64::NAN)]));
        assert_ne!(hash_values([&Value::Int(1)]), hash_values([&Value::Timestamp(1)]));
        // ("ab", "c") and ("a", "bc") must differ: lengths are part of the encoding.
        assert_ne!(
            hash_values([&Value::from("ab"), &Value::from("c")]),
            hash_values([&Value::from("a"), &Value::from("bc")])
        );
    }

    #[test]
    fn the_hash_of_a_key_is_pinned() {
        // A change here moves keys to other vnodes than older checkpoints put them in.
        assert_eq!(hash_values([&Value::from("user3")]), 0xa17b_814b_d0de_a54c);
    }

    #[test]
    fn one_value_hashes_and_compares_as_a_key_of_one() {
        // `hash_one`, the word path of short strings, and `key_eq`'s word compare against the
        // general forms: every length around the 8- and 16-byte word boundaries, a difference
        // at every byte.
        let text = "abcdefghijklmnopqrstuvwxyz";
        let mut values = vec![Value::Null, Value::Int(7), Value::Float(-0.0), Value::Timestamp(7), Value::from("é ü")];
        for n in 0..=text.len() {
            values.push(Value::from(&text[..n]));
            for i in 0..n {
                let mut b = text.as_bytes()[..n].to_vec();
                b[i] = b'#';
                values.push(Value::from(String::from_utf8(b).unwrap()));
            }
        }
        assert_eq!(EMPTY_KEY_HASH, hash_values([]));
        // The encoding spelled out: tag, length, then 8-byte chunks, the last one zero-padded.
        let by_chunks = |b: &[u8]| {
            let mut h = StableHasher::default();
            h.add(4);
            h.add(b.len() as u64);
            for c in b.chunks(8) {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                h.add(u64::from_le_bytes(w));
            }
            h.finish()
        };
        for a in &values {
            assert_eq!(hash_one(a), hash_values([a]), "{a:?}");
            if let Value::Str(s) = a {
                assert_eq!(hash_one(a), by_chunks(s.as_bytes()), "{a:?}");
            }
            for b in &values {
                let same = match (a, b) {
                    (Value::Str(x), Value::Str(y)) => x.as_bytes() == y.as_bytes(),
                    _ => other_key_eq(a, b),
                };
                assert_eq!(key_eq(a, b), same, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn vnodes_spread() {
        let mut counts = [0u32; VNODES as usize];
        for i in 0..12_800 {
            counts[vnode_of(hash_values([&Value::from(format!("user{i}"))])) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (50..=150).contains(&c)), "{counts:?}");
    }

    #[test]
    fn ordering() {
        assert_eq!(value_cmp(&Value::Null, &Value::Int(0)), Ordering::Less);
        assert_eq!(value_cmp(&Value::Float(f64::NAN), &Value::Float(1e300)), Ordering::Greater);
        assert_eq!(value_cmp(&Value::from("a"), &Value::from("b")), Ordering::Less);
        assert!(key_eq(&Value::Float(f64::NAN), &Value::Float(f64::NAN)));
        let a = GroupKey(vec![Value::from("x"), Value::Int(1)].into());
        let b = GroupKey(vec![Value::from("x"), Value::Int(2)].into());
        assert!(a < b);
        assert!(a.matches(&[Value::from("x"), Value::Int(1)]));
    }
}
