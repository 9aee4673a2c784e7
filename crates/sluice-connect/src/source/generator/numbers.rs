//! Seed 001: a random integer 1–100 (`MyEvent.number`), produced every 5 seconds by default.

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

    /// `number: int`.
    pub fn schema() -> RowSchema {
        RowSchema::new(vec![Field::new("number", Kind::Int)])
    }
}

impl Generator for Numbers {
    fn schema(&self) -> &RowSchema {
        &self.schema
    }

    fn next_row(&mut self, _now_ms: i64, row: &mut Row) {
        row.values.clear();
        row.values.push(Value::Int(self.rng.int_in(1, 100)));
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
            g.next_row(0, &mut row);
            let n = row.get(0).as_i64().unwrap();
            assert!((1..=100).contains(&n));
            seen[n as usize] = true;
        }
        assert!(seen[1..].iter().all(|s| *s));
    }
}
