//! The seed jobs under `jobs/`: each parses, builds, and turns a small hand-made input into
//! the output in `tests/golden/<job>.txt` (rendered as the console sink would print it).
//! The expected numbers were worked out by hand; they are written next to each input below.

use crate::util::*;
use sluice_formats::{Row, RowSchema, Value};
use sluice_stream::plan::{OptionValue, SinkKind};
use sluice_stream::show::{ShowOptions, console_batch};
use sluice_stream::{JobPlan, Output, Pipeline, SourceRecord, StaticTable, Tables, jobfile};

fn load(job: &str) -> JobPlan {
    let path = repo_root().join("jobs").join(format!("{job}.toml"));
    jobfile::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn console_options(plan: &JobPlan, q: usize) -> ShowOptions {
    let mut opts = ShowOptions::default();
    for sink in plan.queries[q].sinks.iter().filter(|s| s.kind == SinkKind::Console) {
        if let Some(OptionValue::Int(n)) = sink.options.get("num_rows") {
            opts.num_rows = *n as usize;
        }
        if let Some(OptionValue::Int(t)) = sink.options.get("truncate") {
            opts.truncate = *t as usize;
        }
    }
    opts
}

fn render(plan: &JobPlan, p: &Pipeline, outputs: &[Output]) -> String {
    let mut text = String::new();
    for o in outputs {
        match o {
            Output::Results(b) => {
                let name = p.query_name(b.query).unwrap_or("?");
                text.push_str(&format!("query {name}\n"));
                let schema = p.result_schema(b.query).cloned().unwrap_or_default();
                text.push_str(&console_batch(b.batch, &schema, &b.rows, &console_options(plan, b.query)));
            }
            Output::DeadLetter(d) => text.push_str(&format!(
                "dead letter from {} (partition {}, offset {}): {}\n\n",
                d.query.as_deref().unwrap_or("the source"),
                d.partition,
                d.offset,
                d.reason
            )),
            Output::Shuffle { .. } => text.push_str("shuffle record (a single pipeline sends none)\n"),
        }
    }
    text
}

enum Step {
    Batch(Vec<SourceRecord>, i64),
    Tick(i64),
    Finish,
}

fn run(job: &str, input: RowSchema, tables: Tables, steps: Vec<Step>) -> String {
    let plan = load(job);
    let mut p = Pipeline::new(&plan, input, &tables).unwrap_or_else(|e| panic!("{e}"));
    let mut outputs = Vec::new();
    for s in steps {
        match s {
            Step::Batch(records, now) => p.process_batch(&records, now),
            Step::Tick(now) => p.handle_tick(now),
            Step::Finish => p.finish(i64::MAX),
        }
        outputs.extend(drain(&mut p));
    }
    render(&plan, &p, &outputs)
}

#[test]
fn every_job_file_parses() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo_root().join("jobs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            jobfile::load(&path).unwrap_or_else(|e| panic!("{e}"));
            seen += 1;
        }
    }
    assert!(seen >= 5, "expected the five seed jobs, found {seen}");
}

#[test]
fn user_events() {
    // The protobuf UserEvent message, as its descriptor decodes.
    let input = schema("userId string, action string, value double");
    let e = |o: i64, user: &str, action: &str, value: f64| {
        // Keyed by userId: the partition follows the user.
        let part = user.as_bytes()[4] as i32 % 2;
        rec(part, o, 1_000 + o, vec![Value::from(user), Value::from(action), Value::Float(value)])
    };
    let steps = vec![
        Step::Batch(
            vec![
                e(0, "user3", "view", 221.45),
                e(1, "user1", "click", 18.92),
                e(2, "user5", "purchase", 412.63),
                e(3, "user9", "signup", 289.12),
                e(4, "user1", "logout", 12.55),
                e(5, "user3", "purchase", 300.00),
            ],
            1_000,
        ),
        // Batch 0: click 1, logout 1, purchase 2, signup 1, view 1;
        // totals user3 521.45, user5 412.63, user9 289.12, user1 31.47.
        Step::Tick(5_000),
        Step::Batch(
            vec![
                e(6, "user2", "click", 45.10),
                e(7, "user6", "view", 120.00),
                e(8, "user1", "purchase", 480.50),
                e(9, "user5", "view", 99.99),
                e(10, "user7", "click", 5.25),
                e(11, "user3", "click", 10.00),
            ],
            6_000,
        ),
        // Batch 1: click 4, logout 1, purchase 3, signup 1, view 3; top 5: user3 531.45,
        // user5 512.62, user1 511.97, user9 289.12, user6 120.0 (user2 45.1, user7 5.25 out).
        Step::Tick(10_000),
    ];
    check_golden("user-events.txt", &run("user-events", input, Tables::new(), steps));
}

