//! Aggregate functions and their mergeable partial states.
//!
//! Every aggregate keeps a partial state ([`Acc`]) that can be updated with one row and merged
//! with another partial of the same aggregate. Merging is what lets sliding windows be built
//! from per-slide panes, sessions be joined when a record bridges them, and (later) instances
//! combine their partial results.
//!
//! | call | result | partial state |
//! |---|---|---|
//! | `count(*)`, `count(x)` | bigint | count (of non-null `x`) |
//! | `sum(x)` | type of `x` | exact i128 for integers, compensated (Neumaier) f64 for doubles |
//! | `avg(x)`, `mean(x)` | double | sum and count |
//! | `min(x)`, `max(x)` | type of `x` | the extreme value |
//! | `count(DISTINCT x)`, `count_distinct(x)` | bigint | the set of values (exact) |
//! | `min_by(x, y)`, `max_by(x, y)` | type of `x` | `x` at the extreme `y` |
//! | `first(x)`, `last(x)` | type of `x` | `x` at the smallest / largest event time |
//!
//! Nulls are skipped except by `count(*)`, `first` and `last`. An aggregate over no non-null
//! values is `NULL` (0 for counts). Integer sums that overflow 64 bits give `NULL`.
//! Floating-point sums depend slightly on the order of additions, as in every engine;
//! compensated summation keeps that difference at the last bit for realistic data.

use crate::expr::{self, Compiled, Expr, ExprError};
use crate::key::{EMPTY_KEY_HASH, GroupKey, StableHasher, hash_one, hash_values};
use crate::key::{key_eq, rank, value_cmp};
use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use sluice_formats::row::words16;
use sluice_formats::{Field, Kind, Row, RowSchema, Value};

/// The aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggFunc {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    CountDistinct,
    MinBy,
    MaxBy,
    First,
    Last,
}

/// One aggregate call, compiled against the input schema.
#[derive(Debug, Clone)]
pub(crate) struct AggSpec {
    func: AggFunc,
    /// `None` for `count(*)`.
    arg: Option<Compiled>,
    /// The ordering argument of `min_by` / `max_by`.
    by: Option<Compiled>,
    /// Whether the argument is an integer (exact sums).
    int: bool,
    /// The result type.
    out: Kind,
}

/// A partial aggregate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Acc {
    Count(i64),
    SumInt { sum: i128, n: u64 },
    SumFloat { sum: f64, comp: f64, n: u64 },
    AvgInt { sum: i128, n: u64 },
    AvgFloat { sum: f64, comp: f64, n: u64 },
    Min(Value),
    Max(Value),
    Distinct(Box<DistinctSet>),
    MinBy { by: Value, val: Value },
    MaxBy { by: Value, val: Value },
    First { t: i64, val: Value, set: bool },
    Last { t: i64, val: Value, set: bool },
}

/// An exact set of distinct values. A string of up to 16 bytes, what ids mostly are, is kept
/// as its [`Short`] form, 24 bytes that both hash and compare it (the bench's transactions job
/// probes a set of a thousand customer ids per record: with whole values and their hashes, 64
/// bytes an entry, the set outgrew the first-level cache); other values are kept whole, with
/// their hash.
#[derive(Debug, Clone, Default)]
pub(crate) struct DistinctSet {
    short: HashTable<Short>,
    other: HashTable<(u64, Value)>,
}

/// A string of up to 16 bytes as its length and two words (see [`words16`]): they are its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Short {
    lo: u64,
    hi: u64,
    len: u8,
}

impl Short {
    #[inline]
    fn of(v: &Value) -> Option<Short> {
        match v {
            Value::Str(s) if s.len() <= 16 => {
                let (lo, hi) = words16(s.as_bytes());
                Some(Short { lo, hi, len: s.len() as u8 })
            }
            _ => None,
        }
    }

    /// Its hash in the set (in memory only: snapshots hold the values).
    #[inline]
    fn hash(&self) -> u64 {
        short_hash(self.lo, self.hi, usize::from(self.len))
    }

    /// The string again.
    fn value(&self) -> Value {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.lo.to_le_bytes());
        b[8..].copy_from_slice(&self.hi.to_le_bytes());
        // The words were made from a string's bytes, so they are UTF-8.
        Value::from(std::str::from_utf8(&b[..usize::from(self.len).min(16)]).unwrap_or_default())
    }
}

impl PartialEq for DistinctSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.short.iter().all(|s| other.has_short(s))
            && self.other.iter().all(|(h, v)| other.has_other(v, *h))
    }
}

impl DistinctSet {
    /// The general hash of a value that has no [`Short`] form.
    fn hash_of(v: &Value) -> u64 {
        let mut h = StableHasher::default();
        h.value(v);
        h.finish()
    }

    #[inline]
    fn has_short(&self, s: &Short) -> bool {
        self.short.find(s.hash(), |e| e == s).is_some()
    }

    /// Whether `v` (no [`Short`] form, general hash `hash`) is in the set.
    fn has_other(&self, v: &Value, hash: u64) -> bool {
        self.other.find(hash, |(h, e)| *h == hash && key_eq(e, v)).is_some()
    }

    #[cfg(test)]
    fn contains(&self, v: &Value) -> bool {
        match Short::of(v) {
            Some(s) => self.has_short(&s),
            None => self.has_other(v, Self::hash_of(v)),
        }
    }

    /// Adds a value.
    #[inline]
    fn insert(&mut self, v: &Value) {
        match Short::of(v) {
            Some(s) => self.insert_short(s),
            None => self.insert_other(v),
        }
    }

    #[inline]
    fn insert_short(&mut self, s: Short) {
        if !self.has_short(&s) {
            self.short.insert_unique(s.hash(), s, Short::hash);
        }
    }

