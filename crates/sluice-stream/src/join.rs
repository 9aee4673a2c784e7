//! Joins of the stream with a static table (rows loaded by the caller from CSV or Parquet).
//!
//! The table is indexed once by its join columns; each stream row then costs one hash lookup.
//! The output is the stream row's columns followed by the table's non-key columns (optionally
//! prefixed). A stream row with a `NULL` key matches nothing, as in SQL.

use crate::key::{GroupKey, hash_values, key_eq};
use crate::plan::JoinKind;
use hashbrown::HashTable;
use sluice_formats::{Field, Row, RowSchema, Value};
use std::sync::Arc;

/// A static table: schema and rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StaticTable {
    /// Its columns.
    pub schema: RowSchema,
    /// Its rows.
    pub rows: Vec<Row>,
}

/// A compiled join.
#[derive(Debug, Clone)]
pub(crate) struct JoinOp {
    /// Per distinct key: the indexes of the matching table rows.
    index: HashTable<(u64, GroupKey, Vec<u32>)>,
    rows: Arc<[Row]>,
    stream_cols: Vec<usize>,
    table_out: Vec<usize>,
    kind: JoinKind,
    pub(crate) schema: RowSchema,
}

/// Why a join cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinError {
    pub(crate) message: String,
    pub(crate) fix: Option<String>,
}

impl JoinOp {
    /// Builds a join of rows of `stream` with `table` on `(stream column, table column)` pairs.
    pub(crate) fn new(
        stream: &RowSchema,
        table_name: &str,
        table: &StaticTable,
        on: &[(String, String)],
        kind: JoinKind,
        prefix: Option<&str>,
    ) -> Result<JoinOp, JoinError> {
        let err = |message: String, fix: Option<String>| JoinError { message, fix };
        if on.is_empty() {
            return Err(err("a join needs at least one column pair in `on`".into(), None));
        }
        let mut stream_cols = Vec::new();
        let mut table_cols = Vec::new();
        for (s, t) in on {
            let si = stream.index_of(s).ok_or_else(|| {
                let names: Vec<&str> = stream.fields.iter().map(|f| f.name.as_str()).collect();
                err(format!("unknown stream column `{s}`"), Some(format!("the columns are: {}", names.join(", "))))
            })?;
            let ti = table.schema.index_of(t).ok_or_else(|| {
                let names: Vec<&str> = table.schema.fields.iter().map(|f| f.name.as_str()).collect();
                err(
                    format!("table `{table_name}` has no column `{t}`"),
                    Some(format!("its columns are: {}", names.join(", "))),
                )
            })?;
            let (sk, tk) = (stream.fields[si].kind, table.schema.fields[ti].kind);
            if sk != tk {
                return Err(err(
                    format!("`{s}` is {sk} in the stream but `{t}` is {tk} in table `{table_name}`"),
                    Some(format!("convert one side, e.g. a columns step with `CAST({s} AS {tk}) AS {s}`")),
                ));
            }
            stream_cols.push(si);
            table_cols.push(ti);
        }
        let table_out: Vec<usize> = (0..table.schema.len()).filter(|i| !table_cols.contains(i)).collect();
        let mut fields: Vec<Field> = stream.fields.clone();
        for &i in &table_out {
            let f = &table.schema.fields[i];
            let name = format!("{}{}", prefix.unwrap_or(""), f.name);
            if fields.iter().any(|x| x.name == name) {
                return Err(err(
                    format!("column `{name}` of table `{table_name}` clashes with a stream column"),
                    Some("set `prefix` on the join step (e.g. prefix = \"t_\") or rename the stream column".into()),
                ));
            }
            fields.push(Field::new(name, f.kind));
        }
        let mut index: HashTable<(u64, GroupKey, Vec<u32>)> = HashTable::new();
        for (ri, row) in table.rows.iter().enumerate() {
            let key: Vec<Value> = table_cols.iter().map(|&c| row.get(c).clone()).collect();
            if key.iter().any(Value::is_null) {
                continue;
            }
            let hash = hash_values(key.iter());
            match index.find_mut(hash, |e| e.0 == hash && e.1.matches(&key)) {
                Some(e) => e.2.push(ri as u32),
                None => {
                    index.insert_unique(hash, (hash, GroupKey(key.into()), vec![ri as u32]), |e| e.0);
                }
            }
        }
        Ok(JoinOp {
            index,
            rows: table.rows.clone().into(),
            stream_cols,
            table_out,
            kind,
            schema: RowSchema::new(fields),
        })
    }

    /// The stream columns the join matches on.
    pub(crate) fn stream_columns(&self) -> &[usize] {
        &self.stream_cols
    }

