//! Seed 002: the customer-transactions CSV (1,200 rows, 23 columns by default).
//!
//! Customers are drawn once (demographics, city, premium status, tenure) and then buy
//! repeatedly, some far more than others. Money is computed in whole cents so the totals are
//! exact: `total_amount = quantity × unit_price`, `final_amount = total_amount − discount`.
//! Transactions fall in the 90 days before the `as_of` date and are numbered (`record_id`) in
//! time order.

use crate::civil::{days_from_civil, format_date, format_datetime};
use crate::rng::Rng;
use sluice_formats::{Field, Kind, Row, RowSchema, Value};
use std::collections::HashSet;

/// The rows seed 002 generates.
pub const DEFAULT_ROWS: usize = 1200;

/// The columns of seed 002, in its order.
pub const COLUMNS: [(&str, Kind); 23] = [
    ("customer_id", Kind::Str),
    ("transaction_id", Kind::Str),
    ("transaction_date", Kind::Str),
    ("first_name", Kind::Str),
    ("last_name", Kind::Str),
    ("email", Kind::Str),
    ("phone", Kind::Str),
    ("age", Kind::Int),
    ("gender", Kind::Str),
    ("city", Kind::Str),
    ("state", Kind::Str),
    ("zip_code", Kind::Str),
    ("product_category", Kind::Str),
    ("quantity", Kind::Int),
    ("unit_price", Kind::Float),
    ("total_amount", Kind::Float),
    ("discount", Kind::Float),
    ("final_amount", Kind::Float),
    ("payment_method", Kind::Str),
    ("is_premium_customer", Kind::Bool),
    ("customer_since", Kind::Str),
    ("loyalty_points", Kind::Int),
    ("record_id", Kind::Int),
];

const FEMALE_NAMES: [&str; 20] = [
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Lisa",
    "Nancy",
    "Sandra",
    "Ashley",
    "Priya",
    "Emily",
    "Maria",
    "Aisha",
    "Sofia",
    "Olivia",
];
const MALE_NAMES: [&str; 20] = [
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas", "Carlos", "Daniel",
    "Matthew", "Anthony", "Mark", "Wei", "Andrew", "Joshua", "Kevin", "Brian", "Hiroshi",
];
const LAST_NAMES: [&str; 40] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Nguyen",
    "Patel",
    "Kim",
    "Chen",
];
const EMAIL_DOMAINS: [(&str, f64); 5] =
    [("gmail.com", 0.45), ("yahoo.com", 0.18), ("outlook.com", 0.17), ("icloud.com", 0.12), ("example.com", 0.08)];

/// City, state, zip prefix (3 digits), area code, relative weight (about the population).
const CITIES: [(&str, &str, &str, u32, f64); 16] = [
    ("New York", "NY", "100", 212, 8.3),
    ("Los Angeles", "CA", "900", 213, 3.9),
    ("Chicago", "IL", "606", 312, 2.7),
    ("Houston", "TX", "770", 713, 2.3),
    ("Phoenix", "AZ", "850", 602, 1.6),
    ("Philadelphia", "PA", "191", 215, 1.6),
    ("San Antonio", "TX", "782", 210, 1.5),
    ("San Diego", "CA", "921", 619, 1.4),
    ("Dallas", "TX", "752", 214, 1.3),
    ("Austin", "TX", "787", 512, 1.0),
    ("Seattle", "WA", "981", 206, 0.75),
    ("Denver", "CO", "802", 303, 0.72),
    ("Boston", "MA", "021", 617, 0.68),
    ("Miami", "FL", "331", 305, 0.45),
    ("Atlanta", "GA", "303", 404, 0.5),
    ("Portland", "OR", "972", 503, 0.65),
];
const GENDERS: [(&str, f64); 3] = [("Female", 0.49), ("Male", 0.49), ("Non-binary", 0.02)];

/// Category, share of transactions, lowest and highest unit price in dollars.
const CATEGORIES: [(&str, f64, f64, f64); 9] = [
    ("Electronics", 0.18, 25.0, 1500.0),
    ("Clothing", 0.20, 10.0, 200.0),
    ("Home & Garden", 0.12, 15.0, 500.0),
    ("Sports & Outdoors", 0.10, 10.0, 400.0),
    ("Books", 0.10, 5.0, 60.0),
    ("Beauty", 0.09, 5.0, 120.0),
    ("Toys & Games", 0.07, 8.0, 150.0),
    ("Groceries", 0.09, 2.0, 80.0),
    ("Automotive", 0.05, 10.0, 600.0),
];
const QUANTITY_WEIGHTS: [f64; 5] = [0.55, 0.22, 0.11, 0.07, 0.05];
const PAYMENT_METHODS: [(&str, f64); 7] = [
    ("Credit Card", 0.38),
    ("Debit Card", 0.24),
    ("PayPal", 0.16),
    ("Apple Pay", 0.08),
    ("Google Pay", 0.06),
    ("Cash", 0.05),
    ("Bank Transfer", 0.03),
];
const DISCOUNT_PERCENTS: [(i64, f64); 5] = [(5, 0.35), (10, 0.35), (15, 0.15), (20, 0.10), (25, 0.05)];