    fn insert_other(&mut self, v: &Value) {
        let hash = Self::hash_of(v);
        if !self.has_other(v, hash) {
            self.other.insert_unique(hash, (hash, v.clone()), |e| e.0);
        }
    }

    /// Adds every value of `other`.
    fn merge(&mut self, other: &DistinctSet) {
        for s in other.short.iter() {
            self.insert_short(*s);
        }
        for (_, v) in other.other.iter() {
            self.insert_other(v);
        }
    }

    fn len(&self) -> usize {
        self.short.len() + self.other.len()
    }

    /// The values in a deterministic order (for snapshots): by [`value_cmp`], then (an integer
    /// and a float of the same value) by kind.
    pub(crate) fn sorted_values(&self) -> Vec<Value> {
        let mut v: Vec<Value> =
            self.short.iter().map(Short::value).chain(self.other.iter().map(|(_, v)| v.clone())).collect();
        v.sort_by(|a, b| value_cmp(a, b).then_with(|| rank(a).cmp(&rank(b))));
        v
    }

    pub(crate) fn from_values(values: impl IntoIterator<Item = Value>) -> Self {
        let mut s = DistinctSet::default();
        for v in values {
            s.insert(&v);
        }
        s
    }
}

/// The hash of a string of `len` (at most 16) bytes held in `lo`, `hi` (see [`words16`]): one
/// multiply of the two words, its halves folded. The constants' lowest byte is 0xFF, which
/// UTF-8 never has, so neither factor is ever zero (the words' lowest bytes are the string's
/// first and ninth, or zero).
#[inline]
fn short_hash(lo: u64, hi: u64, len: usize) -> u64 {
    let a = lo ^ 0x1F51_AFD7_ED55_8CFF ^ ((len as u64) << 56);
    let b = hi ^ 0xC4CE_B9FE_1A85_ECFF;
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline]
fn neumaier(sum: &mut f64, comp: &mut f64, x: f64) {
    let t = *sum + x;
    if sum.abs() >= x.abs() {
        *comp += (*sum - t) + x;
    } else {
        *comp += (x - t) + *sum;
    }
    *sum = t;
}

fn compensated(sum: f64, comp: f64) -> f64 {
    if sum.is_finite() && comp.is_finite() { sum + comp } else { sum }
}

impl AggSpec {
    /// A fresh partial state.
    pub(crate) fn new_acc(&self) -> Acc {
        match self.func {
            AggFunc::Count => Acc::Count(0),
            AggFunc::Sum if self.int => Acc::SumInt { sum: 0, n: 0 },
            AggFunc::Sum => Acc::SumFloat { sum: 0.0, comp: 0.0, n: 0 },
            AggFunc::Avg if self.int => Acc::AvgInt { sum: 0, n: 0 },
            AggFunc::Avg => Acc::AvgFloat { sum: 0.0, comp: 0.0, n: 0 },
            AggFunc::Min => Acc::Min(Value::Null),
            AggFunc::Max => Acc::Max(Value::Null),
            AggFunc::CountDistinct => Acc::Distinct(Box::default()),
            AggFunc::MinBy => Acc::MinBy { by: Value::Null, val: Value::Null },
            AggFunc::MaxBy => Acc::MaxBy { by: Value::Null, val: Value::Null },
            AggFunc::First => Acc::First { t: 0, val: Value::Null, set: false },
            AggFunc::Last => Acc::Last { t: 0, val: Value::Null, set: false },
        }
    }

    /// Whether a restored partial state has the shape this aggregate uses.
    pub(crate) fn accepts(&self, acc: &Acc) -> bool {
        std::mem::discriminant(&self.new_acc()) == std::mem::discriminant(acc)
    }

    /// Adds one row (with its event time) to a partial state.
    #[inline]
    pub(crate) fn update(&self, acc: &mut Acc, row: &[Value], event_time: i64) {
        // A bare column is read in place (no `Cow` to build, test and drop per row).
        let evaluated;
        let v: &Value = match &self.arg {
            None => {
                if let Acc::Count(c) = acc {
                    *c = c.saturating_add(1);
                }
                return;
            }
            Some(arg) => match arg.as_column() {
                Some(i) => row.get(i).unwrap_or(&Value::Null),
                None => {
                    evaluated = arg.eval(row);
                    &evaluated
                }
            },
        };
        match acc {
            Acc::Count(c) => {
                if !v.is_null() {
                    *c = c.saturating_add(1);
                }
            }
            Acc::SumInt { sum, n } | Acc::AvgInt { sum, n } => {
                if let Some(i) = v.as_i64() {
                    *sum = sum.saturating_add(i as i128);
                    *n = n.saturating_add(1);
                }
            }
            Acc::SumFloat { sum, comp, n } | Acc::AvgFloat { sum, comp, n } => {
                if let Some(x) = v.as_f64() {
                    neumaier(sum, comp, x);
                    *n = n.saturating_add(1);
                }
            }
            // Integers compared and written in place (value_cmp orders them so too).
            Acc::Min(Value::Int(m)) if let Value::Int(x) = v => *m = (*m).min(*x),
            Acc::Max(Value::Int(m)) if let Value::Int(x) = v => *m = (*m).max(*x),
            Acc::Min(m) => {
                if !v.is_null() && (m.is_null() || value_cmp(v, m).is_lt()) {
                    *m = v.clone();
                }
            }
            Acc::Max(m) => {
                if !v.is_null() && (m.is_null() || value_cmp(v, m).is_gt()) {
                    *m = v.clone();
                }
            }
            Acc::Distinct(set) => {
                if !v.is_null() {
                    set.insert(v);
                }
            }
            Acc::MinBy { by, val } | Acc::MaxBy { by, val } => {
                let Some(by_expr) = &self.by else { return };
                let b = by_expr.eval_cow(row);
                if b.is_null() {
                    return;
                }
                let better = by.is_null() || {
                    let o = value_cmp(&b, by);
                    if self.func == AggFunc::MinBy { o.is_lt() } else { o.is_gt() }
                };
                if better {
                    *by = b.into_owned();
                    *val = v.clone();
                }
            }
            Acc::First { t, val, set } => {
                if !*set || event_time < *t {
                    *t = event_time;
                    *val = v.clone();
                    *set = true;
                }
            }
            Acc::Last { t, val, set } => {
                if !*set || event_time >= *t {
                    *t = event_time;
                    *val = v.clone();
                    *set = true;
                }
            }
        }
    }
}