#[test]
fn numbers() {
    // The registry's MyEvent message: one integer.
    let input = schema("number bigint");
    let n = |o: i64, v: i64| rec(0, o, 0, vec![Value::Int(v)]);
    let steps = vec![
        // prime: 1 no, 2 yes, 9 no, 17 yes; sqrt 1.0, 1.414..., 3.0, 4.123...; square 1, 4, 81, 289
        Step::Batch(vec![n(0, 1), n(1, 2), n(2, 9), n(3, 17)], 0),
        // prime: 25 no, 97 yes, 100 no; sqrt 5.0, 9.848..., 10.0; square 625, 9409, 10000
        Step::Batch(vec![n(4, 25), n(5, 97), n(6, 100)], 5_000),
    ];
    check_golden("numbers.txt", &run("numbers", input, Tables::new(), steps));
}

#[test]
fn transactions() {
    let plan = load("transactions");
    let input = plan.source.format.declared_schema().unwrap().clone();
    let base = at(10, 8, 0) / 1000; // epoch seconds of 10:08:00
    let t = |o: i64, customer: &str, amount: f64, batch: i64, position: i64, second: i64| {
        let secs = (base + second) as f64;
        rec(
            0,
            o,
            0,
            vec![
                Value::from(customer),
                Value::from(format!("TXN_{o}")),
                Value::Float(amount),
                Value::Int(batch),
                Value::Int(position),
                Value::Float(secs),
                Value::from(format!("10:08:{second:02}")),
            ],
        )
    };
    let steps = vec![
        Step::Batch(
            vec![
                t(0, "CUST_1", 100.00, 1, 1, 5),
                t(1, "CUST_2", 250.50, 1, 2, 6),
                t(2, "CUST_1", 75.25, 1, 3, 7),
                t(3, "CUST_3", 10.00, 1, 4, 8),
            ],
            1_000,
        ),
        // Batch 0: windows [10:08:00, 10:08:10) and [10:08:05, 10:08:15) both hold the 4
        // records: count 4, total 435.75, average 108.9375 → 108.94, 3 customers, batch 1..1.
        Step::Tick(5_000),
        Step::Batch(
            vec![
                t(4, "CUST_2", 20.00, 2, 1, 15),
                t(5, "CUST_4", 30.00, 2, 2, 16),
                t(6, "CUST_4", 40.00, 2, 3, 17),
                t(7, "CUST_1", 50.00, 2, 4, 18),
            ],
            6_000,
        ),
        // Batch 1: only the windows holding the new records: [:10, :20) and [:15, :25), each
        // count 4, total 140.0, average 35.0, 3 customers, batch 2..2.
        Step::Tick(10_000),
        Step::Batch(
            vec![
                // 10:08:55 moves the watermark to 10:08:25, 10:08:56 to 10:08:26: every window
                // ending by then closes (unchanged since the last trigger, so nothing to emit).
                t(8, "CUST_5", 5.00, 3, 1, 55),
                t(9, "CUST_2", 6.00, 3, 2, 56),
                // 10:08:12 belongs to [:05, :15) and [:10, :20), both closed: a dead letter.
                t(10, "CUST_9", 999.00, 2, 5, 12),
            ],
            11_000,
        ),
        // Batch 2: [:50, :60) and [:55, :65): count 2, total 11.0, average 5.5, 2 customers.
        Step::Tick(15_000),
        Step::Finish,
    ];
    check_golden("transactions.txt", &run("transactions", input, Tables::new(), steps));
}

