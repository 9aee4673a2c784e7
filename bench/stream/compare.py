"""Side-by-side stream-processing benchmark: sluice's job runtime and Spark Structured Streaming
on the same topics of one sluice broker, in one run.

    bench/stream/setup.sh                                   # once: pyspark, connector jars
    interop/.venv/bin/python bench/stream/compare.py        # defaults below
    UE_EVENTS=1000000 TX_EVENTS=1000000 LATENCY_SECONDS=30 interop/.venv/bin/python bench/stream/compare.py
    ENGINES=spark interop/.venv/bin/python bench/stream/compare.py   # one side only

Settings (environment): UE_EVENTS (3,000,000), TX_EVENTS (3,000,000), RUNS per engine (2),
LATENCY_SECONDS (60), LATENCY_RATE events/s (2,000), LATENCY_SPEEDUP (10), LATENCY_CHECKPOINT
(sluice's checkpoint interval in the latency run, "1 second"), LATENCY_PUBLISH_WITHIN (sluice's
`[checkpoint] publish_within` in the latency run, "20 milliseconds"; empty: not set, only the
interval), ENGINES ("sluice,spark"),
SLUICE_BIN (default: target/release/sluice of this checkout, built if missing), SLUICE_RUN_ARGS
(extra arguments of every `sluice run`, e.g. "-X fetch.queue.backoff.ms=10"; default none).

The broker: `sluice broker` started by interop/kafka_server.py, on the same 2 cores as the
engines (its CPU time per engine run is printed apart, not counted as the engine's).

Input, the same topics for both engines:
  * `bench-user-events` (3 partitions): `sluice produce user-events --count UE_EVENTS --rate 0`
    (protobuf UserEvent, key userId). The expected counts per action and totals per user are
    computed here by reading the topic back and decoding it with the protobuf runtime.
  * `bench-transactions` (3 partitions): seed 002's JSON records, written here with
    confluent-kafka (key customer_id, 1,000 customers, batches of 10 as the seed's producer),
    event time (producer_timestamp) advancing 1 ms every 10 records, i.e. 10,000 events per
    event-time second; the expected window rows are computed while writing.

Throughput: each engine runs each job over the pre-filled topic until it has consumed it all,
RUNS times: sluice with `sluice run JOB --available-now --finish` (one process per run; its
end is the end of the input); Spark with trigger(availableNow=True) (run 0 in a fresh JVM,
later runs in the same, warm JVM). events/s = events / wall seconds of the run; events/s per
core = events / CPU seconds of the engine (sluice: rusage of its process; Spark: CPU time of
the JVM, from /proc, plus the Python driver's over the run; "cold" adds the session start: JVM
start, SparkSession, first run). The broker's CPU seconds over each engine's runs are shown apart
(for Spark, over all its runs together). The table shows the best run of each engine and Spark's cold run.
Every run's sink output is checked against the expected results before any speed is printed:
counts per action and the top 5 users (complete mode: the last value per key / the last
trigger's 5 rows of a one-partition sink topic), and for transactions the last row per window
(update mode) on all columns; unique customers exactly (Spark: size(collect_set(...)), as Spark
has no streaming count(DISTINCT)).

Latency (transactions, append mode: a window's one final row when the watermark passes its
end), one engine after the other on the same topic `bench-transactions-live`: a producer thread
here writes LATENCY_RATE events/s (linger.ms 1) whose event time is the wall clock run
LATENCY_SPEEDUP times faster from the phase's start (so that a window closes every 5 s / SPEEDUP
rather than every 5 s; the watermark delay and windows are the job's). The watermark passes the
end W of a window when an event with event time >= W + 30 s is produced: t_pass(W) is the wall
time of the produce() call of the first such event (the earliest moment any engine could know;
sluice's per-partition watermark needs one on every partition, a few ms later at this rate). A
consumer here reads the engine's sink topic (fetch.wait.max.ms 5) and takes each window row's
arrival time; latency = arrival - t_pass(window_end). Only windows whose t_pass falls in the
LATENCY_SECONDS measured after a warm-up (the engine started, 5 s) count. sluice's Kafka sink is
transactional (one transaction per checkpoint epoch): read_uncommitted consumers see a row when
it is written, read_committed ones when its epoch commits, so both are measured. Spark's Kafka
sink is not transactional (at least once): both see its rows at once. Each window's record
count is checked against what the producer wrote.
"""