impl Acc {
    /// Merges another partial state of the same aggregate into this one. `other` is treated
    /// as the later of the two (ties in `last` go to it, in `first` to `self`).
    pub(crate) fn merge(&mut self, other: &Acc) {
        match (self, other) {
            // Saturating: a damaged checkpoint must not be able to make a merge overflow.
            (Acc::Count(a), Acc::Count(b)) => *a = a.saturating_add(*b),
            (Acc::SumInt { sum, n }, Acc::SumInt { sum: s2, n: n2 })
            | (Acc::AvgInt { sum, n }, Acc::AvgInt { sum: s2, n: n2 }) => {
                *sum = sum.saturating_add(*s2);
                *n = n.saturating_add(*n2);
            }
            (Acc::SumFloat { sum, comp, n }, Acc::SumFloat { sum: s2, comp: c2, n: n2 })
            | (Acc::AvgFloat { sum, comp, n }, Acc::AvgFloat { sum: s2, comp: c2, n: n2 }) => {
                neumaier(sum, comp, *s2);
                *comp += c2;
                *n = n.saturating_add(*n2);
            }
            (Acc::Min(a), Acc::Min(b)) if !b.is_null() && (a.is_null() || value_cmp(b, a).is_lt()) => {
                *a = b.clone();
            }
            (Acc::Max(a), Acc::Max(b)) if !b.is_null() && (a.is_null() || value_cmp(b, a).is_gt()) => {
                *a = b.clone();
            }
            (Acc::Distinct(a), Acc::Distinct(b)) => a.merge(b),
            (Acc::MinBy { by, val }, Acc::MinBy { by: b2, val: v2 })
                if !b2.is_null() && (by.is_null() || value_cmp(b2, by).is_lt()) =>
            {
                *by = b2.clone();
                *val = v2.clone();
            }
            (Acc::MaxBy { by, val }, Acc::MaxBy { by: b2, val: v2 })
                if !b2.is_null() && (by.is_null() || value_cmp(b2, by).is_gt()) =>
            {
                *by = b2.clone();
                *val = v2.clone();
            }
            (Acc::First { t, val, set }, Acc::First { t: t2, val: v2, set: s2 }) if *s2 && (!*set || t2 < t) => {
                *t = *t2;
                *val = v2.clone();
                *set = true;
            }
            (Acc::Last { t, val, set }, Acc::Last { t: t2, val: v2, set: s2 }) if *s2 && (!*set || t2 >= t) => {
                *t = *t2;
                *val = v2.clone();
                *set = true;
            }
            // Nothing to take from `other`, or (never) shapes that differ.
            _ => {}
        }
    }

    /// The aggregate's value.
    pub(crate) fn finish(&self) -> Value {
        match self {
            Acc::Count(c) => Value::Int(*c),
            Acc::SumInt { n: 0, .. } | Acc::AvgInt { n: 0, .. } => Value::Null,
            Acc::SumFloat { n: 0, .. } | Acc::AvgFloat { n: 0, .. } => Value::Null,
            Acc::SumInt { sum, .. } => i64::try_from(*sum).map_or(Value::Null, Value::Int),
            Acc::SumFloat { sum, comp, .. } => Value::Float(compensated(*sum, *comp)),
            Acc::AvgInt { sum, n } => Value::Float(*sum as f64 / *n as f64),
            Acc::AvgFloat { sum, comp, n } => Value::Float(compensated(*sum, *comp) / *n as f64),
            Acc::Min(v) | Acc::Max(v) => v.clone(),
            Acc::Distinct(s) => Value::Int(s.len() as i64),
            Acc::MinBy { val, .. } | Acc::MaxBy { val, .. } => val.clone(),
            Acc::First { val, .. } | Acc::Last { val, .. } => val.clone(),
        }
    }
}

/// Partial states in a serializable form, for checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum AccSnap {
    Count(i64),
    SumInt { sum: i128, n: u64 },
    SumFloat { sum: f64, comp: f64, n: u64 },
    AvgInt { sum: i128, n: u64 },
    AvgFloat { sum: f64, comp: f64, n: u64 },
    Min(crate::checkpoint::SerValue),
    Max(crate::checkpoint::SerValue),
    Distinct(Vec<crate::checkpoint::SerValue>),
    MinBy { by: crate::checkpoint::SerValue, val: crate::checkpoint::SerValue },
    MaxBy { by: crate::checkpoint::SerValue, val: crate::checkpoint::SerValue },
    First { t: i64, val: crate::checkpoint::SerValue, set: bool },
    Last { t: i64, val: crate::checkpoint::SerValue, set: bool },
}

