//! Scalar functions: their names, and how each is applied to evaluated arguments.

use crate::show::spark_string;
use crate::time::{self, TruncUnit};
use sluice_formats::{Kind, Value};

/// The scalar functions, with their signature and meaning (shown in errors and docs).
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("sqrt(x)", "square root as double (NaN for negatives)"),
    ("pow(x, y) / power(x, y)", "x to the power y as double"),
    ("abs(x)", "absolute value"),
    ("ln(x) / log10(x) / log(base, x) / exp(x)", "logarithms (NULL for x ≤ 0) and e to the power x, as double"),
    ("signum(x) / sign(x)", "-1.0, 0.0 or 1.0 by the sign of x"),
    ("floor(x) / ceil(x)", "round a double down / up to a bigint"),
    ("floor(ts, 'interval')", "start of the fixed-size bucket (e.g. '5 minutes') holding ts"),
    ("round(x [, digits])", "round half up, as Spark does"),
    ("is_prime(n)", "whether an integer is prime"),
    ("date_trunc('unit', ts)", "truncate a timestamp to second, minute, hour, day, week, month, quarter or year"),
    ("timestamp_seconds(x) / timestamp_millis(x)", "a timestamp from epoch seconds / milliseconds"),
    ("unix_seconds(ts) / unix_millis(ts)", "epoch seconds / milliseconds of a timestamp"),
    ("date_format(ts, 'pattern')", "a timestamp as text by Spark's pattern letters, e.g. 'yyyy-MM-dd HH:mm'"),
    ("to_timestamp(s)", "parse 'YYYY-MM-DD HH:MM:SS[.fff]' text as a UTC timestamp"),
    ("concat(a, b, ...)", "join values as text (NULL if any is NULL); also a || b"),
    ("lower(s) / upper(s) / length(s)", "case mapping and length in characters"),
    ("trim(s) / ltrim(s) / rtrim(s)", "without leading and trailing / leading / trailing spaces"),
    ("replace(s, search [, with])", "every occurrence of search replaced (removed without `with`)"),
    ("substring(s, start [, len])", "characters from a 1-based start"),
    ("coalesce(a, b, ...)", "the first non-NULL argument; also ifnull(a, b) / nvl(a, b)"),
    ("nullif(a, b)", "NULL when a = b, else a"),
    ("if(cond, a, b)", "a when cond is true, else b"),
    (
        "year / quarter / month / day / dayofweek / dayofyear / hour / minute / second(ts)",
        "a part of a timestamp (UTC) as a bigint; dayofweek is 1 (Sunday) to 7, as in Spark",
    ),
    ("greatest(a, ...) / least(a, ...)", "largest / smallest non-NULL argument"),
];

/// A scalar function with its constant arguments folded in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Func {
    Sqrt,
    Pow,
    AbsInt,
    AbsFloat,
    Floor,
    Ceil,
    RoundFloat(i32),
    RoundInt(i32),
    IsPrime,
    DateTrunc(TruncUnit),
    TimeFloor(i64),
    TimestampSeconds,
    TimestampMillis,
    UnixSeconds,
    UnixMillis,
    ToTimestamp,
    Lower,
    Upper,
    Length,
    Substring,
    Greatest,
    Least,
    Part(time::DatePart),
    Ln,
    Log10,
    Log,
    Exp,
    Signum,
    Trim,
    LTrim,
    RTrim,
    Replace,
}