from __future__ import annotations

import bisect
import json
import os
import random
import re
import shutil
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "interop"))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from kafka_server import SluiceServer  # noqa: E402

UE_EVENTS = int(os.environ.get("UE_EVENTS", "3000000"))
TX_EVENTS = int(os.environ.get("TX_EVENTS", "3000000"))
RUNS = int(os.environ.get("RUNS", "2"))
LATENCY_SECONDS = float(os.environ.get("LATENCY_SECONDS", "60"))
LATENCY_RATE = int(os.environ.get("LATENCY_RATE", "2000"))
LATENCY_SPEEDUP = float(os.environ.get("LATENCY_SPEEDUP", "10"))
LATENCY_CHECKPOINT = os.environ.get("LATENCY_CHECKPOINT", "1 second")
LATENCY_PUBLISH_WITHIN = os.environ.get("LATENCY_PUBLISH_WITHIN", "20 milliseconds").strip()
WARMUP = 5.0
# extra arguments of every `sluice run`, e.g. "-X fetch.queue.backoff.ms=10"
SLUICE_RUN_ARGS = os.environ.get("SLUICE_RUN_ARGS", "").split()
ENGINES = [e.strip() for e in os.environ.get("ENGINES", "sluice,spark").split(",") if e.strip()]
SPARK_PY = HERE / ".venv" / "bin" / "python"
SPARK_JOBS = HERE / "spark" / "spark_jobs.py"

UE_TOPIC, TX_TOPIC, LIVE_TOPIC = "bench-user-events", "bench-transactions", "bench-transactions-live"
TX_BASE_MS = 1_795_435_200_000  # 2026-11-24 08:00:00 UTC, a multiple of the 5 s slide
TX_PER_MS = 10
CUSTOMERS = [f"CUST_{10001 + i}" for i in range(1000)]
WATERMARK_MS, SIZE_MS, SLIDE_MS = 30_000, 10_000, 5_000


def log(msg: str):
    print(msg, file=sys.stderr, flush=True)