impl Acc {
    pub(crate) fn to_snap(&self) -> AccSnap {
        use crate::checkpoint::SerValue as S;
        match self {
            Acc::Count(c) => AccSnap::Count(*c),
            Acc::SumInt { sum, n } => AccSnap::SumInt { sum: *sum, n: *n },
            Acc::SumFloat { sum, comp, n } => AccSnap::SumFloat { sum: *sum, comp: *comp, n: *n },
            Acc::AvgInt { sum, n } => AccSnap::AvgInt { sum: *sum, n: *n },
            Acc::AvgFloat { sum, comp, n } => AccSnap::AvgFloat { sum: *sum, comp: *comp, n: *n },
            Acc::Min(v) => AccSnap::Min(S::from(v)),
            Acc::Max(v) => AccSnap::Max(S::from(v)),
            Acc::Distinct(s) => AccSnap::Distinct(s.sorted_values().iter().map(S::from).collect()),
            Acc::MinBy { by, val } => AccSnap::MinBy { by: S::from(by), val: S::from(val) },
            Acc::MaxBy { by, val } => AccSnap::MaxBy { by: S::from(by), val: S::from(val) },
            Acc::First { t, val, set } => AccSnap::First { t: *t, val: S::from(val), set: *set },
            Acc::Last { t, val, set } => AccSnap::Last { t: *t, val: S::from(val), set: *set },
        }
    }

    pub(crate) fn from_snap(s: AccSnap) -> Acc {
        match s {
            AccSnap::Count(c) => Acc::Count(c),
            AccSnap::SumInt { sum, n } => Acc::SumInt { sum, n },
            AccSnap::SumFloat { sum, comp, n } => Acc::SumFloat { sum, comp, n },
            AccSnap::AvgInt { sum, n } => Acc::AvgInt { sum, n },
            AccSnap::AvgFloat { sum, comp, n } => Acc::AvgFloat { sum, comp, n },
            AccSnap::Min(v) => Acc::Min(v.into()),
            AccSnap::Max(v) => Acc::Max(v.into()),
            AccSnap::Distinct(vs) => Acc::Distinct(Box::new(DistinctSet::from_values(vs.into_iter().map(Value::from)))),
            AccSnap::MinBy { by, val } => Acc::MinBy { by: by.into(), val: val.into() },
            AccSnap::MaxBy { by, val } => Acc::MaxBy { by: by.into(), val: val.into() },
            AccSnap::First { t, val, set } => Acc::First { t, val: val.into(), set },
            AccSnap::Last { t, val, set } => Acc::Last { t, val: val.into(), set },
        }
    }
}

/// A group key as values borrowed from a row (bare-column keys) or computed into a buffer.
pub(crate) enum KeyRef<'a> {
    /// No key columns: one group (per window).
    Empty,
    /// A one-column key: the cell itself.
    One(&'a Value),
    Cols(&'a [Value], &'a [usize]),
    Vals(&'a [Value]),
}

impl KeyRef<'_> {
    #[inline(always)]
    pub(crate) fn hash(&self) -> u64 {
        match self {
            KeyRef::Empty => EMPTY_KEY_HASH,
            KeyRef::One(v) => hash_one(v),
            KeyRef::Cols(row, idx) => hash_values(idx.iter().map(|&i| row.get(i).unwrap_or(&Value::Null))),
            KeyRef::Vals(v) => hash_values(v.iter()),
        }
    }

    #[inline(always)]
    pub(crate) fn matches(&self, key: &GroupKey) -> bool {
        match self {
            KeyRef::Empty => key.0.is_empty(),
            KeyRef::One(v) => matches!(&*key.0, [k] if key_eq(k, v)),
            KeyRef::Cols(row, idx) => {
                key.0.len() == idx.len()
                    && key.0.iter().zip(idx.iter()).all(|(k, &i)| key_eq(k, row.get(i).unwrap_or(&Value::Null)))
            }
            KeyRef::Vals(v) => key.matches(v),
        }
    }

    pub(crate) fn to_key(&self) -> GroupKey {
        match self {
            KeyRef::Empty => GroupKey::default(),
            KeyRef::One(v) => GroupKey(Box::new([(*v).clone()])),
            KeyRef::Cols(row, idx) => {
                GroupKey(idx.iter().map(|&i| row.get(i).cloned().unwrap_or(Value::Null)).collect())
            }
            KeyRef::Vals(v) => GroupKey(v.to_vec().into_boxed_slice()),
        }
    }
}

/// The compiled grouping and aggregation of an aggregate step: how to key a row, which partial
/// states to keep, and how to turn a key and its partials into a result row.
#[derive(Debug, Clone)]
pub(crate) struct Aggregation {
    keys: Vec<Compiled>,
    /// Set when every key is a bare column: keys are then read in place.
    key_cols: Option<Vec<usize>>,
    pub(crate) specs: Vec<AggSpec>,
    /// Result expressions over `[window_start, window_end]? ++ keys ++ partial results`.
    finals: Vec<Compiled>,
    windowed: bool,
    /// `[window_start, window_end]? ++ keys ++ aggregate columns`.
    pub(crate) schema: RowSchema,
}

/// An aggregate-step compilation error, pointing at one item of the step.
#[derive(Debug)]
pub(crate) struct AggCompileError {
    /// `group_by` or `aggregates`.
    pub(crate) list: &'static str,
    /// Index in that list.
    pub(crate) index: usize,
    pub(crate) error: ExprError,
}

const WINDOW_COLUMNS: [&str; 2] = ["window_start", "window_end"];

