//! The staging protocol: crashes at every point of an epoch's life, recovery, idempotence, and
//! calls out of order.

use crate::common::scenario::{self, Sinks, batch};
use crate::common::{FailingPublish, local, published, read, staged};
use sluice_connect::sink::json::JsonSink;
use sluice_connect::sink::parquet::{ParquetOptions, ParquetSink};
use sluice_connect::sink::storage::S3Options;
use sluice_connect::sink::{Recovery, Sink, SinkError, Transactional};
use sluice_formats::{Field, Kind, Row, RowSchema, Value};

fn schema() -> RowSchema {
    RowSchema::new(vec![Field::new("n", Kind::Int)])
}

fn rows(from: i64, to: i64) -> Vec<Row> {
    (from..to).map(|i| Row::new(vec![Value::Int(i)])).collect()
}

fn json_sink(dir: &std::path::Path) -> JsonSink {
    JsonSink::new("q", &schema(), local(dir), None)
}

/// Every `n` in the published JSON files, in file order.
fn ns(dir: &std::path::Path) -> Vec<i64> {
    let mut out = Vec::new();
    for f in published(dir) {
        for line in read(dir, &f).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            out.push(v["n"].as_i64().unwrap());
        }
    }
    out
}

/// Epochs 1 and 2 committed, epoch 3 written and pre-committed, then a crash (the sink is
/// dropped without commit(3)).
async fn crash_with_epoch_3_staged(dir: &std::path::Path) {
    let mut s = json_sink(dir);
    s.recover(None).await.unwrap();
    for e in 1..=2u64 {
        s.write(e, batch(0, e - 1, rows(e as i64 * 10, e as i64 * 10 + 3))).await.unwrap();
        s.pre_commit(e).await.unwrap();
        s.commit(e).await.unwrap();
    }
    s.write(3, batch(0, 2, rows(30, 33))).await.unwrap();
    s.pre_commit(3).await.unwrap();
    drop(s);
}

#[tokio::test]
async fn staged_epoch_of_a_lost_checkpoint_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    crash_with_epoch_3_staged(dir.path()).await;
    assert_eq!(published(dir.path()), ["part-000001-00000.jsonl", "part-000002-00000.jsonl"]);
    assert_eq!(
        staged(dir.path()),
        ["_sluice_staging/epoch-000003.manifest.json", "_sluice_staging/epoch-000003/00002-part-000003-00000.jsonl"]
    );

    // Checkpoint 3 never made it: the runtime restores checkpoint 2.
    let mut s = json_sink(dir.path());
    let r = s.recover(Some(2)).await.unwrap();
    assert_eq!(r, Recovery { published: vec![], discarded: vec![(3, 1)] });
    assert_eq!(ns(dir.path()), [10, 11, 12, 20, 21, 22], "nothing of epoch 3 is visible");
    assert!(staged(dir.path()).is_empty(), "{:?}", staged(dir.path()));

    // Epoch 3 is recomputed (maybe differently) and committed: it appears once.
    s.write(3, batch(0, 2, rows(30, 32))).await.unwrap();
    s.pre_commit(3).await.unwrap();
    s.commit(3).await.unwrap();
    assert_eq!(ns(dir.path()), [10, 11, 12, 20, 21, 22, 30, 31]);
}

#[tokio::test]
async fn staged_epoch_of_a_written_checkpoint_is_published_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    crash_with_epoch_3_staged(dir.path()).await;

    // Checkpoint 3 was written before the crash: its output must appear, once.
    let mut s = json_sink(dir.path());
    let r = s.recover(Some(3)).await.unwrap();
    assert_eq!(r, Recovery { published: vec![(3, 1)], discarded: vec![] });
    assert_eq!(ns(dir.path()), [10, 11, 12, 20, 21, 22, 30, 31, 32]);
    assert!(staged(dir.path()).is_empty());

    // Recovering again (another crash right after), or committing 3 again: no duplicates.
    let mut s = json_sink(dir.path());
    assert_eq!(s.recover(Some(3)).await.unwrap(), Recovery::default());
    s.commit(3).await.unwrap();
    s.commit(3).await.unwrap();
    assert_eq!(ns(dir.path()), [10, 11, 12, 20, 21, 22, 30, 31, 32]);

    // And the job goes on with epoch 4.
    s.write(4, batch(0, 3, rows(40, 41))).await.unwrap();
    s.pre_commit(4).await.unwrap();
    s.commit(4).await.unwrap();
    assert_eq!(ns(dir.path()), [10, 11, 12, 20, 21, 22, 30, 31, 32, 40]);
}