/// What to generate.
#[derive(Debug, Clone)]
pub struct TransactionsSpec {
    /// Number of rows.
    pub rows: usize,
    /// RNG seed.
    pub seed: u64,
    /// The last day transactions may fall on (days since 1970-01-01); they span the 90 days
    /// before it.
    pub as_of_days: i64,
}

impl TransactionsSpec {
    /// Seed 002's 1,200 rows ending on `as_of_days`.
    pub fn new(seed: u64, as_of_days: i64) -> Self {
        TransactionsSpec { rows: DEFAULT_ROWS, seed, as_of_days }
    }
}

/// The 23 columns of seed 002.
pub fn schema() -> RowSchema {
    RowSchema::new(COLUMNS.iter().map(|(n, k)| Field::new(*n, *k)).collect())
}

struct Customer {
    id: String,
    first: &'static str,
    last: &'static str,
    email: String,
    phone: String,
    age: i64,
    gender: &'static str,
    city: usize,
    zip: String,
    premium: bool,
    since_days: i64,
    loyalty_points: i64,
    activity: f64,
}

fn weights<T>(items: &[(T, f64)]) -> Vec<f64> {
    items.iter().map(|(_, w)| *w).collect()
}

fn money(cents: i64) -> Value {
    Value::Float(cents as f64 / 100.0)
}

fn make_customer(rng: &mut Rng, index: usize, as_of_days: i64) -> Customer {
    let gender = GENDERS[rng.weighted(&weights(&GENDERS))].0;
    let first = match gender {
        "Female" => *rng.choose(&FEMALE_NAMES),
        "Male" => *rng.choose(&MALE_NAMES),
        _ => {
            let names = if rng.chance(0.5) { &FEMALE_NAMES } else { &MALE_NAMES };
            *rng.choose(names)
        }
    };
    let last = *rng.choose(&LAST_NAMES);
    let domain = EMAIL_DOMAINS[rng.weighted(&weights(&EMAIL_DOMAINS))].0;
    let email = if rng.chance(0.6) {
        format!("{}.{}{}@{domain}", first.to_lowercase(), last.to_lowercase(), rng.int_in(1, 99))
    } else {
        format!("{}.{}@{domain}", first.to_lowercase(), last.to_lowercase())
    };
    let city_weights: Vec<f64> = CITIES.iter().map(|c| c.4).collect();
    let city = rng.weighted(&city_weights);
    let (_, _, zip_prefix, area, _) = CITIES[city];
    let phone = format!("({area}) {}-{:04}", rng.int_in(200, 999), rng.int_in(0, 9999));
    let zip = format!("{zip_prefix}{:02}", rng.int_in(1, 99));
    let age = (rng.normal(41.0, 13.0).round() as i64).clamp(18, 80);
    let premium = rng.chance(0.25);
    // Customers joined between 2018-01-01 and a month before as_of.
    let earliest = days_from_civil(2018, 1, 1);
    let since_days = rng.int_in(earliest, (as_of_days - 30).max(earliest));
    let tenure_years = (as_of_days - since_days) as f64 / 365.25;
    let points = tenure_years * rng.float_in(80.0, 220.0) + if premium { rng.float_in(500.0, 2500.0) } else { 0.0 };
    // A few heavy buyers, many occasional ones.
    let activity = 0.05 + rng.unit().powi(3) * if premium { 2.0 } else { 1.0 };
    Customer {
        id: format!("CUST_{}", 10_001 + index),
        first,
        last,
        email,
        phone,
        age,
        gender,
        city,
        zip,
        premium,
        since_days,
        loyalty_points: points.round() as i64,
        activity,
    }
}

/// Unit price in cents: log-uniform in the category's range (cheap items are common), half
/// of them with the usual `.99` ending.
fn unit_price_cents(rng: &mut Rng, lo: f64, hi: f64) -> i64 {
    let dollars = (rng.float_in(lo.ln(), hi.ln())).exp();
    let cents = (dollars * 100.0).round() as i64;
    if rng.chance(0.5) { (cents / 100) * 100 + 99 } else { cents.max(1) }
}

