//! Result tables as Spark's `Dataset.show()` prints them, for the console sink.
//!
//! Spark's rules, reproduced: every cell is the value cast to text (`null` for nulls, doubles as
//! Java prints them: `1.0`, `221.45`, `1.0E7`; timestamps as `yyyy-MM-dd HH:mm:ss[.fff]` in
//! UTC); with `truncate > 0` cells longer than `truncate` are cut to `truncate - 3` characters
//! plus `...` and all cells are right-aligned; with `truncate == 0` nothing is cut and cells are
//! left-aligned; columns are at least 3 wide; after `num_rows` rows a footer says
//! `only showing top N rows`. Widths count characters (Spark counts East Asian wide characters
//! twice; we do not).
//!
//! ```
//! use sluice_formats::{Field, Kind, Row, RowSchema, Value};
//! use sluice_stream::show::{ShowOptions, show};
//!
//! let schema = RowSchema::new(vec![Field::new("action", Kind::Str), Field::new("count", Kind::Int)]);
//! let rows = vec![Row::new(vec![Value::from("click"), Value::Int(14)])];
//! assert_eq!(
//!     show(&schema, &rows, &ShowOptions::default()),
//!     "+------+-----+\n|action|count|\n+------+-----+\n| click|   14|\n+------+-----+\n"
//! );
//! ```

use crate::time::SparkTimestamp;
use sluice_formats::{Row, RowSchema, Value};

/// How to render a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowOptions {
    /// Rows to print at most (Spark's default: 20).
    pub num_rows: usize,
    /// Cut cells longer than this; 0 prints cells whole and left-aligned (Spark's default: 20).
    pub truncate: usize,
}

impl Default for ShowOptions {
    fn default() -> Self {
        ShowOptions { num_rows: 20, truncate: 20 }
    }
}

/// A double as Java's `Double.toString` writes it (which is how Spark casts doubles to text):
/// at least one fractional digit, scientific notation outside `[1e-3, 1e7)`.
pub fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    let a = x.abs();
    if (1e-3..1e7).contains(&a) {
        let s = format!("{x}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
        format!("{mantissa}E{exp}")
    }
}

/// A value as Spark casts it to text.
pub fn spark_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => java_double(*x),
        Value::Str(s) => s.to_string(),
        Value::Bytes(b) => {
            let hex: Vec<String> = b.iter().map(|x| format!("{x:02X}")).collect();
            format!("[{}]", hex.join(" "))
        }
        Value::Timestamp(t) => SparkTimestamp(*t).to_string(),
    }
}

fn cell_text(v: &Value) -> String {
    let s = spark_string(v);
    if s.contains(['\n', '\r', '\t']) { s.replace('\n', "\\n").replace('\r', "\\r").replace('\t', "\\t") } else { s }
}

fn truncate_cell(s: String, truncate: usize) -> String {
    let n = s.chars().count();
    if truncate == 0 || n <= truncate {
        return s;
    }
    if truncate < 4 {
        s.chars().take(truncate).collect()
    } else {
        let mut t: String = s.chars().take(truncate - 3).collect();
        t.push_str("...");
        t
    }
}

/// Renders rows as Spark's `show(num_rows, truncate)` does.
pub fn show(schema: &RowSchema, rows: &[Row], opts: &ShowOptions) -> String {
    let shown = &rows[..rows.len().min(opts.num_rows)];
    let mut table: Vec<Vec<String>> = Vec::with_capacity(shown.len() + 1);
    table.push(schema.fields.iter().map(|f| truncate_cell(f.name.clone(), opts.truncate)).collect());
    for r in shown {
        table.push((0..schema.len()).map(|i| truncate_cell(cell_text(r.get(i)), opts.truncate)).collect());
    }
    let mut widths = vec![3usize; schema.len()];
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let sep: String = {
        let mut s = String::from("+");
        for w in &widths {
            s.push_str(&"-".repeat(*w));
            s.push('+');
        }
        s.push('\n');
        s
    };
    out.push_str(&sep);
    for (i, row) in table.iter().enumerate() {
        out.push('|');
        for (cell, w) in row.iter().zip(&widths) {
            let pad = " ".repeat(w - cell.chars().count());
            if opts.truncate > 0 {
                out.push_str(&pad);
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&pad);
            }
            out.push('|');
        }
        out.push('\n');
        if i == 0 {
            out.push_str(&sep);
        }
    }
    out.push_str(&sep);
    if rows.len() > opts.num_rows {
        let word = if opts.num_rows == 1 { "row" } else { "rows" };
        out.push_str(&format!("only showing top {} {word}\n", opts.num_rows));
    }
    out
}