#[tokio::test]
async fn crash_before_pre_commit_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = json_sink(dir.path());
    s.recover(None).await.unwrap();
    s.write(1, batch(0, 0, rows(0, 2))).await.unwrap();
    s.pre_commit(1).await.unwrap();
    s.commit(1).await.unwrap();
    // Epoch 2: written (file open, no manifest), then crash.
    s.write(2, batch(0, 1, rows(2, 4))).await.unwrap();
    drop(s);
    assert_eq!(staged(dir.path()), ["_sluice_staging/epoch-000002/00001-part-000002-00000.jsonl"]);

    let mut s = json_sink(dir.path());
    assert_eq!(s.recover(Some(1)).await.unwrap().discarded, vec![(2, 1)]);
    assert_eq!(ns(dir.path()), [0, 1]);
    assert!(staged(dir.path()).is_empty());
    // A fresh start (no checkpoint at all) deletes every staged epoch, and no published file.
    let mut s = json_sink(dir.path());
    s.recover(None).await.unwrap();
    s.write(2, batch(0, 1, rows(7, 8))).await.unwrap();
    drop(s);
    let mut s = json_sink(dir.path());
    assert_eq!(s.recover(None).await.unwrap().discarded, vec![(2, 1)]);
    assert_eq!(ns(dir.path()), [0, 1]);
}

#[tokio::test]
async fn a_commit_cut_short_is_finished_by_recovery_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let schema = scenario::views_schema();
    let options = ParquetOptions {
        partition_by: vec!["network_id".into(), "minute_timestamp".into()],
        ..ParquetOptions::default()
    };
    // Epoch 1 has 3 partition files; the 2nd publish fails, as if the process died there.
    let storage = FailingPublish::new(local(dir.path()), 2);
    let mut s = ParquetSink::new("views", &schema, storage.clone(), options.clone()).unwrap();
    s.recover(None).await.unwrap();
    s.write(1, batch(0, 0, scenario::views_rows(1))).await.unwrap();
    s.pre_commit(1).await.unwrap();
    let err = s.commit(1).await.unwrap_err().to_string();
    assert!(err.contains("injected failure") && err.contains("parquet sink of query `views`"), "{err}");
    drop(s);
    assert_eq!(published(dir.path()).len(), 1, "{:?}", published(dir.path()));
    let partial: Vec<(String, Vec<u8>)> =
        published(dir.path()).into_iter().map(|f| (f.clone(), std::fs::read(dir.path().join(&f)).unwrap())).collect();

    let mut s = ParquetSink::new("views", &schema, local(dir.path()), options).unwrap();
    let r = s.recover(Some(1)).await.unwrap();
    assert_eq!(r.published, vec![(1, 3)]);
    let files = published(dir.path());
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(staged(dir.path()).is_empty());
    // The file published before the failure is still the same file, not a second copy.
    let (name, bytes) = &partial[0];
    assert_eq!(&std::fs::read(dir.path().join(name)).unwrap(), bytes);
    let total: usize = files.iter().map(|f| crate::parquet::read_rows(&dir.path().join(f)).len()).sum();
    assert_eq!(total, 6);
}

#[tokio::test]
async fn the_whole_workload_survives_a_crash_at_each_point() {
    // An uninterrupted run, then the same with a crash: after pre_commit(2) without a
    // checkpoint (resume from 1), and after checkpoint 2 with epoch 3 half written (resume from
    // 2). The published files must be byte for byte the same.
    async fn run(dir: &std::path::Path, crash: Option<bool>) {
        let root = dir.display().to_string();
        let mut s = Sinks::open(&root, S3Options::default(), &[]).unwrap();
        s.recover(None).await.unwrap();
        s.epoch(1).await.unwrap();
        let resume_from = match crash {
            None => {
                s.epoch(2).await.unwrap();
                s.epoch(3).await.unwrap();
                return;
            }
            Some(checkpointed) => {
                s.write(2, 5).await.unwrap();
                s.pre_commit(2).await.unwrap();
                if checkpointed {
                    s.write(3, 3).await.unwrap();
                    2
                } else {
                    1
                }
            }
        };
        drop(s);
        let mut s = Sinks::open(&root, S3Options::default(), &[]).unwrap();
        s.recover(Some(resume_from)).await.unwrap();
        for e in resume_from + 1..=3 {
            s.epoch(e).await.unwrap();
        }
    }
    let clean = tempfile::tempdir().unwrap();
    run(clean.path(), None).await;
    let expected = crate::common::files(clean.path());
    assert_eq!(expected.len(), 9 + 3 + 3 + 3 + 3, "{expected:?}");
    for checkpointed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), Some(checkpointed)).await;
        assert_eq!(crate::common::files(dir.path()), expected, "checkpointed={checkpointed}");
        for f in &expected {
            assert_eq!(
                std::fs::read(dir.path().join(f)).unwrap(),
                std::fs::read(clean.path().join(f)).unwrap(),
                "{f} differs (checkpointed={checkpointed})"
            );
        }
    }
}