impl Aggregation {
    /// Compiles group keys and aggregate items (`(expression, output name)` pairs) against the
    /// input schema.
    pub(crate) fn compile(
        input: &RowSchema,
        windowed: bool,
        group_by: &[(Expr, String)],
        aggregates: &[(Expr, String)],
    ) -> Result<Aggregation, AggCompileError> {
        let mut keys = Vec::new();
        let mut synthetic: Vec<Field> = Vec::new();
        if windowed {
            for name in WINDOW_COLUMNS {
                synthetic.push(Field::new(name, Kind::Timestamp));
            }
        }
        for (index, (e, name)) in group_by.iter().enumerate() {
            let err = |error| AggCompileError { list: "group_by", index, error };
            let c = expr::compile(e, input).map_err(err)?;
            let Some(kind) = c.kind() else {
                return Err(err(ExprError::new(e.pos(), "a group key cannot be always NULL")));
            };
            if synthetic.iter().any(|f| f.name == *name) {
                return Err(err(ExprError::new(e.pos(), format!("column `{name}` appears twice in the result"))
                    .with_fix("rename one with `AS other_name`")));
            }
            synthetic.push(Field::new(name.clone(), kind));
            keys.push(c);
        }
        let key_cols: Option<Vec<usize>> = keys.iter().map(Compiled::as_column).collect();
        let visible = synthetic.clone();
        let synthetic = &visible;
        let mut specs: Vec<AggSpec> = Vec::new();
        let mut lifted = Vec::new();
        for (index, (e, _)) in aggregates.iter().enumerate() {
            let err = |error| AggCompileError { list: "aggregates", index, error };
            let mut found = false;
            let rewritten = lift(e, input, &mut specs, &mut found, false).map_err(err)?;
            if !found {
                return Err(err(ExprError::new(e.pos(), "this item has no aggregate call")
                    .with_fix("aggregate it, e.g. count(*), sum(x), avg(x), max(x), or move it to group_by")));
            }
            lifted.push(rewritten);
        }
        let mut calc = visible.clone();
        for (i, s) in specs.iter().enumerate() {
            calc.push(Field::new(format!("$agg{i}"), s.out));
        }
        let calc = RowSchema::new(calc);
        let mut finals = Vec::new();
        let mut out = visible.clone();
        for (index, ((orig, name), e)) in aggregates.iter().zip(&lifted).enumerate() {
            let err = |error| AggCompileError { list: "aggregates", index, error };
            let c = expr::compile(e, &calc).map_err(|mut x| {
                if x.message.starts_with("unknown column") {
                    let col = x.message.split('`').nth(1).unwrap_or_default().to_string();
                    if input.index_of(&col).is_some() {
                        x.message = format!("column `{col}` is neither grouped nor aggregated");
                        x.fix = Some(format!("add `{col}` to group_by, or aggregate it, e.g. first({col})"));
                    } else {
                        // Do not list the internal `$aggN` slots.
                        let names: Vec<&str> = synthetic.iter().map(|f| f.name.as_str()).collect();
                        x.fix = Some(format!(
                            "outside aggregate calls only these are known: {}",
                            if names.is_empty() { "nothing (no group keys)".to_string() } else { names.join(", ") }
                        ));
                    }
                }
                err(x)
            })?;
            let Some(kind) = c.kind() else {
                return Err(err(ExprError::new(orig.pos(), "this aggregate is always NULL")));
            };
            if out.iter().any(|f| f.name == *name) {
                return Err(err(ExprError::new(orig.pos(), format!("column `{name}` appears twice in the result"))
                    .with_fix("rename one with `AS other_name`")));
            }
            out.push(Field::new(name.clone(), kind));
            finals.push(c);
        }
        Ok(Aggregation { keys, key_cols, specs, finals, windowed, schema: RowSchema::new(out) })
    }

    /// The key of a row, borrowed in place or computed into `scratch`.
    #[inline(always)]
    pub(crate) fn key<'a>(&'a self, row: &'a [Value], scratch: &'a mut Vec<Value>) -> KeyRef<'a> {
        match &self.key_cols {
            Some(cols) => match cols[..] {
                [] => KeyRef::Empty,
                [c] => KeyRef::One(row.get(c).unwrap_or(&Value::Null)),
                _ => KeyRef::Cols(row, cols),
            },
            None => {
                scratch.clear();
                scratch.extend(self.keys.iter().map(|k| k.eval(row)));
                KeyRef::Vals(scratch)
            }
        }
    }

    /// Calls `f` with the index of each input column the keys and aggregates read.
    pub(crate) fn columns(&self, f: &mut impl FnMut(usize)) {
        self.keys.iter().for_each(|k| k.columns(f));
        for spec in &self.specs {
            spec.arg.iter().chain(&spec.by).for_each(|e| e.columns(f));
        }
    }

    /// Fresh partial states.
    pub(crate) fn new_accs(&self) -> Box<[Acc]> {
        self.specs.iter().map(AggSpec::new_acc).collect()
    }

    /// Adds a row to partial states.
    #[inline]
    pub(crate) fn update(&self, accs: &mut [Acc], row: &[Value], event_time: i64) {
        for (spec, acc) in self.specs.iter().zip(accs.iter_mut()) {
            spec.update(acc, row, event_time);
        }
    }

    /// Merges partial states.
    pub(crate) fn merge(accs: &mut [Acc], other: &[Acc]) {
        for (a, b) in accs.iter_mut().zip(other) {
            a.merge(b);
        }
    }

    /// Number of key columns.
    pub(crate) fn key_len(&self) -> usize {
        self.keys.len()
    }

    /// Whether result rows start with `window_start`, `window_end`.
    pub(crate) fn windowed(&self) -> bool {
        self.windowed
    }

    /// The result row of a key (and window) from its partial states.
    pub(crate) fn result_row(&self, window: Option<(i64, i64)>, key: &GroupKey, accs: &[Acc]) -> Row {
        let mut calc: Vec<Value> = Vec::with_capacity(2 + key.0.len() + accs.len());
        if let Some((s, e)) = window {
            calc.push(Value::Timestamp(s));
            calc.push(Value::Timestamp(e));
        }
        calc.extend(key.0.iter().cloned());
        let visible = calc.len();
        calc.extend(accs.iter().map(Acc::finish));
        let mut out: Vec<Value> = calc[..visible].to_vec();
        out.extend(self.finals.iter().map(|f| f.eval(&calc)));
        Row::new(out)
    }
}