/// The block Spark's console sink prints for one micro-batch: a dashed banner with the batch
/// number, then the table.
pub fn console_batch(batch: u64, schema: &RowSchema, rows: &[Row], opts: &ShowOptions) -> String {
    console_titled(&format!("Batch: {batch}"), schema, rows, opts)
}

/// [`console_batch`] with another banner line, e.g. one naming the job and query when several
/// queries print to one terminal (`sluice demo`).
pub fn console_titled(title: &str, schema: &RowSchema, rows: &[Row], opts: &ShowOptions) -> String {
    let bar = "-".repeat(title.chars().count().max(43));
    format!("{bar}\n{title}\n{bar}\n{}\n", show(schema, rows, opts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_formats::{Field, Kind};

    #[test]
    fn doubles_as_java_prints_them() {
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(221.45), "221.45");
        assert_eq!(java_double(-0.5), "-0.5");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(12_345_678.9), "1.23456789E7");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(1.5e-10), "1.5E-10");
        assert_eq!(java_double(9_999_999.0), "9999999.0");
        assert_eq!(java_double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(java_double(f64::NAN), "NaN");
        assert_eq!(java_double(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(java_double(-0.0), "-0.0");
    }

    #[test]
    fn table_like_spark() {
        let schema = RowSchema::new(vec![
            Field::new("window_start", Kind::Timestamp),
            Field::new("userId", Kind::Str),
            Field::new("totalValue", Kind::Float),
            Field::new("n", Kind::Int),
        ]);
        let t = crate::time::parse_timestamp("2025-07-27 10:08:05").unwrap();
        let rows = vec![
            Row::new(vec![Value::Timestamp(t), Value::from("user3"), Value::Float(1125.65), Value::Int(3)]),
            Row::new(vec![
                Value::Timestamp(t + 5_000),
                Value::from("a very long user name here"),
                Value::Null,
                Value::Int(-12),
            ]),
        ];
        let expected = "\
+-------------------+--------------------+----------+---+
|       window_start|              userId|totalValue|  n|
+-------------------+--------------------+----------+---+
|2025-07-27 10:08:05|               user3|   1125.65|  3|
|2025-07-27 10:08:10|a very long user ...|      null|-12|
+-------------------+--------------------+----------+---+
";
        assert_eq!(show(&schema, &rows, &ShowOptions::default()), expected);

        let untruncated = show(&schema, &rows[1..], &ShowOptions { num_rows: 20, truncate: 0 });
        assert!(
            untruncated.contains("|2025-07-27 10:08:10|a very long user name here|null      |-12|"),
            "{untruncated}"
        );

        let top1 = show(&schema, &rows, &ShowOptions { num_rows: 1, truncate: 20 });
        assert!(top1.ends_with("+\nonly showing top 1 row\n"), "{top1}");
        assert!(!top1.contains("-12"));

        let tiny = show(&schema, &rows[1..], &ShowOptions { num_rows: 5, truncate: 2 });
        assert!(tiny.contains("| a |"), "{tiny}");
        assert_eq!(spark_string(&Value::Bytes(vec![1u8, 0xab].into())), "[01 AB]");
        assert_eq!(cell_text(&Value::from("a\nb")), "a\\nb");
    }

    #[test]
    fn console_banner() {
        let schema = RowSchema::new(vec![Field::new("action", Kind::Str)]);
        let out = console_batch(0, &schema, &[], &ShowOptions::default());
        assert_eq!(
            out,
            "-------------------------------------------\nBatch: 0\n-------------------------------------------\n\
             +------+\n|action|\n+------+\n+------+\n\n"
        );
    }
}
