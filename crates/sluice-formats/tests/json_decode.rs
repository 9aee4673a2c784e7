//! `json::decode` (a hand-written scanner for flat records, serde_json for the rest) gives, for
//! any input, exactly what serde_json alone gives (`decode_with_serde_json`): the same cells
//! (floats to the bit) or the same error; and where serde_json parses the input as a value,
//! what `json::decode_value` makes of that value. `json::RecordDecoder` (keys prepared, cells
//! written over a reused row's) gives the same.

use proptest::prelude::*;
use sluice_formats::json::{RecordDecoder, decode, decode_value, decode_with_serde_json};
use sluice_formats::{Field, Kind, Row, RowSchema, Value};

fn schema() -> RowSchema {
    RowSchema::new(vec![
        Field::new("s", Kind::Str),
        Field::new("i", Kind::Int),
        Field::new("f", Kind::Float),
        Field::new("b", Kind::Bool),
        Field::new("t", Kind::Timestamp),
        Field::new("y", Kind::Bytes),
        Field::new("ü", Kind::Str),
    ])
}

fn same(bytes: &[u8]) -> Result<(), TestCaseError> {
    let input = String::from_utf8_lossy(bytes);
    let got = decode(&schema(), bytes);
    let want = decode_with_serde_json(&schema(), bytes);
    // Debug text: floats to the bit (-0.0 apart from 0.0), errors with serde_json's position.
    prop_assert_eq!(format!("{got:?}"), format!("{want:?}"), "input: {}", input);
    // A row reused from an earlier record: stale cells of every column (a long string: a heap
    // buffer the decoder writes over or replaces).
    let mut reused = vec![Value::from("a stale cell from the last record, long"); schema().len()];
    let prepared = RecordDecoder::new(schema()).decode_into(bytes, &mut reused).map(|()| Row::new(reused));
    prop_assert_eq!(format!("{prepared:?}"), format!("{want:?}"), "input (RecordDecoder): {}", input);
    // Told that some columns are not read, it leaves their cells null, and refuses a record
    // exactly when (and as) it did.
    for read in [[false, true, false, true, false, true, false], [true, false, true, false, true, false, true]] {
        let mut d = RecordDecoder::new(schema());
        d.read_only(&read);
        prop_assert!(d.leaves_out());
        let mut reused = vec![Value::from("a stale cell from the last record, long"); schema().len()];
        let got = d.decode_into(bytes, &mut reused).map(|()| Row::new(reused));
        let want = want.as_ref().map(|row| {
            Row::new(row.values.iter().zip(read).map(|(v, r)| if r { v.clone() } else { Value::Null }).collect())
        });
        prop_assert_eq!(format!("{got:?}"), format!("{want:?}"), "input (columns {:?} read): {}", read, input);
        // `decode` still gives every column.
        prop_assert_eq!(format!("{:?}", d.decode(bytes)), format!("{:?}", decode(&schema(), bytes)));
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
        let parsed = decode_value(&schema(), &v);
        match (&got, &parsed) {
            (Ok(a), Ok(b)) => prop_assert_eq!(format!("{a:?}"), format!("{b:?}"), "input: {}", input),
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string(), "input: {}", input),
            _ => prop_assert!(false, "input: {}: {:?} vs {:?}", input, got, parsed),
        }
    }
    Ok(())
}

/// Number text in JSON's grammar and around it (leading zeros, bare dots, huge exponents).
fn number() -> impl Strategy<Value = String> {
    let digits = |n: usize| {
        prop::collection::vec(0u8..10, 1..n).prop_map(|d| d.iter().map(|x| (b'0' + x) as char).collect::<String>())
    };
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<u64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_filter("finite", |v| v.is_finite()).prop_map(|v| v.to_string()),
        any::<f64>().prop_filter("finite", |v| v.is_finite()).prop_map(|v| format!("{v:e}")),
        (-1_000_000i64..1_000_000, 0u32..1000).prop_map(|(c, d)| format!("{c}.{d:03}")),
        (
            prop::option::of(Just("-")),
            digits(24),
            prop::option::of(digits(24)),
            prop::option::of((prop_oneof![Just("e"), Just("E"), Just("e+"), Just("e-")], digits(5))),
        )
            .prop_map(|(sign, int, frac, exp)| {
                let mut s = sign.unwrap_or("").to_string();
                s.push_str(&int);
                if let Some(f) = frac {
                    s.push('.');
                    s.push_str(&f);
                }
                if let Some((e, d)) = exp {
                    s.push_str(e);
                    s.push_str(&d);
                }
                s
            }),
        Just("-0".to_string()),
        Just("-0.0".to_string()),
        Just("0.0e0".to_string()),
        Just("1.".to_string()),
        Just(".5".to_string()),
        Just("-".to_string()),
        Just("1e400".to_string()),
        Just("1e-400".to_string()),
        Just("9223372036854775808".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("9007199254740993".to_string()),
        Just("0.1e23".to_string()),
    ]
}