impl Func {
    /// Applies the function to evaluated arguments; `NULL` in gives `NULL` out unless the
    /// function says otherwise.
    pub(crate) fn apply(self, args: &[Value]) -> Value {
        let a = args.first().unwrap_or(&Value::Null);
        let b = args.get(1).unwrap_or(&Value::Null);
        match self {
            Func::Greatest | Func::Least => {
                let mut best: Option<&Value> = None;
                for v in args.iter().filter(|v| !v.is_null()) {
                    let better = match best {
                        None => true,
                        Some(cur) => {
                            let o = crate::key::value_cmp(v, cur);
                            if self == Func::Greatest { o.is_gt() } else { o.is_lt() }
                        }
                    };
                    if better {
                        best = Some(v);
                    }
                }
                return best.cloned().unwrap_or(Value::Null);
            }
            _ => {}
        }
        if a.is_null() {
            return Value::Null;
        }
        match self {
            Func::Sqrt => a.as_f64().map_or(Value::Null, |x| Value::Float(x.sqrt())),
            // Logarithms of non-positive numbers (and to a non-positive base) are NULL, as in Spark.
            Func::Ln => a.as_f64().filter(|x| *x > 0.0).map_or(Value::Null, |x| Value::Float(x.ln())),
            Func::Log10 => a.as_f64().filter(|x| *x > 0.0).map_or(Value::Null, |x| Value::Float(x.log10())),
            Func::Log => match (a.as_f64(), b.as_f64()) {
                (Some(base), Some(x)) if base > 0.0 && x > 0.0 => Value::Float(x.ln() / base.ln()),
                _ => Value::Null,
            },
            Func::Exp => a.as_f64().map_or(Value::Null, |x| Value::Float(x.exp())),
            Func::Signum => a.as_f64().map_or(Value::Null, |x| {
                Value::Float(if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x
                })
            }),
            Func::Pow => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => Value::Float(x.powf(y)),
                _ => Value::Null,
            },
            Func::AbsInt => a.as_i64().and_then(i64::checked_abs).map_or(Value::Null, Value::Int),
            Func::AbsFloat => a.as_f64().map_or(Value::Null, |x| Value::Float(x.abs())),
            Func::Floor | Func::Ceil => match a {
                Value::Int(i) => Value::Int(*i),
                Value::Float(x) => {
                    let r = if self == Func::Floor { x.floor() } else { x.ceil() };
                    float_to_int(r)
                }
                _ => Value::Null,
            },
            Func::RoundFloat(d) => a.as_f64().map_or(Value::Null, |x| Value::Float(round_half_up(x, d))),
            Func::RoundInt(d) => match a.as_i64() {
                Some(i) if d < 0 => {
                    let p = 10i64.checked_pow((-d) as u32);
                    match p {
                        Some(p) => {
                            let q = i / p;
                            let r = i % p;
                            let q = if r.abs() * 2 >= p { q + i.signum() } else { q };
                            q.checked_mul(p).map_or(Value::Null, Value::Int)
                        }
                        None => Value::Int(0),
                    }
                }
                Some(i) => Value::Int(i),
                None => Value::Null,
            },
            Func::IsPrime => a.as_i64().map_or(Value::Null, |n| Value::Bool(is_prime(n))),
            Func::DateTrunc(unit) => match a {
                Value::Timestamp(t) => Value::Timestamp(time::truncate(*t, unit)),
                _ => Value::Null,
            },
            Func::TimeFloor(bucket) => match a {
                Value::Timestamp(t) => Value::Timestamp(t.div_euclid(bucket).saturating_mul(bucket)),
                _ => Value::Null,
            },
            Func::TimestampSeconds => timestamp_seconds_of(a).map_or(Value::Null, Value::Timestamp),
            Func::TimestampMillis => a.as_i64().map_or(Value::Null, Value::Timestamp),
            Func::UnixSeconds => match a {
                Value::Timestamp(t) => Value::Int(t.div_euclid(1000)),
                _ => Value::Null,
            },
            Func::Part(part) => match a {
                Value::Timestamp(t) => Value::Int(part.of(*t)),
                _ => Value::Null,
            },
            Func::UnixMillis => match a {
                Value::Timestamp(t) => Value::Int(*t),
                _ => Value::Null,
            },
            Func::ToTimestamp => match a {
                Value::Str(s) => time::parse_timestamp(s).map_or(Value::Null, Value::Timestamp),
                Value::Timestamp(t) => Value::Timestamp(*t),
                _ => Value::Null,
            },
            Func::Lower => a.as_str().map_or(Value::Null, |s| Value::from(s.to_lowercase())),
            Func::Upper => a.as_str().map_or(Value::Null, |s| Value::from(s.to_uppercase())),
            Func::Length => a.as_str().map_or(Value::Null, |s| Value::Int(s.chars().count() as i64)),
            // Spark trims spaces only (not tabs or newlines).
            Func::Trim => a.as_str().map_or(Value::Null, |s| Value::from(s.trim_matches(' '))),
            Func::LTrim => a.as_str().map_or(Value::Null, |s| Value::from(s.trim_start_matches(' '))),
            Func::RTrim => a.as_str().map_or(Value::Null, |s| Value::from(s.trim_end_matches(' '))),
            Func::Replace => {
                let (Some(s), Some(search)) = (a.as_str(), b.as_str()) else { return Value::Null };
                let with = match args.get(2) {
                    None => "",
                    Some(v) => match v.as_str() {
                        Some(w) => w,
                        None => return Value::Null,
                    },
                };
                // An empty search string leaves the text as it is (as Spark does).
                if search.is_empty() { a.clone() } else { Value::from(s.replace(search, with)) }
            }
            Func::Substring => {
                let Some(s) = a.as_str() else { return Value::Null };
                let Some(start) = b.as_i64() else { return Value::Null };
                let len = match args.get(2) {
                    None => i64::MAX,
                    Some(v) => match v.as_i64() {
                        Some(l) => l.max(0),
                        None => return Value::Null,
                    },
                };
                let n = s.chars().count() as i64;
                // Spark: 1-based; 0 behaves as 1; negative counts from the end.
                let from = if start > 0 {
                    start - 1
                } else if start < 0 {
                    (n + start).max(0)
                } else {
                    0
                };
                Value::from(s.chars().skip(from as usize).take(len.min(n) as usize).collect::<String>())
            }
            Func::Greatest | Func::Least => Value::Null,
        }
    }
}

