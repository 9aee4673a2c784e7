//! Seed 001: a random integer 1–100 (`MyEvent.number`) with the time it was drawn
//! (`MyEvent.created_at`), produced every 5 seconds by default.

use super::Generator;
use crate::rng::Rng;
use sluice_formats::{Field, Kind, Row, RowSchema, Value};

/// Generates random numbers.
#[derive(Debug, Clone)]
pub struct Numbers {
    rng: Rng,
    schema: RowSchema,
}

impl Numbers {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Numbers { rng: Rng::seeded(seed), schema: Self::schema() }
    }

    /// `number: int, created_at: timestamp`, as `numbers.MyEvent` in `sluice-formats`'
    /// `my_event.proto`.
    pub fn schema() -> RowSchema {
        RowSchema::new(vec![Field::new("number", Kind::Int), Field::new("created_at", Kind::Timestamp)])
    }
}

impl Generator for Numbers {
    fn schema(&self) -> &RowSchema {
        &self.schema
    }

    fn next_row(&mut self, now_ms: i64, row: &mut Row) {
        row.values.clear();
        row.values.push(Value::Int(self.rng.int_in(1, 100)));
        row.values.push(Value::Timestamp(now_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_cover_one_to_hundred() {
        let mut g = Numbers::new(5);
        let mut row = Row::default();
        let mut seen = [false; 101];
        for _ in 0..5000 {
            g.next_row(1_700_000_000_000, &mut row);
            assert_eq!(row.get(1), &Value::Timestamp(1_700_000_000_000));
            let n = row.get(0).as_i64().unwrap();
            assert!((1..=100).contains(&n));
            seen[n as usize] = true;
        }
        assert!(seen[1..].iter().all(|s| *s));
    }
}