/// Generates the table: rows in time order, `record_id` 1..=rows.
pub fn generate(spec: &TransactionsSpec) -> Vec<Row> {
    let mut rng = Rng::seeded(spec.seed);
    let customer_count = (spec.rows * 2 / 5).max(1);
    let customers: Vec<Customer> = (0..customer_count).map(|i| make_customer(&mut rng, i, spec.as_of_days)).collect();
    let activity: Vec<f64> = customers.iter().map(|c| c.activity).collect();
    let category_weights: Vec<f64> = CATEGORIES.iter().map(|c| c.1).collect();
    let discount_weights = weights(&DISCOUNT_PERCENTS);
    let payment_weights = weights(&PAYMENT_METHODS);
    let mut used_ids = HashSet::with_capacity(spec.rows);

    let mut drafts: Vec<(i64, Row)> = Vec::with_capacity(spec.rows);
    for _ in 0..spec.rows {
        let c = &customers[rng.weighted(&activity)];
        let day = spec.as_of_days - rng.int_in(0, 89);
        // Shopping peaks in the afternoon and evening.
        let hour = (rng.normal(15.0, 4.0).round() as i64).clamp(0, 23);
        let second_of_day = hour * 3600 + rng.int_in(0, 3599);
        let at_ms = (day * 86_400 + second_of_day) * 1000;
        let transaction_id = loop {
            let id = rng.int_in(100_000, 999_999);
            if used_ids.insert(id) || used_ids.len() >= 900_000 {
                break id;
            }
        };
        let (category, _, lo, hi) = CATEGORIES[rng.weighted(&category_weights)];
        let quantity = rng.weighted(&QUANTITY_WEIGHTS) as i64 + 1;
        let unit = unit_price_cents(&mut rng, lo, hi);
        let total = quantity * unit;
        let discount = if rng.chance(if c.premium { 0.45 } else { 0.2 }) {
            let pct = DISCOUNT_PERCENTS[rng.weighted(&discount_weights)].0;
            (total * pct + 50) / 100
        } else {
            0
        };
        let (city, state, ..) = CITIES[c.city];
        let row = Row::new(vec![
            Value::from(c.id.as_str()),
            Value::from(format!("TXN_{transaction_id}")),
            Value::from(format_datetime(at_ms, ' ')),
            Value::from(c.first),
            Value::from(c.last),
            Value::from(c.email.as_str()),
            Value::from(c.phone.as_str()),
            Value::Int(c.age),
            Value::from(c.gender),
            Value::from(city),
            Value::from(state),
            Value::from(c.zip.as_str()),
            Value::from(category),
            Value::Int(quantity),
            money(unit),
            money(total),
            money(discount),
            money(total - discount),
            Value::from(PAYMENT_METHODS[rng.weighted(&payment_weights)].0),
            Value::Bool(c.premium),
            Value::from(format_date(c.since_days)),
            Value::Int(c.loyalty_points),
            Value::Null, // record_id, set below once rows are in time order
        ]);
        drafts.push((at_ms, row));
    }
    drafts.sort_by_key(|(at, _)| *at);
    drafts
        .into_iter()
        .enumerate()
        .map(|(i, (_, mut row))| {
            row.values[22] = Value::Int(i as i64 + 1);
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::civil::parse_date;

    fn cents(v: &Value) -> i64 {
        (v.as_f64().unwrap() * 100.0).round() as i64
    }

    #[test]
    fn shape_totals_and_order() {
        let as_of = parse_date("2025-07-27").unwrap();
        let rows = generate(&TransactionsSpec::new(11, as_of));
        assert_eq!(rows.len(), 1200);
        let mut txn_ids = HashSet::new();
        let mut customers = HashSet::new();
        let mut last_date = String::new();
        let mut discounted = 0;
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r.values.len(), 23);
            let (q, u, t, d, f) =
                (r.get(13).as_i64().unwrap(), cents(r.get(14)), cents(r.get(15)), cents(r.get(16)), cents(r.get(17)));
            assert!((1..=5).contains(&q));
            assert_eq!(t, q * u, "row {i}: total != quantity × unit_price");
            assert_eq!(f, t - d, "row {i}: final != total − discount");
            assert!(d >= 0 && d <= t / 4 + 1);
            if d > 0 {
                discounted += 1;
            }
            assert_eq!(r.get(22).as_i64(), Some(i as i64 + 1));
            let date = r.get(2).as_str().unwrap().to_string();
            assert!(date >= last_date, "not in time order at row {i}");
            assert!(date.as_str() <= "2025-07-27 23:59:59" && date.as_str() >= "2025-04-29", "{date}");
            last_date = date;
            assert!(txn_ids.insert(r.get(1).as_str().unwrap().to_string()), "duplicate transaction id");
            customers.insert(r.get(0).as_str().unwrap().to_string());
            assert!((18..=80).contains(&r.get(7).as_i64().unwrap()));
            assert!(r.get(0).as_str().unwrap().starts_with("CUST_1"));
            assert!(r.get(5).as_str().unwrap().contains('@'));
            assert!(r.get(20).as_str().unwrap() < "2025-07-27");
        }
        // Repeat customers, but not a handful: realistic spread.
        assert!(customers.len() > 200 && customers.len() < 480, "{} customers", customers.len());
        assert!(discounted > 150 && discounted < 600, "{discounted} discounted rows");
    }

    #[test]
    fn seeded_output_is_reproducible() {
        let as_of = parse_date("2025-07-27").unwrap();
        let spec = TransactionsSpec { rows: 50, seed: 5, as_of_days: as_of };
        assert_eq!(generate(&spec), generate(&spec));
        assert_ne!(generate(&spec), generate(&TransactionsSpec { seed: 6, ..spec.clone() }));
    }
}
