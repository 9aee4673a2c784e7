//! Which input columns a job reads (`Pipeline::columns_read`): what the decoder may leave out.

use crate::util::plan;
use sluice_formats::{Field, Kind, Row, RowSchema, Value};
use sluice_stream::{Pipeline, StaticTable, Tables};

const SOURCE: &str = r#"
name = "cols"
[source]
topic = "in"
format = { kind = "json", schema = "a string, b bigint, c double, d string, e bigint, f string" }
event_time = "timestamp_seconds(c)"
"#;

fn tables() -> Tables {
    let t = StaticTable {
        schema: RowSchema::new(vec![Field::new("d", Kind::Str), Field::new("region", Kind::Str)]),
        rows: vec![Row::new(vec![Value::from("x"), Value::from("north")])],
    };
    Tables::from([("dims".to_string(), t)])
}

/// The names of the input columns read by a job of `SOURCE` and `queries`.
fn read(queries: &str) -> Vec<&'static str> {
    let p = plan(&format!(
        "{SOURCE}\n[[table]]\nname = \"dims\"\npath = \"dims.csv\"\nschema = \"d string, region string\"\n{queries}"
    ));
    let schema = p.source.format.declared_schema().unwrap().clone();
    let pipeline = Pipeline::new(&p, schema, &tables()).unwrap_or_else(|e| panic!("{e}"));
    let names = ["a", "b", "c", "d", "e", "f"];
    let read = pipeline.columns_read();
    assert_eq!(read.len(), names.len());
    names.iter().zip(read).filter(|(_, r)| *r).map(|(n, _)| *n).collect()
}

#[test]
fn an_aggregate_reads_its_keys_arguments_filters_and_the_event_time() {
    let q = r#"
[[query]]
name = "q"
output_mode = "update"
[[query.step]]
filter = "e > 0"
[[query.step]]
window = { type = "tumbling", size = "5 seconds" }
group_by = ["a"]
aggregates = ["count(*) AS n", "count(DISTINCT upper(d)) AS u"]
[[query.sink]]
kind = "console"
"#;
    assert_eq!(read(q), ["a", "c", "d", "e"]);
    // The transactions job's shape: no key; sums, distinct counts, min and max.
    let q = r#"
[[query]]
name = "q"
output_mode = "update"
[[query.step]]
window = { type = "sliding", size = "10 seconds", slide = "5 seconds" }
aggregates = ["count(*) AS n", "round(sum(b), 2) AS s", "min(e) AS lo", "max_by(a, e) AS top"]
[[query.sink]]
kind = "console"
"#;
    assert_eq!(read(q), ["a", "b", "c", "e"]);
}

#[test]
fn computed_columns_joins_and_selects_read_what_they_name() {
    // A computed column over `b` (replacing `e` counts `e` as read: over-counting is safe), a
    // join on `d`; the aggregate reads a computed and a joined column.
    let q = r#"
[[query]]
name = "q"
output_mode = "update"
[[query.step]]
columns = ["b * 2 AS twice", "b + 1 AS e"]
[[query.step]]
join = "dims"
on = ["d"]
[[query.step]]
group_by = ["region"]
aggregates = ["sum(twice) AS s", "sum(e) AS t"]
[[query.sink]]
kind = "console"
"#;
    assert_eq!(read(q), ["b", "c", "d", "e"]);
    // After a select, everything reads the selected columns.
    let q = r#"
[[query]]
name = "q"
[[query.step]]
select = ["a", "b + e AS be"]
[[query.sink]]
kind = "console"
"#;
    assert_eq!(read(q), ["a", "b", "c", "e"]);
}

#[test]
fn rows_that_reach_a_sink_whole_or_leave_the_instance_read_everything() {
    let agg = r#"
[[query]]
name = "q"
output_mode = "update"
[[query.step]]
group_by = ["a"]
aggregates = ["count(*) AS n"]
[[query.sink]]
kind = "console"
"#;
    assert_eq!(read(agg), ["a", "c"]);
    let rows = r#"
[[query]]
name = "rows"
[[query.step]]
filter = "b > 1"
[[query.sink]]
kind = "console"
"#;
    assert_eq!(read(&format!("{agg}{rows}")), ["a", "b", "c", "d", "e", "f"]);
    // The shuffle stage of a scaled-out job sends rows on whole.
    let p = plan(&format!("{SOURCE}{agg}"));
    let schema = p.source.format.declared_schema().unwrap().clone();
    let shuffle = Pipeline::new_shuffle(&p, schema, &Tables::default(), 4).unwrap();
    assert_eq!(shuffle.columns_read(), [true; 6]);
}