/// String literals: plain, with escapes, non-ASCII, control characters, dates, base64.
fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _:.-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        "[a-z]{0,4}".prop_map(|s| format!("\"{s}\\\"{s}\\n\\u00e9\"")),
        Just("\"é ü 日本\"".to_string()),
        Just("\"tab\there\"".to_string()),
        Just("\"2026-11-23T10:00:00.250Z\"".to_string()),
        Just("\"2026-11-23 10:00:00\"".to_string()),
        Just("\"/w==\"".to_string()),
        Just("\"\\ud800\"".to_string()),
        Just("\"unterminated".to_string()),
    ]
}

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => number(),
        4 => string(),
        1 => Just("null".to_string()),
        1 => Just("true".to_string()),
        1 => Just("false".to_string()),
        1 => Just("tru".to_string()),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z]{1,3}", inner), 0..3).prop_map(|kv| {
                let body: Vec<String> = kv.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec!["s", "i", "f", "b", "t", "y", "ü"]).prop_map(|k| format!("\"{k}\"")),
        2 => "[a-z]{1,3}".prop_map(|k| format!("\"{k}\"")),
        1 => Just("\"\\u0069\"".to_string()),
    ]
}

fn ws() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", "", " ", "\n", "\t ", "\r\n"])
}

/// A record: mostly an object, sometimes damaged or not an object.
fn record() -> impl Strategy<Value = Vec<u8>> {
    let object = prop::collection::vec((ws(), key(), ws(), value(), ws()), 0..9).prop_map(|members| {
        let body: Vec<String> = members.into_iter().map(|(a, k, b, v, c)| format!("{a}{k}{b}:{v}{c}")).collect();
        format!("{{{}}}", body.join(","))
    });
    (object, ws(), 0u8..12, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(o, pad, damage, at, byte)| {
        let mut b = format!("{pad}{o}{pad}").into_bytes();
        match damage {
            0 => b.truncate(at.index(b.len() + 1)),
            1 => b.insert(at.index(b.len() + 1), byte),
            2 => b.extend_from_slice(b" x"),
            3 => b = format!("[{o}]").into_bytes(),
            4 => {
                let i = at.index(b.len() + 1);
                b.insert(i, b',');
            }
            _ => {}
        }
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn decode_equals_parse_then_decode_value(bytes in record()) {
        same(&bytes)?;
    }

    #[test]
    fn flat_records_of_every_kind_agree(
        s in "[a-zA-Z0-9 ]{0,30}",
        i in any::<i64>(),
        f in any::<f64>().prop_filter("finite", |v| v.is_finite()),
        cents in -100_000_000i64..100_000_000,
        b in any::<bool>(),
        t in 0i64..4_000_000_000_000,
    ) {
        let text = format!(
            r#"{{"s":"{s}","i":{i},"f":{f},"b":{b},"t":{t},"extra":[1,{{"x":"y"}}],"ü":"{s}"}}"#
        );
        same(text.as_bytes())?;
        let text = format!(r#"{{"f":{}.{:02},"t":"2026-11-23T10:00:00Z","i":null}}"#, cents / 100, (cents % 100).abs());
        same(text.as_bytes())?;
    }
}

#[test]
fn edge_cases_agree() {
    for case in [
        &b"{}"[..],
        b" { } ",
        b"{\"i\":-0}",
        b"{\"f\":-0}",
        b"{\"t\":-0}",
        b"{\"f\":-0.0}",
        b"{\"i\":3.0}",
        b"{\"i\":1e2}",
        b"{\"f\":1e22}",
        b"{\"f\":1e23}",
        b"{\"f\":123456789012345678901234567890}",
        b"{\"f\":0.000000000000000000000000000001}",
        b"{\"i\":01}",
        b"{\"s\":\"a\"}\xff",
        b"{\"s\":\"\xc3\"}",
        b"{\"s\":1,\"s\":\"x\"}",
        b"{\"s\":\"x\",\"s\":1}",
        b"{\"b\":true,\"b\":1}",
        b"{\"y\":\"/w==\"}",
        b"{\"t\":\"nope\"}",
        b"{\"t\":1.5}",
        b"{\"i\":9223372036854775807}",
        b"{\"i\":-9223372036854775808}",
        b"{\"i\":9223372036854775808}",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ] {
        same(case).unwrap();
    }
    let deep = format!("{{\"x\":{}1{}}}", "[".repeat(100), "]".repeat(100));
    same(deep.as_bytes()).unwrap();
}