#[tokio::test]
async fn calls_out_of_order_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = json_sink(dir.path());
    let e = s.write(1, batch(0, 0, rows(0, 1))).await.unwrap_err();
    assert!(matches!(e, SinkError::Protocol { .. }) && e.to_string().contains("call recover"), "{e}");

    s.recover(Some(4)).await.unwrap();
    let e = s.write(4, batch(0, 0, rows(0, 1))).await.unwrap_err().to_string();
    assert!(e.contains("write to epoch 4 after pre_commit(4)") && e.contains("epoch 5 or later"), "{e}");

    s.write(6, batch(0, 0, rows(0, 1))).await.unwrap();
    let e = s.write(5, batch(0, 1, rows(0, 1))).await.unwrap_err().to_string();
    assert!(e.contains("must not go back"), "{e}");
    let e = s.commit(6).await.unwrap_err().to_string();
    assert!(e.contains("call pre_commit(6) before writing the checkpoint"), "{e}");
    s.pre_commit(6).await.unwrap();
    s.commit(6).await.unwrap();
    assert_eq!(published(dir.path()), ["part-000006-00000.jsonl"]);
}

#[tokio::test]
async fn epochs_overlap_while_a_checkpoint_is_in_flight() {
    // Output of epoch 3 arrives after pre_commit(2) and before commit(2); commit(3) publishes
    // everything up to 3, and an epoch with no output needs no file.
    let dir = tempfile::tempdir().unwrap();
    let mut s = json_sink(dir.path());
    s.recover(Some(1)).await.unwrap();
    s.write(2, batch(0, 0, rows(0, 2))).await.unwrap();
    s.pre_commit(2).await.unwrap();
    s.write(3, batch(0, 1, rows(2, 3))).await.unwrap();
    s.commit(2).await.unwrap();
    assert_eq!(ns(dir.path()), [0, 1]);
    s.pre_commit(3).await.unwrap();
    s.pre_commit(4).await.unwrap();
    s.commit(4).await.unwrap();
    assert_eq!(ns(dir.path()), [0, 1, 2]);
    assert_eq!(published(dir.path()), ["part-000002-00000.jsonl", "part-000003-00000.jsonl"]);
}

#[tokio::test]
async fn files_roll_and_scale_out_instances_keep_apart() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = JsonSink::new("q", &schema(), local(dir.path()), Some("a".into())).with_roll_bytes(1);
    let mut b = JsonSink::new("q", &schema(), local(dir.path()), Some("b".into()));
    a.recover(None).await.unwrap();
    b.recover(None).await.unwrap();
    for i in 0..3 {
        a.write(1, batch(0, i, rows(i as i64 * 100, i as i64 * 100 + 1))).await.unwrap();
    }
    b.write(1, batch(0, 0, rows(7, 8))).await.unwrap();
    b.pre_commit(1).await.unwrap();
    // b crashes here; a's recovery must not touch b's staged epoch.
    drop(b);
    a.pre_commit(1).await.unwrap();
    a.commit(1).await.unwrap();
    let mut a2 = JsonSink::new("q", &schema(), local(dir.path()), Some("a".into()));
    assert_eq!(a2.recover(Some(1)).await.unwrap(), Recovery::default());
    assert_eq!(
        published(dir.path()),
        ["part-a-000001-00000.jsonl", "part-a-000001-00001.jsonl", "part-a-000001-00002.jsonl"]
    );
    let mut b2 = JsonSink::new("q", &schema(), local(dir.path()), Some("b".into()));
    assert_eq!(b2.recover(Some(1)).await.unwrap().published, vec![(1, 1)]);
    assert!(published(dir.path()).contains(&"part-b-000001-00000.jsonl".to_string()));
    assert!(staged(dir.path()).is_empty());
}

/// Writers of one sink directory (instances of a scaled-out job, or one job's overlapping
/// epochs): each stages files under its own `_sluice_staging/instance=.../epoch-...`, publishes
/// them and deletes what it is done with, and a delete drops the directories it leaves empty,
/// which may include the shared `_sluice_staging` and `out`; every writer's directory and file
/// creation must survive the others' clean-up (a scale-out test once failed with "cannot create
/// ...: No such file or directory"). Without the retry this failed in most runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_survive_each_others_directory_clean_up() {
    use bytes::Bytes;
    let dir = tempfile::tempdir().unwrap();
    let storage = local(dir.path());
    let writer = |instance: u32| {
        let storage = storage.clone();
        tokio::spawn(async move {
            for epoch in 0..1000 {
                let key = format!("_sluice_staging/instance=i{instance}/epoch-{epoch:06}/part.jsonl");
                let mut up = storage.create(&key).await?;
                up.write(Bytes::from_static(b"{}\n")).await?;
                up.finish().await?;
                let published = format!("out/i{instance}/part-{epoch}.jsonl");
                storage.publish(&key, &published).await?;
                let marker = format!("_sluice_staging/instance=i{instance}/marker-{epoch}");
                storage.put(&marker, Bytes::from_static(b"x")).await?;
                storage.delete(&marker).await?;
                storage.delete(&published).await?;
            }
            Ok::<(), sluice_connect::sink::storage::StorageError>(())
        })
    };
    let writers: Vec<_> = (0..4).map(writer).collect();
    for w in writers {
        w.await.unwrap().unwrap();
    }
}