    /// Joins one stream row, appending 0..n result rows.
    pub(crate) fn apply(&self, row: Row, out: &mut Vec<Row>) {
        let mut matches: &[u32] = &[];
        let key_null = self.stream_cols.iter().any(|&c| row.get(c).is_null());
        if !key_null {
            let hash = hash_values(self.stream_cols.iter().map(|&c| row.get(c)));
            if let Some(e) = self
                .index
                .find(hash, |e| e.0 == hash && e.1.0.iter().zip(&self.stream_cols).all(|(k, &c)| key_eq(k, row.get(c))))
            {
                matches = &e.2;
            }
        }
        if matches.is_empty() {
            if self.kind == JoinKind::Left {
                let mut values = row.values;
                values.resize(self.schema.len() - self.table_out.len(), Value::Null);
                values.extend(self.table_out.iter().map(|_| Value::Null));
                out.push(Row::new(values));
            }
            return;
        }
        let (last, rest) = matches.split_last().unwrap_or((&0, &[]));
        for &ri in rest {
            out.push(self.joined(row.clone(), ri));
        }
        out.push(self.joined(row, *last));
    }

    fn joined(&self, row: Row, ri: u32) -> Row {
        let mut values = row.values;
        values.resize(self.schema.len() - self.table_out.len(), Value::Null);
        let t = &self.rows[ri as usize];
        values.extend(self.table_out.iter().map(|&c| t.get(c).clone()));
        Row::new(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_formats::Kind;

    fn campaigns() -> StaticTable {
        StaticTable {
            schema: RowSchema::new(vec![
                Field::new("campaign_id", Kind::Int),
                Field::new("network_id", Kind::Int),
                Field::new("name", Kind::Str),
            ]),
            rows: vec![
                Row::new(vec![Value::Int(1), Value::Int(10), Value::from("spring")]),
                Row::new(vec![Value::Int(2), Value::Int(20), Value::from("summer")]),
                Row::new(vec![Value::Int(2), Value::Int(21), Value::from("summer-b")]),
                Row::new(vec![Value::Null, Value::Int(99), Value::from("orphan")]),
            ],
        }
    }

    fn stream() -> RowSchema {
        RowSchema::new(vec![Field::new("campaign_id", Kind::Int), Field::new("views", Kind::Int)])
    }

    fn on() -> Vec<(String, String)> {
        vec![("campaign_id".into(), "campaign_id".into())]
    }

    #[test]
    fn inner_and_left() {
        let inner = JoinOp::new(&stream(), "campaigns", &campaigns(), &on(), JoinKind::Inner, None).unwrap();
        let names: Vec<&str> = inner.schema.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["campaign_id", "views", "network_id", "name"]);
        let mut out = Vec::new();
        inner.apply(Row::new(vec![Value::Int(1), Value::Int(5)]), &mut out);
        inner.apply(Row::new(vec![Value::Int(2), Value::Int(6)]), &mut out);
        inner.apply(Row::new(vec![Value::Int(3), Value::Int(7)]), &mut out);
        inner.apply(Row::new(vec![Value::Null, Value::Int(8)]), &mut out);
        assert_eq!(
            out,
            vec![
                Row::new(vec![Value::Int(1), Value::Int(5), Value::Int(10), Value::from("spring")]),
                Row::new(vec![Value::Int(2), Value::Int(6), Value::Int(20), Value::from("summer")]),
                Row::new(vec![Value::Int(2), Value::Int(6), Value::Int(21), Value::from("summer-b")]),
            ]
        );
        let left = JoinOp::new(&stream(), "campaigns", &campaigns(), &on(), JoinKind::Left, Some("c_")).unwrap();
        let mut out = Vec::new();
        left.apply(Row::new(vec![Value::Int(3), Value::Int(7)]), &mut out);
        left.apply(Row::new(vec![Value::Null, Value::Int(8)]), &mut out);
        assert_eq!(out[0], Row::new(vec![Value::Int(3), Value::Int(7), Value::Null, Value::Null]));
        assert_eq!(out[1], Row::new(vec![Value::Null, Value::Int(8), Value::Null, Value::Null]));
        assert_eq!(left.schema.fields[3].name, "c_name");
    }

    #[test]
    fn errors() {
        let e = |on: Vec<(String, String)>, s: RowSchema| {
            JoinOp::new(&s, "campaigns", &campaigns(), &on, JoinKind::Inner, None).unwrap_err()
        };
        assert!(e(vec![("cid".into(), "campaign_id".into())], stream()).message.contains("unknown stream column"));
        assert!(e(vec![("campaign_id".into(), "id".into())], stream()).message.contains("has no column `id`"));
        let text = RowSchema::new(vec![Field::new("campaign_id", Kind::Str)]);
        let x = e(on(), text);
        assert!(x.message.contains("is string in the stream but"), "{}", x.message);
        let clash = RowSchema::new(vec![Field::new("campaign_id", Kind::Int), Field::new("name", Kind::Str)]);
        assert!(e(on(), clash).fix.unwrap().contains("prefix"));
        assert!(e(vec![], stream()).message.contains("at least one"));
    }
}
