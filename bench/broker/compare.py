"""Side-by-side broker benchmark: sluice and Apache Kafka on this machine, in one run.

    interop/.venv/bin/python bench/broker/compare.py            # both brokers, 1M records
    RECORDS=200000 interop/.venv/bin/python bench/broker/compare.py

For each broker, started fresh by the interop suite's helpers (sluice: the release binary,
`cargo build --release -p sluice`; Kafka: KRaft, one node, Kafka's default 1 GiB heap):
  1. kafka-producer-perf-test: RECORDS x 100 B, acks=all, lz4, idempotence, linger.ms=20,
     batch.size=32768 -> records/s, MB/s, average and p99 latency;
  2. kafka-consumer-perf-test reading them back -> records/s, MB/s;
  3. librdkafka's rdkafka_performance with the same producer settings -> records/s, MB/s;
  4. the broker's peak resident memory (VmHWM) over the whole run.
Then librdkafka's in-memory mock broker with the same settings, as the client-bound ceiling.
Prints a table and the sluice/Kafka ratios. Needs interop/setup.sh and
interop/librdkafka/build.sh to have run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "interop"))
sys.path.insert(0, str(REPO / "interop" / "tests"))

from kafka_server import KafkaServer, SluiceServer  # noqa: E402

RECORDS = int(os.environ.get("RECORDS", "1000000"))
SIZE = 100
PRODUCER_PROPS = ["acks=all", "compression.type=lz4", "enable.idempotence=true", "linger.ms=20",
                  "batch.size=32768"]
BIN = REPO / "interop" / "bin"
PERF = REPO / "interop" / "librdkafka" / ".build" / "librdkafka" / "examples" / "rdkafka_performance"
PERF_LIB = REPO / "interop" / "librdkafka" / ".build" / "librdkafka" / "src"


def run(cmd, timeout=900, env=None) -> str:
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout + p.stderr


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def create_topic(bootstrap: str, topic: str):
    run([BIN / "kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
         "--partitions", "3", "--replication-factor", "1"], env={"KAFKA_HEAP_OPTS": "-Xmx256m"})


def producer_perf(bootstrap: str, topic: str) -> dict:
    out = run([BIN / "kafka-producer-perf-test", "--topic", topic, "--num-records", RECORDS,
               "--record-size", SIZE, "--throughput", "-1",
               "--producer-props", f"bootstrap.servers={bootstrap}", *PRODUCER_PROPS],
              env={"KAFKA_HEAP_OPTS": "-Xmx1g"})
    # "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, 50th, 95th, 99th, 99.9th."
    m = re.findall(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                   r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th", out)
    if not m:
        raise RuntimeError(f"no summary in kafka-producer-perf-test output:\n{out[-2000:]}")
    sent, rate, mbs, avg, mx, p50, p95, p99 = m[-1]
    return {"records/s": float(rate), "MB/s": float(mbs), "avg ms": float(avg), "p99 ms": float(p99)}


def consumer_perf(bootstrap: str, topic: str) -> dict:
    out = run([BIN / "kafka-consumer-perf-test", "--bootstrap-server", bootstrap, "--topic", topic,
               "--messages", RECORDS, "--timeout", "120000"], env={"KAFKA_HEAP_OPTS": "-Xmx1g"})
    rows = [line for line in out.splitlines() if re.match(r"^\d{4}-\d\d-\d\d", line)]
    if not rows:
        raise RuntimeError(f"no summary in kafka-consumer-perf-test output:\n{out[-2000:]}")
    f = [x.strip() for x in rows[-1].split(",")]
    # start, end, MB, MB/s, nMsg, nMsg/s, rebalance ms, fetch ms, fetch MB/s, fetch nMsg/s
    return {"records/s": float(f[5]), "MB/s": float(f[3]), "fetch records/s": float(f[9])}


def rdkafka_perf(target: str, topic: str) -> dict:
    args = [PERF, "-P", "-t", topic, "-s", SIZE, "-c", RECORDS, "-a", "-1", "-z", "lz4", "-q",
            "-X", "enable.idempotence=true", "-X", "linger.ms=20", "-X", "batch.size=32768"]
    args += ["-X", "test.mock.num.brokers=1", "-b", "127.0.0.1:1"] if target == "mock" else ["-b", target]
    out = run(args, env={"LD_LIBRARY_PATH": str(PERF_LIB)})
    m = re.findall(r"(\d+) delivered \(offset -?\d+, (\d+) failed\) in (\d+)ms: (\d+) msgs/s and ([\d.]+) MB/s", out)
    if not m:
        raise RuntimeError(f"no summary in rdkafka_performance output:\n{out[-2000:]}")
    delivered, failed, ms, rate, mbs = m[-1]
    if int(delivered) != RECORDS or int(failed):
        raise RuntimeError(f"rdkafka_performance delivered {delivered}, failed {failed}")
    return {"records/s": float(rate), "MB/s": float(mbs)}


def bench(server) -> dict:
    t0 = time.monotonic()
    server.start()
    try:
        b = server.bootstrap
        create_topic(b, "perf-java")
        res = {"produce (Java)": producer_perf(b, "perf-java")}
        res["consume (Java)"] = consumer_perf(b, "perf-java")
        create_topic(b, "perf-rdkafka")
        res["produce (librdkafka)"] = rdkafka_perf(b, "perf-rdkafka")
        res["peak RSS MB"] = peak_rss_mb(server.proc.pid)
        res["wall s"] = time.monotonic() - t0
        return res
    finally:
        server.cleanup()


def main() -> int:
    sluice_bin = REPO / "target" / "release" / "sluice"
    if not sluice_bin.exists():
        print("building the release binary: cargo build --release -p sluice", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "-p", "sluice"], cwd=REPO, check=True)
    os.environ["SLUICE_BIN"] = str(sluice_bin)
    print(f"broker benchmark: {RECORDS:,} records of {SIZE} B, {' '.join(PRODUCER_PROPS)}", flush=True)
    results = {}
    for name, server in [("sluice", SluiceServer()), ("kafka", KafkaServer(heap="-Xmx1g -Xms1g"))]:
        print(f"-- {name}", flush=True)
        results[name] = bench(server)
        print(f"   {results[name]}", flush=True)
    mock = rdkafka_perf("mock", "perf-mock")
    s, k = results["sluice"], results["kafka"]
    rows = [
        ("produce (Java) records/s", s["produce (Java)"]["records/s"], k["produce (Java)"]["records/s"]),
        ("produce (Java) MB/s", s["produce (Java)"]["MB/s"], k["produce (Java)"]["MB/s"]),
        ("produce (Java) avg latency ms", s["produce (Java)"]["avg ms"], k["produce (Java)"]["avg ms"]),
        ("produce (Java) p99 latency ms", s["produce (Java)"]["p99 ms"], k["produce (Java)"]["p99 ms"]),
        ("consume (Java) records/s", s["consume (Java)"]["records/s"], k["consume (Java)"]["records/s"]),
        ("consume (Java) MB/s", s["consume (Java)"]["MB/s"], k["consume (Java)"]["MB/s"]),
        ("produce (librdkafka) records/s", s["produce (librdkafka)"]["records/s"],
         k["produce (librdkafka)"]["records/s"]),
        ("produce (librdkafka) MB/s", s["produce (librdkafka)"]["MB/s"], k["produce (librdkafka)"]["MB/s"]),
        ("broker peak RSS MB", s["peak RSS MB"], k["peak RSS MB"]),
    ]
    print()
    print(f"{'metric':34} {'sluice':>14} {'kafka':>14} {'sluice/kafka':>13}")
    for name, a, b in rows:
        print(f"{name:34} {a:14,.1f} {b:14,.1f} {a / b if b else float('nan'):13.2f}")
    print(f"{'librdkafka mock broker records/s':34} {mock['records/s']:14,.0f}"
          f"   (sluice librdkafka produce = {s['produce (librdkafka)']['records/s'] / mock['records/s']:.2f} of it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