#[test]
fn people() {
    let plan = load("people");
    let input = plan.source.format.declared_schema().unwrap().clone();
    let m = |part: i32, o: i64, name: &str, surname: &str, amount: f64, delta_t: f64, flag: i64| {
        rec(
            part,
            o,
            1_000 + o * 250,
            vec![
                Value::from(name),
                Value::from(surname),
                Value::Float(amount),
                Value::Float(delta_t),
                Value::Int(flag),
            ],
        )
    };
    let steps = vec![
        Step::Batch(
            vec![
                m(0, 0, "John", "Smith", 100.50, 1.5, 0),
                m(1, 0, "Alice", "Jones", 20.25, 3.0, 1),
                m(0, 1, "John", "Smith", 49.50, 2.5, 1),
                m(1, 1, "Joe", "Millers", 999.99, 9.99, 0),
            ],
            2_000,
        ),
        // Batch 0: Alice Jones 1, 20.25, 3.0, 1; Joe Millers 1, 999.99, 9.99, 0;
        // John Smith 2, 150.0, 2.0, 1.
        Step::Tick(5_000),
        Step::Batch(vec![m(0, 2, "John", "Smith", 0.01, 0.5, 0), m(1, 2, "Andy", "Johnson", 10.0, 4.0, 1)], 7_000),
        // Batch 1, only the changed people: Andy Johnson 1, 10.0, 4.0, 1; John Smith 3,
        // 150.01, 1.5, 1.
        Step::Tick(10_000),
    ];
    check_golden("people.txt", &run("people", input, Tables::new(), steps));
}

#[test]
fn campaign_views() {
    let plan = load("campaign-views");
    let input = plan.source.format.declared_schema().unwrap().clone();
    let campaigns = StaticTable {
        schema: plan.tables[0].schema.clone().unwrap(),
        rows: vec![
            Row::new(vec![Value::Int(1), Value::Int(10), Value::from("Spring Sale")]),
            Row::new(vec![Value::Int(2), Value::Int(20), Value::from("Back to School")]),
            Row::new(vec![Value::Int(3), Value::Int(10), Value::from("Winter")]),
        ],
    };
    let v = |o: i64, start: i64, end: i64, campaign: i64| {
        rec(
            0,
            o,
            0,
            vec![
                Value::from(format!("v{o}")),
                ts(at(9, 0, 0) + start),
                ts(at(9, 0, 0) + end),
                Value::Int(100 + campaign),
                Value::Int(campaign),
            ],
        )
    };
    let steps = vec![
        Step::Batch(
            vec![
                v(0, 5_000, 35_000, 1),  // 30 s
                v(1, 20_000, 30_000, 1), // 10 s
                v(2, 40_000, 70_000, 2), // 30 s
                v(3, 59_500, 60_000, 4), // 0.5 s, a campaign missing from campaigns.csv
            ],
            0,
        ),
        Step::Batch(
            vec![
                v(4, 65_000, 85_000, 1), // 20 s; watermark 09:00:55
                v(5, 75_000, 77_000, 2), // 2 s; watermark 09:01:05 closes 09:00: campaign 1 avg 20.0 of 2,
                // campaign 2 avg 30.0 of 1, campaign 4 avg 0.5 of 1 with no campaign row (left join).
                v(6, 50_000, 55_000, 3), // 09:00:50, its minute closed: a dead letter
            ],
            0,
        ),
        // End of input: 09:01 closes: campaign 1 avg 20.0 of 1, campaign 2 avg 2.0 of 1.
        Step::Finish,
    ];
    let tables = Tables::from([("campaigns".to_string(), campaigns)]);
    check_golden("campaign-views.txt", &run("campaign-views", input, tables, steps));
}

#[test]
fn build_errors_point_into_the_job_file() {
    // A column that the decoded schema does not have: the error names the file, the line and
    // column of the name inside the expression, and the field.
    let plan = load("transactions");
    let narrower = schema("customer_id string, final_amount double, producer_timestamp double");
    let e = Pipeline::new(&plan, narrower, &Tables::new()).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("jobs/transactions.toml:28:"), "{text}");
    assert!(
        text.contains(
            "query[0].step[0].aggregates[4]: in `min(batch_number) AS min_batch`: unknown column `batch_number`"
        ),
        "{text}"
    );
    let o = e.origin.unwrap();
    assert_eq!((o.line, o.column), (28, 10));
}