def cpu_of(pid: int) -> float:
    """utime + stime of a live process, seconds."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- timestamps in sink rows ----------------------------------------------------------------

def ts_ms(v) -> int:
    """A result timestamp (JSON text such as 2026-11-24T08:00:05.000Z or 2026-11-24 08:00:05, or
    epoch ms) as epoch milliseconds."""
    if isinstance(v, (int, float)):
        return int(v)
    s = v.strip().replace(" ", "T")
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    d = datetime.fromisoformat(s)
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return round(d.timestamp() * 1000)


# --- topics -----------------------------------------------------------------------------------

def create_topics(bootstrap: str, topics: dict[str, int]):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(t, p, 1) for t, p in topics.items()], operation_timeout=30)
    for t, f in futures.items():
        try:
            f.result(30)
        except Exception as e:  # already there is fine
            if "already exists" not in str(e).lower() and "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets"})
    try:
        md = c.list_topics(topic, timeout=10)
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in md.topics[topic].partitions}
    finally:
        c.close()


def read_topic(bootstrap: str, topic: str, committed: bool = True, timeout: float = 30.0) -> list:
    """Every record of a topic up to its end offsets now, as (partition, offset, key, value)."""
    ends = end_offsets(bootstrap, topic)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-reader", "enable.auto.commit": False,
                  "isolation.level": "read_committed" if committed else "read_uncommitted",
                  "enable.partition.eof": True})
    out = []
    try:
        c.assign([TopicPartition(topic, p, 0) for p, e in ends.items() if e > 0])
        todo = {p for p, e in ends.items() if e > 0}
        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            for m in c.consume(10000, timeout=1.0):
                if m.error():
                    if m.error().code() == -191:  # _PARTITION_EOF
                        todo.discard(m.partition())
                    continue
                out.append((m.partition(), m.offset(), m.key(), m.value()))
                if m.offset() + 1 >= ends[m.partition()]:
                    todo.discard(m.partition())
    finally:
        c.close()
    return out


# --- input ------------------------------------------------------------------------------------

def decode_user_event(b: bytes) -> tuple[str, str, float]:
    """protobuf.UserEvent (userId = 1, action = 2 strings, value = 3 double) from its wire bytes."""
    import struct
    user, action, value, i, n = "", "", 0.0, 0, len(b)
    while i < n:
        tag = b[i]
        i += 1
        if tag in (0x0A, 0x12):
            ln = b[i]
            i += 1
            s = b[i:i + ln].decode()
            i += ln
            if tag == 0x0A:
                user = s
            else:
                action = s
        elif tag == 0x19:
            value = struct.unpack_from("<d", b, i)[0]
            i += 8
        else:
            raise ValueError(f"unexpected tag {tag:#x} in a UserEvent")
    return user, action, value


def fill_user_events(sluice: Path, bootstrap: str) -> dict:
    t0 = time.monotonic()
    subprocess.run([str(sluice), "produce", "user-events", "-b", bootstrap, "--topic", UE_TOPIC,
                    "--count", str(UE_EVENTS), "--rate", "0", "--seed", "7"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    log(f"   {UE_TOPIC}: {UE_EVENTS:,} records produced in {time.monotonic() - t0:.1f}s; decoding them back")
    per_action: dict[str, int] = defaultdict(int)
    per_user: dict[str, float] = defaultdict(float)
    recs = read_topic(bootstrap, UE_TOPIC, timeout=600)
    if len(recs) != UE_EVENTS:
        raise RuntimeError(f"{UE_TOPIC} holds {len(recs)} records, expected {UE_EVENTS}")
    for _, _, _, v in recs:
        u, a, x = decode_user_event(v)
        per_action[a] += 1
        per_user[u] += x
    top = sorted(((round(t, 2), u) for u, t in per_user.items()), reverse=True)[:5]
    return {"per_action": dict(per_action), "top": [(u, t) for t, u in top]}


def windows_of(t_ms: int) -> list[int]:
    """Starts of the 10 s / 5 s sliding windows holding event time t_ms."""
    last = t_ms - t_ms % SLIDE_MS
    return [s for s in (last - SLIDE_MS, last) if s <= t_ms < s + SIZE_MS]


def fill_transactions(bootstrap: str) -> dict:
    """Writes TX_EVENTS seed-002 JSON records; returns the expected row per window start (ms)."""
    t0 = time.monotonic()
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000,
                  "compression.type": "lz4", "queue.buffering.max.messages": 1_000_000, "acks": "all"})
    rng = random.Random(7)
    acc: dict[int, list] = {}
    sec, stamp = None, ""
    for i in range(TX_EVENTS):
        t = TX_BASE_MS + i // TX_PER_MS
        cust = CUSTOMERS[rng.randrange(len(CUSTOMERS))]
        cents = rng.randrange(500, 200_000)
        batch = i // 10 + 1
        if t // 1000 != sec:
            sec = t // 1000
            stamp = datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        value = (f'{{"customer_id":"{cust}","transaction_id":"TXN_{i + 100000}","final_amount":{cents // 100}.'
                 f'{cents % 100:02d},"batch_number":{batch},"batch_position":{i % 10 + 1},'
                 f'"producer_timestamp":{t // 1000}.{t % 1000:03d},"producer_timestamp_str":"{stamp}"}}')
        while True:
            try:
                p.produce(TX_TOPIC, value.encode(), cust.encode())
                break
            except BufferError:
                p.poll(0.05)
        for w in windows_of(t):
            a = acc.get(w)
            if a is None:
                a = acc[w] = [0, 0, set(), batch, batch]
            a[0] += 1
            a[1] += cents
            a[2].add(cust)
            a[4] = batch
        if i % 50_000 == 0:
            p.poll(0)
    if p.flush(120) != 0:
        raise RuntimeError("transactions were not all delivered")
    log(f"   {TX_TOPIC}: {TX_EVENTS:,} records written in {time.monotonic() - t0:.1f}s, {len(acc)} windows")
    return {w: {"record_count": a[0], "total_transaction_value": round(a[1] / 100, 2),
                "avg_transaction_value": round(a[1] / 100 / a[0], 2), "unique_customers": len(a[2]),
                "min_batch": a[3], "max_batch": a[4]} for w, a in acc.items()}


# --- checking sink output ---------------------------------------------------------------------

def check_user_events(bootstrap: str, sink_prefix: str, expected: dict) -> str | None:
    """None when the sinks hold the expected results, else what differs."""
    last: dict[str, int] = {}
    for _, _, _, v in read_topic(bootstrap, f"{sink_prefix}-events_per_action"):
        row = json.loads(v)
        last[row["action"]] = int(row["count"])
    if last != expected["per_action"]:
        return f"events_per_action: got {last}, expected {expected['per_action']}"
    rows = [json.loads(v) for _, _, _, v in read_topic(bootstrap, f"{sink_prefix}-top_users")]
    got = sorted(((r["totalValue"], r["userId"]) for r in rows[-5:]), reverse=True)
    want = [(t, u) for u, t in expected["top"]]
    if len(got) != 5 or any(gu != wu or abs(gt - wt) > 0.011 for (gt, gu), (wt, wu) in zip(got, want)):
        return f"top_users: got {got}, expected {want}"
    return None


def check_transactions(bootstrap: str, sink_prefix: str, expected: dict) -> str | None:
    last: dict[int, dict] = {}
    for _, _, _, v in read_topic(bootstrap, f"{sink_prefix}-sliding_window_counts"):
        row = json.loads(v)
        start = ts_ms(row["window_start"])
        if ts_ms(row["window_end"]) - start != SIZE_MS:
            return f"window {row['window_start']}..{row['window_end']} is not 10 s"
        last[start] = row
    if set(last) != set(expected):
        return f"windows: {len(last)} in the sink, {len(expected)} expected; " \
               f"missing {sorted(set(expected) - set(last))[:3]}, extra {sorted(set(last) - set(expected))[:3]}"
    for w, want in expected.items():
        got = last[w]
        for k, x in want.items():
            y = got.get(k)
            ok = y is not None and (abs(float(y) - x) <= 0.011 if isinstance(x, float) else int(y) == x)
            if not ok:
                return f"window starting {w}: {k} = {y}, expected {x} (row {got})"
    return None


# --- engines ----------------------------------------------------------------------------------

def render_job(template: str, path: Path, **kw) -> Path:
    text = string.Template((HERE / "jobs" / template).read_text()).substitute(repo=REPO, **kw)
    path.write_text(text)
    return path


def run_sluice(sluice: Path, bootstrap: str, job: Path, broker_pid: int, log_path: Path,
               extra: list[str]) -> dict:
    """Runs `sluice run JOB --available-now --finish`; wall and CPU seconds from wait4."""
    b0 = cpu_of(broker_pid)
    t0 = time.monotonic()
    with open(log_path, "ab") as out:
        proc = subprocess.Popen([str(sluice), "run", str(job), "-b", bootstrap, "--quiet", *SLUICE_RUN_ARGS, *extra],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=job.parent)
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        except BaseException:
            os.kill(proc.pid, signal.SIGKILL)
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"sluice run {job.name} exited with {proc.returncode}; see {log_path}:\n"
                           + log_path.read_text(errors="replace")[-2000:])
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "broker_cpu": cpu_of(broker_pid) - b0}


def sluice_can_run(sluice: Path) -> bool:
    p = subprocess.run([str(sluice), "run", "--help"], capture_output=True, text=True)
    return p.returncode == 0 and "--available-now" in p.stdout


def spark_process(args: list[str], log_path: Path) -> subprocess.Popen:
    return subprocess.Popen([str(SPARK_PY), str(SPARK_JOBS), *args], stdout=subprocess.PIPE,
                            stderr=open(log_path, "ab"), stdin=subprocess.DEVNULL, text=True,
                            env=dict(os.environ, PYSPARK_PYTHON=str(SPARK_PY)))


def results_of(proc: subprocess.Popen):
    for line in proc.stdout:
        if line.startswith("RESULT "):
            yield json.loads(line[7:])


def run_spark_throughput(bootstrap: str, job: str, topic: str, workdir: Path, broker_pid: int) -> dict:
    log_path = workdir / f"spark-{job}.log"
    b0 = cpu_of(broker_pid)
    t0 = time.monotonic()
    proc = spark_process(["--bootstrap", bootstrap, "--job", job, "--mode", "throughput", "--topic", topic,
                          "--sink-prefix", f"spark-{job}", "--workdir", str(workdir), "--runs", str(RUNS)],
                         log_path)
    res = list(results_of(proc))
    proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"spark {job} exited with {proc.returncode}; see {log_path}:\n"
                           + log_path.read_text(errors="replace")[-3000:])
    session = next(r for r in res if r["event"] == "session")
    runs = [r for r in res if r["event"] == "run"]
    if not runs:
        raise RuntimeError(f"spark {job} reported no runs; see {log_path}")
    # cold: a fresh process to the end of its first run (session start + run 0)
    r0 = runs[0]
    cold = {"wall": session["seconds"] + r0["wall"],
            "cpu": session["jvm_cpu"] + session["py_cpu"] + r0["jvm_cpu"] + r0["py_cpu"]}
    return {"session": session, "runs": runs, "cold": cold, "broker_cpu": cpu_of(broker_pid) - b0,
            "wall": time.monotonic() - t0}


# --- latency ----------------------------------------------------------------------------------

class LiveProducer(threading.Thread):
    """LATENCY_RATE transactions/s to LIVE_TOPIC; event time runs LATENCY_SPEEDUP x the wall clock
    from the start. Remembers (event time ms, wall time of produce()) of every record."""

    def __init__(self, bootstrap: str):
        super().__init__(daemon=True)
        self.p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1, "acks": "all"})
        self.stop_flag = threading.Event()
        self.event_ms: list[int] = []
        self.wall: list[float] = []
        self.wall0 = time.time()
        self.event0 = int(self.wall0 * 1000)
        self.counts: dict[int, int] = defaultdict(int)
        self.n = 0

    def event_time(self, wall: float) -> int:
        return self.event0 + int((wall - self.wall0) * 1000 * LATENCY_SPEEDUP)

    def run(self):
        rng = random.Random(11)
        tick = 0.005
        per_tick = max(1, round(LATENCY_RATE * tick))
        next_t = time.time()
        while not self.stop_flag.is_set():
            for _ in range(per_tick):
                now = time.time()
                t = self.event_time(now)
                cust = CUSTOMERS[rng.randrange(len(CUSTOMERS))]
                cents = rng.randrange(500, 200_000)
                self.n += 1
                v = (f'{{"customer_id":"{cust}","transaction_id":"LIVE_{self.n}","final_amount":'
                     f'{cents // 100}.{cents % 100:02d},"batch_number":{self.n // 10 + 1},"batch_position":'
                     f'{self.n % 10 + 1},"producer_timestamp":{t // 1000}.{t % 1000:03d},'
                     f'"producer_timestamp_str":"-"}}')
                self.p.produce(LIVE_TOPIC, v.encode(), cust.encode())
                self.event_ms.append(t)
                self.wall.append(now)
                for w in windows_of(t):
                    self.counts[w] += 1
            self.p.poll(0)
            next_t += tick
            d = next_t - time.time()
            if d > 0:
                time.sleep(d)
        self.p.flush(30)

    def t_pass(self, window_end_ms: int) -> float | None:
        """Wall time at which the first event with event time >= window end + watermark was produced."""
        i = bisect.bisect_left(self.event_ms, window_end_ms + WATERMARK_MS)
        return self.wall[i] if i < len(self.event_ms) else None


class SinkWatcher(threading.Thread):
    """Reads a sink topic from its current end; arrival wall time of each window row."""

    def __init__(self, bootstrap: str, topic: str, committed: bool):
        super().__init__(daemon=True)
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-watch-{topic}-{committed}",
                           "isolation.level": "read_committed" if committed else "read_uncommitted",
                           "fetch.wait.max.ms": 5, "fetch.min.bytes": 1, "enable.auto.commit": False,
                           "auto.offset.reset": "earliest"})
        ends = end_offsets(bootstrap, topic)
        self.c.assign([TopicPartition(topic, p, e) for p, e in ends.items()])
        self.stop_flag = threading.Event()
        self.rows: list[tuple[float, dict]] = []

    def run(self):
        while not self.stop_flag.is_set():
            m = self.c.poll(0.05)
            if m is None or m.error():
                continue
            self.rows.append((time.time(), json.loads(m.value())))
        self.c.close()


def latency_stats(prod: LiveProducer, watcher: SinkWatcher, measure_from: float, measure_to: float) -> dict:
    lat, bad_counts, seen = [], 0, set()
    for arrival, row in watcher.rows:
        start, end = ts_ms(row["window_start"]), ts_ms(row["window_end"])
        tp = prod.t_pass(end)
        if tp is None or not (measure_from <= tp <= measure_to) or end in seen:
            continue
        seen.add(end)
        lat.append((arrival - tp) * 1000)
        if int(row["record_count"]) != prod.counts.get(start, -1):
            bad_counts += 1
    # windows whose watermark passed in the measured span, with or without a row
    expected = {w + SIZE_MS for w in prod.counts
                if (tp := prod.t_pass(w + SIZE_MS)) is not None and measure_from <= tp <= measure_to}
    lat.sort()

    def pct(q):
        return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")

    return {"windows": len(lat), "missing": len(expected - seen), "wrong_counts": bad_counts,
            "p50": pct(0.50), "p99": pct(0.99), "max": lat[-1] if lat else float("nan")}


def latency_phase(engine: str, bootstrap: str, prod: LiveProducer, start_engine, stop_engine,
                  sink_topic: str) -> dict:
    watchers = {iso: SinkWatcher(bootstrap, sink_topic, iso == "read_committed")
                for iso in (["read_uncommitted", "read_committed"] if engine == "sluice" else ["read_uncommitted"])}
    for w in watchers.values():
        w.start()
    start_engine()
    measure_from = time.time() + WARMUP
    time.sleep(WARMUP + LATENCY_SECONDS)
    measure_to = time.time()
    time.sleep(10.0)  # rows of the last windows may still be on their way
    stop_engine()
    out = {}
    for iso, w in watchers.items():
        w.stop_flag.set()
        w.join(10)
        out[iso] = latency_stats(prod, w, measure_from, measure_to)
    return out


# --- main -------------------------------------------------------------------------------------

def fmt(x, spec=",.0f") -> str:
    return "-" if x is None or x != x else format(x, spec)


def main() -> int:
    sluice_bin = Path(os.environ.get("SLUICE_BIN") or REPO / "target" / "release" / "sluice")
    if not sluice_bin.exists():
        log("building the release binary: cargo build --release -p sluice")
        subprocess.run(["cargo", "build", "--release", "-p", "sluice"], cwd=REPO, check=True)
    os.environ["SLUICE_BIN"] = str(sluice_bin)
    if "spark" in ENGINES and not (SPARK_PY.exists() and list((HERE / ".spark-jars").glob("spark-sql-kafka*.jar"))):
        log("Spark is not set up: run bench/stream/setup.sh")
        return 2
    engines = list(ENGINES)
    if "sluice" in engines and not sluice_can_run(sluice_bin):
        log(f"{sluice_bin} has no `sluice run --available-now`: the sluice side is skipped")
        engines.remove("sluice")
    workdir = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    log(f"stream benchmark: user-events {UE_EVENTS:,}, transactions {TX_EVENTS:,} events, {RUNS} runs, "
        f"engines {', '.join(engines)}; work in {workdir}; load {load()}")
    server = SluiceServer(str(workdir / "broker"))
    (workdir / "broker").mkdir()
    server.start()
    bp = server.proc.pid
    b = server.bootstrap
    table: list[tuple] = []  # (job, engine, events/s, events/s/core, cpu s, wall s, broker cpu s, load)
    lat_rows: list[tuple] = []
    notes: list[str] = []
    try:
        sinks = {}
        for e in engines:
            for r in range(RUNS):
                for q in ("events_per_action", "top_users"):
                    sinks[f"{e}-user-events-r{r}-{q}"] = 1
                sinks[f"{e}-transactions-r{r}-sliding_window_counts"] = 1
            sinks[f"{e}-latency-sliding_window_counts"] = 1
        create_topics(b, {UE_TOPIC: 3, TX_TOPIC: 3, LIVE_TOPIC: 3, **sinks})
        log("-- filling the input topics")
        ue_expected = fill_user_events(sluice_bin, b)
        tx_expected = fill_transactions(b)
        jobs = [("user-events", UE_TOPIC, UE_EVENTS, check_user_events, ue_expected, "user-events.toml"),
                ("transactions", TX_TOPIC, TX_EVENTS, check_transactions, tx_expected, "transactions.toml")]
        for job, topic, n, check, expected, template in jobs:
            if "sluice" in engines:
                for r in range(RUNS):
                    ld = load()
                    path = render_job(template, workdir / f"sluice-{job}-r{r}.toml", name=f"bench-{job}-r{r}",
                                      topic=topic, sink_prefix=f"sluice-{job}-r{r}", output_mode="update",
                                      checkpoint=workdir / f"sluice-ckpt-{job}-r{r}", checkpoint_interval="10 seconds", publish_within="")
                    m = run_sluice(sluice_bin, b, path, bp, workdir / f"sluice-{job}.log",
                                   ["--available-now", "--finish"])
                    err = check(b, f"sluice-{job}-r{r}", expected)
                    if err:
                        raise RuntimeError(f"sluice {job} run {r}: wrong results: {err}")
                    log(f"   sluice {job} run {r}: {m['wall']:.2f}s wall, {m['cpu']:.2f}s CPU, results right")
                    table.append((job, f"sluice (run {r})", n / m["wall"], n / m["cpu"], m["cpu"], m["wall"],
                                  m["broker_cpu"], ld))
            if "spark" in engines:
                ld = load()
                s = run_spark_throughput(b, job, topic, workdir, bp)
                for run in s["runs"]:
                    rows = run["input_rows"]
                    if any(v != n for v in rows.values()):
                        raise RuntimeError(f"spark {job} run {run['run']} read {rows}, expected {n} each")
                    err = check(b, f"spark-{job}-r{run['run']}", expected)
                    if err:
                        raise RuntimeError(f"spark {job} run {run['run']}: wrong results: {err}")
                    cpu = run["jvm_cpu"] + run["py_cpu"]
                    label = "spark (run 0, fresh JVM)" if run["run"] == 0 else f"spark (run {run['run']}, warm)"
                    table.append((job, label, n / run["wall"], n / cpu, cpu, run["wall"], None, ld))
                dec = f"UserEvent decoder {s['session']['decoder']}, " if s["session"]["decoder"] else ""
                if s["session"]["decoder"]:
                    notes.append(f"Spark {s['session']['spark']} decoded UserEvent with {s['session']['decoder']}")
                log(f"   spark {job}: {dec}session start "
                    f"{s['session']['seconds']:.1f}s, runs {[round(r['wall'], 1) for r in s['runs']]}s, results right")
                table.append((job, "spark cold (session start + run 0)", n / s["cold"]["wall"],
                              n / s["cold"]["cpu"], s["cold"]["cpu"], s["cold"]["wall"], s["broker_cpu"], ld))

        log("-- latency: transactions, append mode, the Kafka sink")
        prod = LiveProducer(b)
        prod.start()
        if "sluice" in engines:
            ld = load()
            path = render_job("transactions.toml", workdir / "sluice-latency.toml", name="bench-latency",
                              topic=LIVE_TOPIC, sink_prefix="sluice-latency", output_mode="append",
                              checkpoint=workdir / "sluice-ckpt-latency", checkpoint_interval=LATENCY_CHECKPOINT,
                              publish_within=(f'publish_within = "{LATENCY_PUBLISH_WITHIN}"'
                                              if LATENCY_PUBLISH_WITHIN else ""))
            holder = {}

            def start_sluice():
                holder["p"] = subprocess.Popen([str(sluice_bin), "run", str(path), "-b", b, "--quiet", *SLUICE_RUN_ARGS],
                                               stdout=open(workdir / "sluice-latency.log", "ab"),
                                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir)

            def stop_sluice():
                p = holder["p"]
                if p.poll() is not None:
                    raise RuntimeError(f"sluice run (latency) exited early with {p.returncode}; see "
                                       f"{workdir / 'sluice-latency.log'}")
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait(10)

            res = latency_phase("sluice", b, prod, start_sluice, stop_sluice, "sluice-latency-sliding_window_counts")
            for iso, st in res.items():
                within = f", publish_within {LATENCY_PUBLISH_WITHIN}" if LATENCY_PUBLISH_WITHIN else ""
                lat_rows.append((f"sluice ({iso}, checkpoint {LATENCY_CHECKPOINT}{within})", st, ld))
        if "spark" in engines:
            ld = load()
            holder = {}

            def start_spark():
                p = spark_process(["--bootstrap", b, "--job", "transactions", "--mode", "latency", "--topic",
                                   LIVE_TOPIC, "--sink-prefix", "spark-latency", "--workdir", str(workdir),
                                   "--duration", str(WARMUP + LATENCY_SECONDS + 30)],
                                  workdir / "spark-latency.log")
                holder["p"] = p
                for r in results_of(p):
                    if r["event"] == "ready":
                        return
                raise RuntimeError(f"spark (latency) ended before it was ready; see {workdir / 'spark-latency.log'}")

            def stop_spark():
                p = holder["p"]
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait(10)

            res = latency_phase("spark", b, prod, start_spark, stop_spark, "spark-latency-sliding_window_counts")
            for iso, st in res.items():
                lat_rows.append(("spark (trigger as soon as possible)", st, ld))
        prod.stop_flag.set()
        prod.join(30)
    finally:
        server.cleanup()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"stream benchmark {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs; "
          f"throughput over pre-filled topics, results checked"
          + (f"; sluice run {' '.join(SLUICE_RUN_ARGS)}" if SLUICE_RUN_ARGS else ""))
    print(f"{'job':13} {'engine':34} {'events/s':>11} {'events/s/core':>14} {'CPU s':>7} {'wall s':>7} "
          f"{'broker CPU s':>12}  load (1/5/15 min)")
    for job, eng, eps, epc, cpu, wall, bcpu, ld in table:
        print(f"{job:13} {eng:34} {fmt(eps):>11} {fmt(epc):>14} {cpu:7.2f} {wall:7.2f} {fmt(bcpu, '.2f'):>12}  {ld}")
    for n in notes:
        print(n)
    print()
    for job in ("user-events", "transactions"):
        sl = [r for r in table if r[0] == job and r[1].startswith("sluice")]
        sp = [r for r in table if r[0] == job and r[1].startswith("spark (")]
        if sl and sp:
            best_s, best_p = max(r[3] for r in sl), max(r[3] for r in sp)
            best_sw, best_pw = max(r[2] for r in sl), max(r[2] for r in sp)
            print(f"{job}: sluice/spark per core {best_s / best_p:.1f}x (goal 20x), events/s {best_sw / best_pw:.1f}x; "
                  f"sluice {best_s:,.0f} events/s per core (goal 1,000,000)")
    if lat_rows:
        print()
        print(f"latency: {LATENCY_RATE:,} events/s for {LATENCY_SECONDS:.0f}s, event time x{LATENCY_SPEEDUP:g}; "
              "from the watermark passing a window's end to its row in the Kafka sink (goal p99 < 50 ms)")
        print(f"{'engine':76} {'windows':>7} {'missing':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  load")
        for eng, st, ld in lat_rows:
            print(f"{eng:76} {st['windows']:7} {st['missing']:7} {st['p50']:8.1f} {st['p99']:8.1f} "
                  f"{st['max']:8.1f}  {ld}" + (f"  ({st['wrong_counts']} wrong counts)" if st["wrong_counts"] else ""))
        sl = [st for eng, st, _ in lat_rows if eng.startswith("sluice (read_uncommitted")]
        sp = [st for eng, st, _ in lat_rows if eng.startswith("spark")]
        if sl and sp and sl[0]["p99"] == sl[0]["p99"] and sl[0]["p99"] > 0:
            print(f"spark p99 / sluice p99 (read_uncommitted): {sp[0]['p99'] / sl[0]['p99']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