/// Replaces aggregate calls in `e` by `$aggN` column references, compiling each call's
/// arguments against the input schema and appending its spec.
fn lift(
    e: &Expr,
    input: &RowSchema,
    specs: &mut Vec<AggSpec>,
    found: &mut bool,
    inside: bool,
) -> Result<Expr, ExprError> {
    Ok(match e {
        Expr::Call { name, args, star, distinct, pos } if expr::is_aggregate(name) => {
            if inside {
                return Err(ExprError::new(*pos, format!("aggregate `{name}` inside another aggregate"))
                    .with_fix("aggregates cannot be nested; compute the inner value in a `columns` step first"));
            }
            // Arguments may not contain aggregates.
            for a in args {
                let mut inner = false;
                lift(a, input, &mut Vec::new(), &mut inner, true)?;
            }
            *found = true;
            let spec = agg_spec(name, args, *star, *distinct, *pos, input)?;
            let i = specs.len();
            specs.push(spec);
            Expr::Column { name: format!("$agg{i}"), pos: *pos }
        }
        Expr::Column { .. } | Expr::Literal { .. } => e.clone(),
        Expr::Unary { op, expr, pos } => {
            Expr::Unary { op: *op, expr: Box::new(lift(expr, input, specs, found, inside)?), pos: *pos }
        }
        Expr::Binary { op, left, right, pos } => Expr::Binary {
            op: *op,
            left: Box::new(lift(left, input, specs, found, inside)?),
            right: Box::new(lift(right, input, specs, found, inside)?),
            pos: *pos,
        },
        Expr::IsNull { expr, negated, pos } => {
            Expr::IsNull { expr: Box::new(lift(expr, input, specs, found, inside)?), negated: *negated, pos: *pos }
        }
        Expr::InList { expr, list, negated, pos } => Expr::InList {
            expr: Box::new(lift(expr, input, specs, found, inside)?),
            list: list.iter().map(|x| lift(x, input, specs, found, inside)).collect::<Result<_, _>>()?,
            negated: *negated,
            pos: *pos,
        },
        Expr::Call { name, args, star, distinct, pos } => Expr::Call {
            name: name.clone(),
            args: args.iter().map(|x| lift(x, input, specs, found, inside)).collect::<Result<_, _>>()?,
            star: *star,
            distinct: *distinct,
            pos: *pos,
        },
        Expr::Cast { expr, to, pos } => {
            Expr::Cast { expr: Box::new(lift(expr, input, specs, found, inside)?), to: *to, pos: *pos }
        }
    })
}