/// A float to an integer value, `NULL` when it does not fit.
pub(crate) fn float_to_int(x: f64) -> Value {
    if x.is_finite() && x >= i64::MIN as f64 && x < i64::MAX as f64 { Value::Int(x as i64) } else { Value::Null }
}

/// `timestamp_seconds` of a value, as milliseconds; `None` for its `NULL` (not a number, or out
/// of range).
#[inline]
pub(crate) fn timestamp_seconds_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(s) => s.checked_mul(1000),
        Value::Float(s) => seconds_to_millis(*s),
        _ => None,
    }
}

pub(crate) fn seconds_to_timestamp(s: f64) -> Value {
    seconds_to_millis(s).map_or(Value::Null, Value::Timestamp)
}

/// [`seconds_to_timestamp`]'s milliseconds; `None` for its `NULL`.
#[inline]
pub(crate) fn seconds_to_millis(s: f64) -> Option<i64> {
    let ms = s * 1000.0;
    // `f64::round` is a libm call on x86-64's baseline (`roundsd` needs SSE4.1), once per
    // record for an event time such as `timestamp_seconds(ts)`. Below 2^52 the same rounding
    // (half away from zero) is a truncation and a step: `ms - t` is then exact.
    if ms.abs() < 4_503_599_627_370_496.0 {
        let t = ms as i64;
        let frac = ms - t as f64;
        return Some(if frac >= 0.5 {
            t + 1
        } else if frac <= -0.5 {
            t - 1
        } else {
            t
        });
    }
    let ms = ms.round();
    (ms.is_finite() && ms.abs() < 9.0e18).then_some(ms as i64)
}

/// Rounds half away from zero on the shortest decimal text of `x`, as Spark's `round` does
/// through `BigDecimal(x.toString)`: `round(2.675, 2)` is 2.68 although 2.675 is stored as
/// 2.67499999...
pub(crate) fn round_half_up(x: f64, digits: i32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let text = format!("{:e}", x.abs());
    // Shortest digits and exponent: d.ddde±x
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits_str: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    // value = 0.d1d2d3... × 10^(exp+1)
    let point = exp + 1; // number of digits before the decimal point
    let keep = point + digits; // digits to keep
    if keep < 0 {
        return 0.0_f64.copysign(x);
    }
    let keep = keep as usize;
    if keep >= digits_str.len() {
        return x;
    }
    let mut kept: Vec<u8> = digits_str.as_bytes()[..keep].iter().map(|b| b - b'0').collect();
    let round_up = digits_str.as_bytes()[keep] >= b'5';
    let mut carry_point = point;
    if round_up {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, 1);
                carry_point += 1;
                break;
            }
            i -= 1;
            if kept[i] == 9 {
                kept[i] = 0;
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    if kept.is_empty() {
        return 0.0_f64.copysign(x);
    }
    let s: String = kept.iter().map(|d| (b'0' + d) as char).collect();
    let shift = carry_point - kept.len() as i32;
    let r: f64 = format!("{s}e{shift}").parse().unwrap_or(x.abs());
    r.copysign(x)
}

