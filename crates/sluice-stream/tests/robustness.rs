//! Nothing panics on any input: random text for every parser, random bytes for checkpoints,
//! and rows of the wrong shape or type for a pipeline with every kind of step.

use crate::util::*;
use proptest::prelude::*;
use sluice_formats::{Field, Kind, Row, RowSchema, Value};
use sluice_stream::plan::parse_ddl_schema;
use sluice_stream::time::{parse_duration, parse_timestamp};
use sluice_stream::{Checkpoint, Pipeline, StaticTable, Tables, expr, jobfile};

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        prop_oneof![any::<f64>(), Just(f64::NAN), Just(-0.0), Just(f64::INFINITY)].prop_map(Value::Float),
        "[a-z\\u{e9}\\u{4e2d} ]{0,6}".prop_map(Value::from),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(|b| Value::Bytes(b.into())),
        prop_oneof![any::<i64>(), Just(i64::MAX), Just(i64::MIN), -100_000i64..100_000].prop_map(Value::Timestamp),
    ]
}

fn schema_() -> RowSchema {
    RowSchema::new(vec![
        Field::new("k", Kind::Str),
        Field::new("n", Kind::Int),
        Field::new("x", Kind::Float),
        Field::new("t", Kind::Timestamp),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn text_parsers_never_panic(s in "\\PC{0,40}", ascii in "[ -~]{0,40}") {
        for text in [&s, &ascii] {
            let _ = parse_timestamp(text);
            let _ = parse_duration(text);
            let _ = parse_ddl_schema(text);
            if let Ok(e) = expr::parse(text)
                && let Ok(c) = expr::compile(&e, &schema_())
            {
                let _ = c.eval(&[Value::from("a"), Value::Int(i64::MIN), Value::Float(f64::NAN), Value::Timestamp(i64::MAX)]);
                let _ = c.eval(&[]);
            }
            let _ = expr::parse_named(text);
            let _ = jobfile::parse(text, "fuzz.toml");
        }
    }

    #[test]
    fn expressions_from_pieces_never_panic(
        pieces in prop::collection::vec(prop::sample::select(vec![
            "k", "n", "x", "t", "1", "-2", "2.5", "'a'", "'2025-01-01'", "NULL", "TRUE", "(", ")", ",", "+", "-", "*",
            "/", "%", "=", "<", ">=", "AND", "OR", "NOT", "IS", "IN", "||", "sqrt(", "pow(", "round(", "floor(",
            "date_trunc('hour',", "concat(", "coalesce(", "if(", "is_prime(", "CAST(", "AS", "double", "bigint",
            "timestamp_seconds(", "unix_millis(", "substring(", "greatest(", "count(", "sum(", "*)",
        ]), 1..14),
        row in prop::collection::vec(any_value(), 0..5),
    ) {
        let text = pieces.join(" ");
        if let Ok(e) = expr::parse(&text)
            && let Ok(c) = expr::compile(&e, &schema_())
        {
            let _ = c.eval(&row);
            let _ = c.test(&row);
        }
    }

    #[test]
    fn checkpoint_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), flip in any::<prop::sample::Index>()) {
        let _ = Checkpoint::from_bytes(&bytes);
        // A real checkpoint with one byte changed: refused or restored, never a panic.
        let text = job();
        let mut p = pipeline_with_table(&text);
        p.process_batch(&[rec(0, 0, 0, vec![Value::from("a"), Value::Int(3), Value::Float(1.0), Value::Timestamp(5)])], 0);
        drain(&mut p);
        let mut good = p.checkpoint().unwrap().to_bytes();
        let i = flip.index(good.len());
        good[i] ^= 0x5a;
        if let Ok(cp) = Checkpoint::from_bytes(&good) {
            let plan = plan(&text);
            let _ = Pipeline::restore(&plan, schema_(), &tables(), &cp);
        }
    }

    /// Rows too short, too long or of the wrong types, through filters, computed columns, a
    /// join, windows, top-N and a select.
    #[test]
    fn any_rows_through_every_step(
        rows in prop::collection::vec((prop::collection::vec(any_value(), 0..6), -2i32..3, any::<i64>()), 0..40),
    ) {
        let mut p = pipeline_with_table(&job());
        let records: Vec<_> = rows.into_iter().enumerate().map(|(i, (values, part, ts))| rec(part, i as i64, ts, values)).collect();
        for chunk in records.chunks(5) {
            p.process_batch(chunk, 0);
            p.handle_tick(i64::MAX / 2);
        }
        p.finish(i64::MAX);
        drain(&mut p);
        let _ = p.checkpoint();
    }
}

fn job() -> String {
    r#"
name = "fuzz"
[source]
topic = "t"
format = { kind = "json", schema = "k string, n bigint, x double, t timestamp" }
event_time = "t"
watermark = "1 second"
idle_timeout = "1 second"
[[table]]
name = "dims"
path = "d.csv"
schema = "k string, label string"
[[query]]
name = "windows"
output_mode = "update"
trigger = "1 second"
[[query.step]]
filter = "n % 7 != 3 OR x IS NULL"
[[query.step]]
columns = ["n * n + 1 AS sq", "concat(k, '-', n) AS kn", "date_trunc('minute', t) AS minute"]
[[query.step]]
join = "dims"
on = ["k"]
how = "left"
[[query.step]]
window = { type = "sliding", size = "3 seconds", slide = "1 second" }
group_by = ["label", "n % 3 AS bucket"]
aggregates = ["count(*) AS c", "sum(x) AS s", "avg(sq) AS a", "count(DISTINCT kn) AS d", "max_by(k, x) AS m",
              "first(minute) AS f", "last(x) AS l", "min(t) AS lo"]
[[query.step]]
filter = "c > 0"
[[query.step]]
select = ["window_start", "label", "bucket", "c", "s / c AS mean"]
[[query.sink]]
kind = "console"
[[query]]
name = "sessions"
output_mode = "complete"
[[query.step]]
window = { type = "session", gap = "2 seconds" }
group_by = ["k"]
aggregates = ["sum(n) AS total", "count(*) AS c"]
[[query.step]]
top_n = 2
by = "total"
[[query.sink]]
kind = "console"
[[query]]
name = "running"
output_mode = "update"
[[query.step]]
group_by = ["k"]
aggregates = ["sum(n) AS total", "min_by(x, t) AS early"]
[[query.sink]]
kind = "console"
"#
    .to_string()
}

fn tables() -> Tables {
    Tables::from([(
        "dims".to_string(),
        StaticTable {
            schema: RowSchema::new(vec![Field::new("k", Kind::Str), Field::new("label", Kind::Str)]),
            rows: vec![Row::new(vec![Value::from("a"), Value::from("A")]), Row::new(vec![Value::Null])],
        },
    )])
}

fn pipeline_with_table(text: &str) -> Pipeline {
    Pipeline::new(&plan(text), schema_(), &tables()).unwrap_or_else(|e| panic!("{e}"))
}
