"""The seed jobs in Spark Structured Streaming, for bench/stream/compare.py.

Runs in bench/stream/.venv (pyspark) as its own process, so that its CPU time is its own:

    .venv/bin/python spark/spark_jobs.py --bootstrap HOST:PORT --job user-events \
        --mode throughput --topic T --sink-prefix P --workdir DIR [--runs 2]
    .venv/bin/python spark/spark_jobs.py ... --job transactions --mode latency --duration 60

Jobs (as jobs/user-events.toml and jobs/transactions.toml, with Kafka sinks writing JSON):
  user-events   UserEvent decoded from protobuf; count per action (complete mode); top 5 users by
                round(sum(value), 2) (complete mode). Two streaming queries, as in the seed, so
                Spark reads the topic once per query.
  transactions  JSON; 10 s windows sliding 5 s on timestamp_seconds(producer_timestamp), 30 s
                watermark; count, round(sum), round(avg), exact distinct customers
                (size(collect_set): Spark has no streaming count(DISTINCT)), min/max batch_number.
                Throughput: update mode, as the seed. Latency: append mode (one final row per window
                when the watermark passes its end) and the default trigger (as soon as possible).

Modes:
  throughput  trigger(availableNow=True) over the pre-filled topic, --runs times in one JVM (run 0
              has a fresh JVM, later runs are warm), each with its own checkpoint and sink topics
              `<sink-prefix>-r<run>-<query>`. Per run prints the wall time from starting the
              queries to their end, the CPU seconds of the JVM and of this Python process over
              that time, and each query's input rows; before that, the session's start time and
              the CPU seconds it took (JVM and Python).
  latency     `<sink-prefix>-<query>` from the topic's latest offsets; prints a READY line once
              the first batch ran, then runs for --duration seconds.

Output: one JSON object per line, prefixed `RESULT `, on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parents[1]
DESC = REPO / "crates" / "sluice-formats" / "proto" / "user_event.desc"
TX_SCHEMA = ("customer_id string, transaction_id string, final_amount double, batch_number bigint, "
             "batch_position bigint, producer_timestamp double, producer_timestamp_str string")
USER_EVENT = StructType([StructField("userId", StringType()), StructField("action", StringType()),
                         StructField("value", DoubleType())])


def emit(**kw):
    print("RESULT " + json.dumps(kw), flush=True)


def session(workdir: Path) -> SparkSession:
    jars = sorted(str(p) for p in (BENCH / ".spark-jars").glob("*.jar"))
    b = (SparkSession.builder.master("local[2]").appName("sluice-bench-stream")
         .config("spark.jars", ",".join(jars))
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.shuffle.partitions", "2")  # local[2]; the default 200 only adds overhead
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.local.dir", str(workdir / "spark-local"))
         .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "2g")))
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def decoder(spark: SparkSession):
    """from_protobuf if spark-protobuf is on the classpath, else the DynamicMessage Java UDF."""
    if list((BENCH / ".spark-jars").glob("spark-protobuf_*.jar")):
        from pyspark.sql.protobuf.functions import from_protobuf
        return "from_protobuf", lambda c: from_protobuf(c, "protobuf.UserEvent", descFilePath=str(DESC))
    spark.udf.registerJavaFunction("decode_user_event", "sluice.bench.UserEventDecoder", USER_EVENT)
    return "DynamicMessage UDF", lambda c: F.call_function("decode_user_event", c)


def source(spark: SparkSession, bootstrap: str, topic: str, starting: str):
    return (spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", bootstrap)
            .option("subscribe", topic)
            .option("startingOffsets", starting)
            .option("failOnDataLoss", "false")
            .load())


def user_events_queries(spark, raw, decode):
    ev = raw.select(decode(F.col("value")).alias("e")).select("e.*")
    per_action = ev.groupBy("action").agg(F.count(F.lit(1)).alias("count"))
    top = (ev.groupBy("userId").agg(F.round(F.sum("value"), 2).alias("totalValue"))
           .orderBy(F.desc("totalValue")).limit(5))
    return [("events_per_action", per_action, "action", "complete"),
            ("top_users", top, "userId", "complete")]


def transactions_query(raw, mode: str):
    tx = (raw.select(F.from_json(F.col("value").cast("string"), TX_SCHEMA).alias("t")).select("t.*")
          .withColumn("event_time", F.timestamp_seconds(F.col("producer_timestamp"))))
    agg = (tx.withWatermark("event_time", "30 seconds")
           .groupBy(F.window("event_time", "10 seconds", "5 seconds"))
           .agg(F.count(F.lit(1)).alias("record_count"),
                F.round(F.sum("final_amount"), 2).alias("total_transaction_value"),
                F.round(F.avg("final_amount"), 2).alias("avg_transaction_value"),
                F.size(F.collect_set("customer_id")).alias("unique_customers"),
                F.min("batch_number").alias("min_batch"),
                F.max("batch_number").alias("max_batch")))
    out = agg.select(F.col("window.start").alias("window_start"), F.col("window.end").alias("window_end"),
                     "record_count", "total_transaction_value", "avg_transaction_value", "unique_customers",
                     "min_batch", "max_batch")
    return [("sliding_window_counts", out, None, "update" if mode == "throughput" else "append")]


def start(df, name: str, key: str | None, output_mode: str, bootstrap: str, topic: str, checkpoint: Path,
          trigger: dict):
    cols = [F.to_json(F.struct(*[F.col(c) for c in df.columns])).alias("value")]
    if key:
        cols.insert(0, F.col(key).cast("string").alias("key"))
    w = (df.select(*cols).writeStream.format("kafka").queryName(name)
         .option("kafka.bootstrap.servers", bootstrap)
         .option("topic", topic)
         .option("kafka.linger.ms", "0")
         .option("checkpointLocation", str(checkpoint))
         .outputMode(output_mode))
    if trigger:  # none: Spark's default, the next micro-batch as soon as the last one ends
        w = w.trigger(**trigger)
    return w.start()


def jvm_cpu_seconds(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--job", choices=["user-events", "transactions"], required=True)
    ap.add_argument("--mode", choices=["throughput", "latency"], required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--sink-prefix", required=True)
    ap.add_argument("--workdir", required=True, type=Path)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--duration", type=float, default=60)
    a = ap.parse_args()

    t0 = time.monotonic()
    spark = session(a.workdir)
    jvm_pid = int(spark._jvm.java.lang.ProcessHandle.current().pid())
    decoder_name = None
    if a.job == "user-events":
        decoder_name, decode = decoder(spark)
    # the JVM's CPU time from its start: the cost of a fresh session (the JVM is not this
    # process's waited-for child, so the caller's rusage does not include it)
    emit(event="session", seconds=time.monotonic() - t0, jvm_pid=jvm_pid, spark=spark.version,
         decoder=decoder_name, jvm_cpu=jvm_cpu_seconds(jvm_pid), py_cpu=self_cpu_seconds())

    def queries(raw):
        return user_events_queries(spark, raw, decode) if a.job == "user-events" else transactions_query(raw, a.mode)

    if a.mode == "throughput":
        for run in range(a.runs):
            raw = source(spark, a.bootstrap, a.topic, "earliest")
            cpu0, py0, w0 = jvm_cpu_seconds(jvm_pid), self_cpu_seconds(), time.monotonic()
            started = [(name, start(df, name, key, om, a.bootstrap, f"{a.sink_prefix}-r{run}-{name}",
                                    a.workdir / f"spark-ckpt-r{run}-{name}", {"availableNow": True}))
                       for name, df, key, om in queries(raw)]
            for _, q in started:
                q.awaitTermination()
            wall = time.monotonic() - w0
            cpu, py = jvm_cpu_seconds(jvm_pid) - cpu0, self_cpu_seconds() - py0
            rows = {name: sum(p["numInputRows"] for p in q.recentProgress) for name, q in started}
            for name, q in started:
                if q.exception() is not None:
                    raise RuntimeError(f"query {name} failed: {q.exception()}")
            emit(event="run", run=run, wall=wall, jvm_cpu=cpu, py_cpu=py, input_rows=rows,
                 sinks={name: f"{a.sink_prefix}-r{run}-{name}" for name, _ in started})
    else:
        raw = source(spark, a.bootstrap, a.topic, "latest")
        started = [(name, start(df, name, key, om, a.bootstrap, f"{a.sink_prefix}-{name}",
                                a.workdir / f"spark-ckpt-latency-{name}", {}))
                   for name, df, key, om in queries(raw)]
        while any(not q.recentProgress for _, q in started):  # the first batch resolved the offsets
            time.sleep(0.1)
        emit(event="ready")
        cpu0, w0 = jvm_cpu_seconds(jvm_pid), time.monotonic()
        time.sleep(a.duration)
        emit(event="latency_done", wall=time.monotonic() - w0, jvm_cpu=jvm_cpu_seconds(jvm_pid) - cpu0,
             batches={name: len(q.recentProgress) for name, q in started})
        for _, q in started:
            q.stop()
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
