//! Seed 004's dimension table `campaigns.csv`: one row per campaign id the view logs use
//! (10, 20, ..., 140), with the ad network it runs on (the output is partitioned by
//! `network_id`), a name, the advertiser, the channel and a daily budget.

use super::views::CAMPAIGN_IDS;
use crate::rng::Rng;
use sluice_formats::{Field, Kind, Row, RowSchema, Value};

const THEMES: [&str; 14] = [
    "Summer Sale",
    "Back to School",
    "Black Friday",
    "Holiday Gifts",
    "Spring Collection",
    "New Year Deals",
    "Brand Awareness",
    "Retargeting",
    "App Install",
    "Flash Sale",
    "Loyalty Rewards",
    "Product Launch",
    "Clearance",
    "Free Shipping Week",
];
const ADVERTISERS: [&str; 8] =
    ["Acme Retail", "Globex", "Initech", "Umbrella Foods", "Stark Outdoor", "Wayne Travel", "Hooli", "Soylent Beauty"];
const CHANNELS: [&str; 4] = ["display", "video", "social", "search"];
/// Ad networks the campaigns run on (`network_id` 1..=5).
pub const NETWORKS: i64 = 5;

/// `campaign_id: int, network_id: int, name: string, advertiser: string, channel: string,
/// daily_budget: float`.
pub fn schema() -> RowSchema {
    RowSchema::new(vec![
        Field::new("campaign_id", Kind::Int),
        Field::new("network_id", Kind::Int),
        Field::new("name", Kind::Str),
        Field::new("advertiser", Kind::Str),
        Field::new("channel", Kind::Str),
        Field::new("daily_budget", Kind::Float),
    ])
}

/// One row per campaign id, in id order.
pub fn generate(seed: u64) -> Vec<Row> {
    let mut rng = Rng::seeded(seed);
    CAMPAIGN_IDS
        .iter()
        .enumerate()
        .map(|(i, id)| {
            // Budgets of 50–5000 dollars in steps of 50.
            let budget = rng.int_in(1, 100) * 50;
            Row::new(vec![
                Value::Int(*id),
                Value::Int(rng.int_in(1, NETWORKS)),
                Value::from(THEMES[i]),
                Value::from(*rng.choose(&ADVERTISERS)),
                Value::from(*rng.choose(&CHANNELS)),
                Value::Float(budget as f64),
            ])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_view_campaign() {
        let rows = generate(1);
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0).as_i64().unwrap()).collect();
        assert_eq!(ids, CAMPAIGN_IDS.to_vec());
        for r in &rows {
            assert_eq!(r.values.len(), schema().len());
            assert!((1..=NETWORKS).contains(&r.get(1).as_i64().unwrap()));
            assert!((50.0..=5000.0).contains(&r.get(5).as_f64().unwrap()));
        }
        assert_eq!(generate(1), rows);
    }
}
