//! The console sink prints Spark's banner and `show()` table per batch.

use crate::common::scenario::{self, batch, plan};
use sluice_connect::sink::console::{ConsoleOut, ConsoleSink};
use sluice_connect::sink::{Sink, SinkContext, Transactional, build_sink};
use sluice_stream::plan::{OptionValue, SinkKind};
use sluice_stream::show::ShowOptions;
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn banner_and_table_per_batch() {
    let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
    let out = ConsoleOut::Writer(buf.clone());
    let mut s = ConsoleSink::new("top", scenario::users_schema(), ShowOptions { num_rows: 2, truncate: 20 }, out);
    s.recover(None).await.unwrap();
    s.write(1, batch(0, 0, scenario::users_rows(1))).await.unwrap();
    s.write(1, batch(0, 1, vec![])).await.unwrap();
    let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    let bar = "-".repeat(43);
    assert_eq!(
        text,
        format!(
            "{bar}\nBatch: 0\n{bar}\n\
             +------+----------+\n\
             |userId|totalValue|\n\
             +------+----------+\n\
             | user0|     100.0|\n\
             | user1|     112.5|\n\
             +------+----------+\n\
             only showing top 2 rows\n\n\
             {bar}\nBatch: 1\n{bar}\n\
             +------+----------+\n\
             |userId|totalValue|\n\
             +------+----------+\n\
             +------+----------+\n\n"
        )
    );
    // Printed at write time; the epoch calls are no-ops.
    s.pre_commit(1).await.unwrap();
    s.commit(1).await.unwrap();
    assert_eq!(buf.lock().unwrap().len(), text.len());
}

#[tokio::test]
async fn built_from_a_plan_with_its_options() {
    let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut ctx = SinkContext::new("job", "per_action", scenario::actions_schema());
    ctx.console = ConsoleOut::Writer(buf.clone());
    let p = plan(SinkKind::Console, &[("num_rows", OptionValue::Int(1)), ("truncate", OptionValue::Int(0))]);
    let mut s = build_sink(&p, &ctx).unwrap();
    s.recover(None).await.unwrap();
    s.write(1, batch(0, 4, scenario::actions_rows(1))).await.unwrap();
    let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    assert!(text.contains("Batch: 4\n"), "{text}");
    assert!(text.contains("|click |10   |\n"), "left-aligned without truncation: {text}");
    assert!(text.contains("only showing top 1 row\n"), "{text}");
    let e = build_sink(&plan(SinkKind::Console, &[("path", OptionValue::Str("x".into()))]), &ctx).err().unwrap();
    assert!(e.to_string().contains("unknown option for a console sink"), "{e}");
}
