//! Scale-out of jobs with aggregates: the records that travel between the two stages.
//!
//! When several instances run a job whose queries aggregate, each query's aggregate runs in a
//! second stage behind an internal topic, `<job>-repartition`:
//!
//! 1. **Shuffle** ([`crate::Pipeline::new_shuffle`]): each instance reads its share of the
//!    source partitions, decodes, runs every query's steps up to its aggregate and sends each
//!    row, with its query, source partition and offset and its event time, to the repartition
//!    partition of its group key (the key's virtual node modulo the partition count; queries
//!    that rank across all groups, `top_n`, send every row to partition 0). At each checkpoint
//!    it also sends every repartition partition a [`ShuffleRecord::Mark`] per source
//!    partition it read: the largest event time so far. Rows, marks and the source offsets
//!    commit in one Kafka transaction. This stage keeps no keyed state.
//! 2. **Merge** ([`crate::Pipeline::new_merge`]): the instances share the repartition
//!    partitions in a second group. Each repartition partition has its own pipeline (its own
//!    watermark, tracked per source partition from the rows and marks it carries, and its own
//!    aggregate state), checkpointed on its own in a location all instances share, so a
//!    partition's state moves with it when the group gives it to another instance.
//!
//! Because a repartition partition is one ordered stream, a mark always follows the rows of
//! the epoch it closes: a row is judged late only against progress its own source partition
//! had made before it (as in a single instance), never because of how the partitions were
//! interleaved.

use crate::checkpoint::SerValue;
use serde::{Deserialize, Serialize};
use sluice_formats::{Row, Value};

/// First byte of every shuffle record value.
const MAGIC: u8 = 0x5a;
/// Version of the encoding (second byte).
const VERSION: u8 = 1;

/// A record of the repartition topic.
#[derive(Debug, Clone, PartialEq)]
pub enum ShuffleRecord {
    /// A row for a query's aggregate.
    Row {
        /// Index of the query in the plan.
        query: u16,
        /// Where the source record came from (for dead letters and the watermark).
        source_partition: i32,
        /// The source record's offset.
        source_offset: i64,
        /// Its event time (ms).
        event_time: i64,
        /// The row as the query's aggregate takes it (after the steps before it).
        row: Row,
    },
    /// Progress of a source partition: the largest event time read from it so far
    /// (`i64::MAX`: the input of that partition ended, as with `--finish`).
    Mark {
        /// The source partition.
        source_partition: i32,
        /// Largest event time (ms).
        max_event_time: i64,
    },
}

#[derive(Serialize, Deserialize)]
enum Wire {
    Row { q: u16, p: i32, o: i64, t: i64, v: Vec<SerValue> },
    Mark { p: i32, t: i64 },
}

impl ShuffleRecord {
    /// Appends the record's bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let wire = match self {
            ShuffleRecord::Row { query, source_partition, source_offset, event_time, row } => Wire::Row {
                q: *query,
                p: *source_partition,
                o: *source_offset,
                t: *event_time,
                v: row.values.iter().map(SerValue::from).collect(),
            },
            ShuffleRecord::Mark { source_partition, max_event_time } => {
                Wire::Mark { p: *source_partition, t: *max_event_time }
            }
        };
        out.push(MAGIC);
        out.push(VERSION);
        // Serializing plain data into a Vec cannot fail.
        out.extend_from_slice(&postcard::to_allocvec(&wire).unwrap_or_default());
    }

    /// Reads a record written by [`ShuffleRecord::encode`].
    pub fn decode(bytes: &[u8]) -> Result<ShuffleRecord, String> {
        match bytes {
            [MAGIC, VERSION, rest @ ..] => {
                let wire: Wire =
                    postcard::from_bytes(rest).map_err(|e| format!("a damaged repartition record: {e}"))?;
                Ok(match wire {
                    Wire::Row { q, p, o, t, v } => ShuffleRecord::Row {
                        query: q,
                        source_partition: p,
                        source_offset: o,
                        event_time: t,
                        row: Row::new(v.into_iter().map(Value::from).collect()),
                    },
                    Wire::Mark { p, t } => ShuffleRecord::Mark { source_partition: p, max_event_time: t },
                })
            }
            [MAGIC, v, ..] => Err(format!(
                "a repartition record of format version {v}; this sluice reads version {VERSION} (run one sluice \
                 version across the instances of a job)"
            )),
            _ => Err("not a repartition record (another producer wrote to the job's repartition topic)".to_string()),
        }
    }
}

/// A shuffle record read back from the repartition topic.
#[derive(Debug, Clone, PartialEq)]
pub struct ShuffledIn {
    /// Repartition partition.
    pub partition: i32,
    /// Offset within it.
    pub offset: i64,
    /// Kafka timestamp of the repartition record.
    pub timestamp: i64,
    /// The record.
    pub record: ShuffleRecord,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_bytes_are_named() {
        let row = ShuffleRecord::Row {
            query: 1,
            source_partition: 3,
            source_offset: 99,
            event_time: -5,
            row: Row::new(vec![Value::from("u1"), Value::Float(2.5), Value::Null, Value::Timestamp(7)]),
        };
        let mark = ShuffleRecord::Mark { source_partition: 2, max_event_time: i64::MAX };
        for r in [row, mark] {
            let mut buf = Vec::new();
            r.encode(&mut buf);
            assert_eq!(ShuffleRecord::decode(&buf), Ok(r.clone()));
            assert!(ShuffleRecord::decode(&buf[..buf.len() - 1]).unwrap_err().contains("damaged"));
        }
        assert!(ShuffleRecord::decode(b"{\"json\": 1}").unwrap_err().contains("not a repartition record"));
        assert!(ShuffleRecord::decode(&[MAGIC, 9, 0]).unwrap_err().contains("version 9"));
        assert!(ShuffleRecord::decode(&[]).is_err());
    }
}