fn agg_spec(
    name: &str,
    args: &[Expr],
    star: bool,
    distinct: bool,
    pos: usize,
    input: &RowSchema,
) -> Result<AggSpec, ExprError> {
    let want = |n: usize| -> Result<(), ExprError> {
        if args.len() != n {
            return Err(ExprError::new(
                pos,
                format!("`{name}` takes {n} argument{}, found {}", if n == 1 { "" } else { "s" }, args.len()),
            ));
        }
        Ok(())
    };
    if star && name != "count" {
        return Err(ExprError::new(pos, format!("`{name}(*)` is not an aggregate")).with_fix("only count(*) takes *"));
    }
    let func = match (name, distinct) {
        ("count", false) if star => {
            return Ok(AggSpec { func: AggFunc::Count, arg: None, by: None, int: false, out: Kind::Int });
        }
        ("count", false) => AggFunc::Count,
        ("count", true) | ("count_distinct", _) | ("approx_count_distinct", _) => AggFunc::CountDistinct,
        (_, true) => {
            return Err(ExprError::new(pos, format!("`{name}(DISTINCT ...)` is not supported"))
                .with_fix("DISTINCT is supported in count(DISTINCT x)"));
        }
        ("sum", _) => AggFunc::Sum,
        ("avg" | "mean", _) => AggFunc::Avg,
        ("min", _) => AggFunc::Min,
        ("max", _) => AggFunc::Max,
        ("min_by", _) => AggFunc::MinBy,
        ("max_by", _) => AggFunc::MaxBy,
        ("first" | "first_value", _) => AggFunc::First,
        _ => AggFunc::Last,
    };
    let by = if matches!(func, AggFunc::MinBy | AggFunc::MaxBy) {
        want(2)?;
        let b = expr::compile(&args[1], input)?;
        if b.kind().is_none() {
            return Err(ExprError::new(args[1].pos(), "the ordering of min_by/max_by cannot be always NULL"));
        }
        Some(b)
    } else {
        want(1)?;
        None
    };
    let arg = expr::compile(&args[0], input)?;
    let Some(kind) = arg.kind() else {
        return Err(ExprError::new(args[0].pos(), format!("`{name}` of a value that is always NULL")));
    };
    let numeric = matches!(kind, Kind::Int | Kind::Float);
    if matches!(func, AggFunc::Sum | AggFunc::Avg) && !numeric {
        let fix = if kind == Kind::Timestamp {
            "aggregate unix_millis(ts) instead, or use min/max"
        } else {
            "convert with CAST(x AS double), or count it with count(x)"
        };
        return Err(ExprError::new(args[0].pos(), format!("`{name}` needs numbers, found {kind}")).with_fix(fix));
    }
    let out = match func {
        AggFunc::Count | AggFunc::CountDistinct => Kind::Int,
        AggFunc::Avg => Kind::Float,
        _ => kind,
    };
    Ok(AggSpec { func, arg: Some(arg), by, int: kind == Kind::Int, out })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> RowSchema {
        RowSchema::new(vec![
            Field::new("userId", Kind::Str),
            Field::new("action", Kind::Str),
            Field::new("value", Kind::Float),
            Field::new("n", Kind::Int),
        ])
    }

    fn named(items: &[&str]) -> Vec<(Expr, String)> {
        items
            .iter()
            .map(|t| {
                let (e, alias) = expr::parse_named(t).unwrap();
                let name = expr::output_name(&e, alias.as_deref(), t);
                (e, name)
            })
            .collect()
    }

    fn rows() -> Vec<Vec<Value>> {
        vec![
            vec![Value::from("u1"), Value::from("view"), Value::Float(1.5), Value::Int(3)],
            vec![Value::from("u1"), Value::from("click"), Value::Float(2.5), Value::Null],
            vec![Value::from("u1"), Value::from("view"), Value::Null, Value::Int(5)],
            vec![Value::from("u1"), Value::from("buy"), Value::Float(-1.0), Value::Int(1)],
        ]
    }

    /// The set finds short strings by their words and everything else by the general hash:
    /// against a naive list deduplicated with `key_eq`, over strings of every length up to 20
    /// (zero bytes at the end, the word boundaries, multibyte UTF-8), numbers and other kinds,
    /// each inserted twice; then `contains` (the general path) finds every value, and a set
    /// built in another order is equal.
    #[test]
    fn distinct_set_by_words_and_by_hash() {
        let mut values: Vec<Value> = Vec::new();
        for len in 0..=20usize {
            let base: String = "abcdefghijklmnopqrstu".chars().take(len).collect();
            values.push(Value::from(base.as_str()));
            if len > 0 {
                let mut last = base.clone();
                last.pop();
                values.push(Value::from(format!("{last}z")));
                values.push(Value::from(format!("{last}\0")));
                values.push(Value::from(format!("{base}\0")));
            }
        }
        values.extend(["é", "aé", "CUST_10001", "CUST_10002", "CUST_10001\0", "日本語テキスト"].map(Value::from));
        values.extend([Value::Int(0), Value::Int(1), Value::Int(-1), Value::Float(0.0), Value::Float(-0.0)]);
        values.extend([Value::Float(f64::NAN), Value::Float(1.5), Value::Timestamp(1), Value::Bool(true)]);
        values.push(Value::Bytes(std::sync::Arc::from(&b"abc"[..])));
        values.push(Value::Null);
        let mut naive: Vec<Value> = Vec::new();
        for v in &values {
            if !naive.iter().any(|x| key_eq(x, v)) {
                naive.push(v.clone());
            }
        }
        let mut set = DistinctSet::default();
        for v in values.iter().chain(values.iter().rev()) {
            set.insert(v);
        }
        assert_eq!(set.len(), naive.len());
        for v in &values {
            assert!(set.contains(v), "{v:?}");
        }
        let mut expected = naive.clone();
        expected.sort_by(|a, b| value_cmp(a, b).then_with(|| rank(a).cmp(&rank(b))));
        assert_eq!(set.sorted_values().len(), expected.len());
        assert!(set.sorted_values().iter().zip(&expected).all(|(a, b)| key_eq(a, b)));
        assert!(set == DistinctSet::from_values(naive.into_iter().rev()));
        assert!(!set.contains(&Value::from("zz")));
    }

    #[test]
    fn every_aggregate_by_hand() {
        let agg = Aggregation::compile(
            &schema(),
            false,
            &named(&["userId"]),
            &named(&[
                "count(*) AS n_all",
                "count(value) AS n_value",
                "sum(value) AS total",
                "sum(n) AS total_n",
                "avg(n) AS mean_n",
                "min(action) AS first_action_alpha",
                "max(value) AS top",
                "count(DISTINCT action) AS actions",
                "max_by(action, value) AS best_action",
                "min_by(action, n) AS least_n_action",
                "first(action) AS first_action",
                "last(action) AS last_action",
                "sum(value) / count(*) AS mean_all",
            ]),
        )
        .unwrap();
        let mut accs = agg.new_accs();
        for (t, r) in rows().iter().enumerate() {
            agg.update(&mut accs, r, 100 - t as i64 * 10);
        }
        let key = GroupKey(vec![Value::from("u1")].into());
        let row = agg.result_row(None, &key, &accs);
        assert_eq!(
            row.values,
            vec![
                Value::from("u1"),
                Value::Int(4),
                Value::Int(3),
                Value::Float(3.0),
                Value::Int(9),
                Value::Float(3.0),
                Value::from("buy"),
                Value::Float(2.5),
                Value::Int(3),
                Value::from("click"),
                Value::from("buy"),
                // first/last follow event time (100, 90, 80, 70), not arrival order.
                Value::from("buy"),
                Value::from("view"),
                Value::Float(0.75),
            ]
        );
        assert_eq!(agg.schema.fields[4].kind, Kind::Int);
        assert_eq!(agg.schema.fields[5].kind, Kind::Float);
    }

    #[test]
    fn case_inside_and_around_aggregates() {
        // Spark's conditional counting: sum(CASE WHEN ... THEN 1 ELSE 0 END); and a label
        // computed from aggregates.
        let agg = Aggregation::compile(
            &schema(),
            false,
            &named(&["CASE WHEN action = 'view' THEN 'views' ELSE 'other' END AS kind"]),
            &named(&[
                "sum(CASE WHEN value > 2 THEN 1 ELSE 0 END) AS big",
                "CASE WHEN count(*) > 1 THEN 'many' ELSE 'one' END AS how_many",
            ]),
        )
        .unwrap();
        assert_eq!(agg.schema.fields[0].name, "kind");
        assert_eq!(agg.schema.fields[1].kind, Kind::Int);
        let mut views = agg.new_accs();
        let mut other = agg.new_accs();
        for r in rows() {
            let accs = if r[1] == Value::from("view") { &mut views } else { &mut other };
            agg.update(accs, &r, 0);
        }
        let key = |k: &str| GroupKey(vec![Value::from(k)].into());
        // views: values 1.5 and NULL (NULL > 2 is NULL: the ELSE arm); others: 2.5 and -1.0.
        assert_eq!(
            agg.result_row(None, &key("views"), &views).values,
            vec![Value::from("views"), Value::Int(0), Value::from("many")]
        );
        assert_eq!(
            agg.result_row(None, &key("other"), &other).values,
            vec![Value::from("other"), Value::Int(1), Value::from("many")]
        );
    }

    #[test]
    fn merging_two_halves_equals_one_pass() {
        let agg = Aggregation::compile(
            &schema(),
            false,
            &[],
            &named(&[
                "count(*)",
                "sum(value)",
                "sum(n)",
                "avg(value)",
                "min(n)",
                "max(action)",
                "count_distinct(action)",
                "min_by(action, value)",
                "first(action)",
                "last(action)",
            ]),
        )
        .unwrap();
        let rows = rows();
        let mut whole = agg.new_accs();
        for (t, r) in rows.iter().enumerate() {
            agg.update(&mut whole, r, t as i64);
        }
        let mut a = agg.new_accs();
        let mut b = agg.new_accs();
        for (t, r) in rows.iter().enumerate() {
            agg.update(if t < 2 { &mut a } else { &mut b }, r, t as i64);
        }
        Aggregation::merge(&mut a, &b);
        assert_eq!(a, whole);
        // And snapshots round-trip.
        let back: Vec<Acc> = a.iter().map(|x| Acc::from_snap(x.to_snap())).collect();
        assert_eq!(&back[..], &whole[..]);
    }

    #[test]
    fn min_and_max_follow_value_order_for_every_mix_of_kinds() {
        // An integer column that may hold nulls, and (through a checkpoint or a merge) other
        // kinds: the in-place integer path and value_cmp must agree.
        let agg = Aggregation::compile(&schema(), false, &[], &named(&["min(n)", "max(n)"])).unwrap();
        let seqs: Vec<Vec<Value>> = vec![
            vec![Value::Int(3), Value::Int(-7), Value::Null, Value::Int(i64::MAX), Value::Int(i64::MIN), Value::Int(0)],
            vec![Value::Null, Value::Int(5), Value::Int(5), Value::Int(4)],
            vec![Value::Int(2), Value::Float(1.5), Value::Int(1), Value::Float(9.5), Value::Int(9)],
            vec![Value::Float(0.5), Value::Int(0), Value::Int(1)],
        ];
        for seq in seqs {
            let mut accs = agg.new_accs();
            for v in &seq {
                agg.update(&mut accs, &[Value::Null, Value::Null, Value::Null, v.clone()], 0);
            }
            let present: Vec<&Value> = seq.iter().filter(|v| !v.is_null()).collect();
            let min = present.iter().copied().min_by(|a, b| value_cmp(a, b)).cloned().unwrap_or(Value::Null);
            let max = present.iter().copied().max_by(|a, b| value_cmp(a, b)).cloned().unwrap_or(Value::Null);
            assert_eq!((accs[0].finish(), accs[1].finish()), (min, max), "{seq:?}");
        }
    }

    #[test]
    fn empty_and_overflow() {
        let agg =
            Aggregation::compile(&schema(), false, &[], &named(&["sum(n)", "avg(value)", "count(n)", "min(value)"]))
                .unwrap();
        let accs = agg.new_accs();
        let row = agg.result_row(None, &GroupKey::default(), &accs);
        assert_eq!(row.values, vec![Value::Null, Value::Null, Value::Int(0), Value::Null]);
        let mut accs = agg.new_accs();
        let big = vec![Value::Null, Value::Null, Value::Null, Value::Int(i64::MAX)];
        agg.update(&mut accs, &big, 0);
        agg.update(&mut accs, &big, 0);
        assert_eq!(accs[0].finish(), Value::Null);
    }

    #[test]
    fn compile_errors() {
        let e = |g: &[&str], a: &[&str]| Aggregation::compile(&schema(), false, &named(g), &named(a)).unwrap_err();
        let x = e(&["userId"], &["value"]);
        assert_eq!((x.list, x.index), ("aggregates", 0));
        assert!(x.error.message.contains("no aggregate call"));
        let x = e(&["userId"], &["count(*)", "sum(value) + n"]);
        assert_eq!(x.index, 1);
        assert_eq!(x.error.message, "column `n` is neither grouped nor aggregated");
        let x = e(&[], &["sum(action)"]);
        assert!(x.error.message.contains("needs numbers, found string"));
        let x = e(&[], &["sum(count(*))"]);
        assert!(x.error.message.contains("inside another aggregate"));
        let x = e(&["usr"], &["count(*)"]);
        assert_eq!((x.list, x.index), ("group_by", 0));
        let x = e(&["userId"], &["count(*) + bogus"]);
        assert_eq!(x.error.fix.as_deref(), Some("outside aggregate calls only these are known: userId"));
        let x = e(&["userId"], &["count(*) AS userId"]);
        assert!(x.error.message.contains("appears twice"));
        let x = e(&[], &["max_by(action)"]);
        assert!(x.error.message.contains("takes 2 arguments"));
        let x = e(&[], &["sum(*)"]);
        assert!(x.error.fix.unwrap().contains("count(*)"));
    }
}
