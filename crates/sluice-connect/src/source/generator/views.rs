//! Seed 004: ad view logs `{view_id, start_timestamp, end_timestamp, banner_id, campaign_id}`.
//!
//! view_id a UUID4, start = now (whole seconds, ISO-8601 without zone, UTC), end = start +
//! 1–300 s, banner_id 1–100000, campaign_id one of 10, 20, ..., 140 (the ids `sluice generate
//! campaigns` writes).

use super::Generator;
use crate::civil::format_datetime;
use crate::rng::Rng;
use sluice_formats::{Field, Kind, Row, RowSchema, Value};

/// The campaign ids views refer to: 10 to 140 in steps of 10.
pub const CAMPAIGN_IDS: [i64; 14] = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140];

/// Generates view logs.
#[derive(Debug, Clone)]
pub struct Views {
    rng: Rng,
    schema: RowSchema,
}

impl Views {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Views { rng: Rng::seeded(seed), schema: Self::schema() }
    }

    /// `view_id: string, start_timestamp: string, end_timestamp: string, banner_id: int,
    /// campaign_id: int` (timestamps as text, as the seed's JSON has them).
    pub fn schema() -> RowSchema {
        RowSchema::new(vec![
            Field::new("view_id", Kind::Str),
            Field::new("start_timestamp", Kind::Str),
            Field::new("end_timestamp", Kind::Str),
            Field::new("banner_id", Kind::Int),
            Field::new("campaign_id", Kind::Int),
        ])
    }
}

impl Generator for Views {
    fn schema(&self) -> &RowSchema {
        &self.schema
    }

    fn next_row(&mut self, now_ms: i64, row: &mut Row) {
        row.values.clear();
        let start = now_ms.div_euclid(1000) * 1000;
        let end = start + self.rng.int_in(1, 300) * 1000;
        row.values.push(Value::from(self.rng.uuid4()));
        row.values.push(Value::from(format_datetime(start, 'T')));
        row.values.push(Value::from(format_datetime(end, 'T')));
        row.values.push(Value::Int(self.rng.int_in(1, 100_000)));
        row.values.push(Value::Int(*self.rng.choose(&CAMPAIGN_IDS)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_shape() {
        let mut g = Views::new(4);
        let mut row = Row::default();
        // 2025-07-27T10:08:09.750Z
        let now = 1_753_610_889_750;
        for _ in 0..1000 {
            g.next_row(now, &mut row);
            assert_eq!(row.get(0).as_str().unwrap().len(), 36);
            assert_eq!(row.get(1).as_str().unwrap(), "2025-07-27T10:08:09");
            let end = row.get(2).as_str().unwrap();
            assert!(end.as_bytes()[10] == b'T' && end.len() == 19, "{end}");
            assert!(end > "2025-07-27T10:08:09" && end <= "2025-07-27T10:13:09", "{end}");
            assert!((1..=100_000).contains(&row.get(3).as_i64().unwrap()));
            assert!(CAMPAIGN_IDS.contains(&row.get(4).as_i64().unwrap()));
        }
    }
}
