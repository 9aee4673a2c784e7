//! Seed 000: `UserEvent(userId, action, value)` clickstream events.
//!
//! 10 users `user0`..`user9`, 5 actions, values uniform in 0–500 with two decimals; the key is
//! the userId so every user's events land on one partition.

use super::Generator;
use crate::rng::Rng;
use sluice_formats::{Field, Kind, Row, RowSchema, Value};

/// The users of seed 000.
pub const USERS: [&str; 10] =
    ["user0", "user1", "user2", "user3", "user4", "user5", "user6", "user7", "user8", "user9"];
/// The actions of seed 000.
pub const ACTIONS: [&str; 5] = ["view", "click", "purchase", "signup", "logout"];

/// Generates user events.
#[derive(Debug, Clone)]
pub struct UserEvents {
    rng: Rng,
    schema: RowSchema,
    /// [`USERS`] and [`ACTIONS`] as cells, built once: a row's cells are cloned from them.
    users: Vec<Value>,
    actions: Vec<Value>,
}

impl UserEvents {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        UserEvents {
            rng: Rng::seeded(seed),
            schema: Self::schema(),
            users: USERS.iter().map(|u| Value::from(*u)).collect(),
            actions: ACTIONS.iter().map(|a| Value::from(*a)).collect(),
        }
    }

    /// `userId: string, action: string, value: float`.
    pub fn schema() -> RowSchema {
        RowSchema::new(vec![
            Field::new("userId", Kind::Str),
            Field::new("action", Kind::Str),
            Field::new("value", Kind::Float),
        ])
    }
}

impl Generator for UserEvents {
    fn schema(&self) -> &RowSchema {
        &self.schema
    }

    fn key_column(&self) -> Option<usize> {
        Some(0)
    }

    fn uses_clock(&self) -> bool {
        false
    }

    fn next_row(&mut self, _now_ms: i64, row: &mut Row) {
        // The hot path of `--rate 0`: the cells are overwritten in place (short strings are
        // inline, so a clone is a copy) rather than the row rebuilt.
        if row.values.len() != 3 {
            row.values.clear();
            row.values.resize(3, Value::Null);
        }
        let user = self.rng.choose(&self.users);
        let action = self.rng.choose(&self.actions);
        set_cell(&mut row.values[0], user);
        set_cell(&mut row.values[1], action);
        // Whole cents in 0.00..=500.00, so the value has exactly two decimals.
        row.values[2] = Value::Float(self.rng.int_in(0, 50_000) as f64 / 100.0);
    }
}

/// `*cell = value.clone()`, reusing the cell's string when both are strings (the common case:
/// no drop and rebuild of the enum).
#[inline]
fn set_cell(cell: &mut Value, value: &Value) {
    match (cell, value) {
        (Value::Str(dst), Value::Str(src)) => dst.clone_from(src),
        (cell, value) => *cell = value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_in_the_seed_ranges_and_cover_them() {
        let mut g = UserEvents::new(1);
        let mut row = Row::default();
        let mut users = std::collections::BTreeSet::new();
        let mut actions = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            g.next_row(0, &mut row);
            let v = row.get(2).as_f64().unwrap();
            assert!((0.0..=500.0).contains(&v));
            assert_eq!((v * 100.0).round() / 100.0, v, "{v} has more than two decimals");
            users.insert(row.get(0).as_str().unwrap().to_string());
            actions.insert(row.get(1).as_str().unwrap().to_string());
        }
        assert_eq!(users.len(), 10);
        assert_eq!(actions.len(), 5);
    }

    #[test]
    fn same_seed_same_rows() {
        let (mut a, mut b) = (UserEvents::new(9), UserEvents::new(9));
        let (mut ra, mut rb) = (Row::default(), Row::default());
        for _ in 0..50 {
            a.next_row(0, &mut ra);
            b.next_row(0, &mut rb);
            assert_eq!(ra, rb);
        }
    }
}