/// Deterministic Miller–Rabin for 64-bit integers.
pub(crate) fn is_prime(n: i64) -> bool {
    if n < 2 {
        return false;
    }
    let n = n as u64;
    for p in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let mut d = n - 1;
    let mut r = 0;
    while d.is_multiple_of(2) {
        d /= 2;
        r += 1;
    }
    let mul = |a: u64, b: u64| ((a as u128 * b as u128) % n as u128) as u64;
    let pow = |mut b: u64, mut e: u64| {
        let mut acc = 1u64;
        b %= n;
        while e > 0 {
            if e & 1 == 1 {
                acc = mul(acc, b);
            }
            b = mul(b, b);
            e >>= 1;
        }
        acc
    };
    'witness: for a in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        let mut x = pow(a, d);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..r {
            x = mul(x, x);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

/// Converts a value as Spark's `CAST` does; `NULL` when it cannot.
pub(crate) fn cast(v: &Value, to: Kind) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    if v.kind() == Some(to) {
        return v.clone();
    }
    match (v, to) {
        (_, Kind::Str) => Value::from(spark_string(v)),
        (Value::Str(s), Kind::Int) => {
            let t = s.trim();
            t.parse::<i64>().map(Value::Int).unwrap_or_else(|_| {
                // Spark truncates "1.9" to 1 when casting text to an integer.
                t.parse::<f64>().map_or(Value::Null, |x| float_to_int(x.trunc()))
            })
        }
        (Value::Str(s), Kind::Float) => s.trim().parse::<f64>().map_or(Value::Null, Value::Float),
        (Value::Str(s), Kind::Bool) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => Value::Bool(true),
            "false" | "f" | "no" | "n" | "0" => Value::Bool(false),
            _ => Value::Null,
        },
        (Value::Str(s), Kind::Timestamp) => time::parse_timestamp(s).map_or(Value::Null, Value::Timestamp),
        (Value::Str(s), Kind::Bytes) => Value::Bytes(s.as_bytes().into()),
        (Value::Int(i), Kind::Float) => Value::Float(*i as f64),
        (Value::Int(i), Kind::Bool) => Value::Bool(*i != 0),
        (Value::Int(i), Kind::Timestamp) => i.checked_mul(1000).map_or(Value::Null, Value::Timestamp),
        (Value::Float(x), Kind::Int) => float_to_int(x.trunc()),
        (Value::Float(x), Kind::Bool) => Value::Bool(*x != 0.0),
        (Value::Float(x), Kind::Timestamp) => seconds_to_timestamp(*x),
        (Value::Bool(b), Kind::Int) => Value::Int(*b as i64),
        (Value::Bool(b), Kind::Float) => Value::Float(*b as i64 as f64),
        (Value::Timestamp(t), Kind::Int) => Value::Int(t.div_euclid(1000)),
        (Value::Timestamp(t), Kind::Float) => Value::Float(*t as f64 / 1000.0),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        let small: Vec<i64> = (-5..60).filter(|&n| is_prime(n)).collect();
        assert_eq!(small, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59]);
        assert!(is_prime(9_223_372_036_854_775_783)); // largest prime below 2^63
        assert!(!is_prime(9_223_372_036_854_775_807));
        assert!(!is_prime(3_215_031_751)); // strong pseudoprime to bases 2, 3, 5, 7
        // Against trial division on a range.
        for n in 0..5000i64 {
            let naive = n >= 2 && (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0);
            assert_eq!(is_prime(n), naive, "{n}");
        }
    }

    /// The truncate-and-step rounding of [`seconds_to_timestamp`] against `f64::round`: halves
    /// both ways, both signs, the 2^52 edge, and epoch seconds with millisecond fractions.
    #[test]
    fn seconds_to_timestamp_rounds_as_f64_round() {
        let reference = |s: f64| {
            let ms = (s * 1000.0).round();
            if ms.is_finite() && ms.abs() < 9.0e18 { Value::Timestamp(ms as i64) } else { Value::Null }
        };
        let edge = 4_503_599_627_370_496.0 / 1000.0;
        let mut cases = vec![
            0.0,
            -0.0,
            0.0005,
            -0.0005,
            0.0004999,
            0.0015,
            -0.0015,
            0.0025,
            -0.0025,
            1.5,
            -1.5,
            2.4994,
            1_795_435_200.123,
            1_795_435_200.999_5,
            -1_795_435_200.000_5,
            edge,
            -edge,
            edge * 0.999_999_9,
            edge * 1.000_000_1,
            9.1e15,
            -9.3e15,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            4_503_599_627_370.495,
        ];
        // Halves and near-halves of a millisecond over a range of magnitudes.
        let mut x = 0.000_5;
        while x < 1e13 {
            for d in [0.0, 1e-12, -1e-12] {
                cases.extend([x + d, -(x + d), x * 3.0 + d]);
            }
            x *= 7.3;
        }
        for s in cases {
            assert_eq!(seconds_to_timestamp(s), reference(s), "{s:e}");
        }
    }

    #[test]
    fn rounding_like_spark() {
        assert_eq!(round_half_up(2.675, 2), 2.68);
        assert_eq!(round_half_up(2.5, 0), 3.0);
        assert_eq!(round_half_up(-2.5, 0), -3.0);
        assert_eq!(round_half_up(1125.654, 2), 1125.65);
        assert_eq!(round_half_up(9.995, 2), 10.0);
        assert_eq!(round_half_up(0.0004, 2), 0.0);
        assert_eq!(round_half_up(1234.5, -2), 1200.0);
        assert_eq!(round_half_up(1e300, 2), 1e300);
        assert_eq!(Func::RoundInt(-1).apply(&[Value::Int(15)]), Value::Int(20));
        assert_eq!(Func::RoundInt(-1).apply(&[Value::Int(-15)]), Value::Int(-20));
        assert_eq!(Func::RoundInt(-1).apply(&[Value::Int(14)]), Value::Int(10));
    }

    #[test]
    fn casts() {
        assert_eq!(cast(&Value::from(" 42 "), Kind::Int), Value::Int(42));
        assert_eq!(cast(&Value::from("4.9"), Kind::Int), Value::Int(4));
        assert_eq!(cast(&Value::from("x"), Kind::Int), Value::Null);
        assert_eq!(cast(&Value::Float(1690454489.123), Kind::Timestamp), Value::Timestamp(1_690_454_489_123));
        assert_eq!(cast(&Value::Timestamp(1_500), Kind::Int), Value::Int(1));
        assert_eq!(cast(&Value::Float(f64::NAN), Kind::Int), Value::Null);
        assert_eq!(cast(&Value::Float(1.0), Kind::Str), Value::from("1.0"));
        assert_eq!(cast(&Value::Int(i64::MAX), Kind::Timestamp), Value::Null);
    }

    #[test]
    fn substring_like_spark() {
        let s = |a: i64, l: Option<i64>| {
            let mut args = vec![Value::from("sluice"), Value::Int(a)];
            args.extend(l.map(Value::Int));
            Func::Substring.apply(&args)
        };
        assert_eq!(s(1, Some(3)), Value::from("slu"));
        assert_eq!(s(0, Some(3)), Value::from("slu"));
        assert_eq!(s(-3, None), Value::from("ice"));
        assert_eq!(s(5, Some(99)), Value::from("ce"));
        assert_eq!(s(9, None), Value::from(""));
    }
}
