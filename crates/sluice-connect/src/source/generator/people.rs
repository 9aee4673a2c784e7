//! Seed 003: `{name, surname, amount, delta_t, flag}` for the partitioned-topic example.
//!
//! name and surname from the seed's four each, amount uniform 0–1000 and delta_t uniform 0–10
//! (two decimals), flag 0 or 1 with weights 0.8 / 0.2.

use super::Generator;
use crate::rng::{Rng, round2};
use sluice_formats::{Field, Kind, Row, RowSchema, Value};

/// First names of seed 003.
pub const FIRST_NAMES: [&str; 4] = ["John", "Andy", "Joe", "Alice"];
/// Last names of seed 003.
pub const LAST_NAMES: [&str; 4] = ["Johnson", "Smith", "Jones", "Millers"];
/// Weights of flag 0 and flag 1.
pub const FLAG_WEIGHTS: [f64; 2] = [0.8, 0.2];

/// Generates people records.
#[derive(Debug, Clone)]
pub struct People {
    rng: Rng,
    schema: RowSchema,
}

impl People {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        People { rng: Rng::seeded(seed), schema: Self::schema() }
    }

    /// `name: string, surname: string, amount: float, delta_t: float, flag: int`.
    pub fn schema() -> RowSchema {
        RowSchema::new(vec![
            Field::new("name", Kind::Str),
            Field::new("surname", Kind::Str),
            Field::new("amount", Kind::Float),
            Field::new("delta_t", Kind::Float),
            Field::new("flag", Kind::Int),
        ])
    }
}

impl Generator for People {
    fn schema(&self) -> &RowSchema {
        &self.schema
    }

    fn next_row(&mut self, _now_ms: i64, row: &mut Row) {
        row.values.clear();
        row.values.push(Value::from(*self.rng.choose(&FIRST_NAMES)));
        row.values.push(Value::from(*self.rng.choose(&LAST_NAMES)));
        row.values.push(Value::Float(round2(self.rng.unit() * 1000.0)));
        row.values.push(Value::Float(round2(self.rng.unit() * 10.0)));
        row.values.push(Value::Int(self.rng.weighted(&FLAG_WEIGHTS) as i64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_flag_share() {
        let mut g = People::new(3);
        let mut row = Row::default();
        let n = 20_000;
        let mut flags = 0;
        for _ in 0..n {
            g.next_row(0, &mut row);
            assert!(FIRST_NAMES.contains(&row.get(0).as_str().unwrap()));
            assert!(LAST_NAMES.contains(&row.get(1).as_str().unwrap()));
            let amount = row.get(2).as_f64().unwrap();
            let dt = row.get(3).as_f64().unwrap();
            assert!((0.0..=1000.0).contains(&amount) && (0.0..=10.0).contains(&dt));
            flags += row.get(4).as_i64().unwrap();
        }
        let share = flags as f64 / n as f64;
        assert!((0.18..0.22).contains(&share), "flag=1 share {share}, seed weight is 0.2");
    }
}
