"""Producer benchmark: `sluice produce user-events` beside Kafka's and librdkafka's own perf tools,
against sluice's broker, Apache Kafka and librdkafka's in-memory mock broker, in one run.

    interop/.venv/bin/python bench/producer/compare.py                # 5M records per run
    RECORDS=1000000 BROKERS=sluice interop/.venv/bin/python bench/producer/compare.py

Every producer runs with seed 000's settings: acks=all, lz4, enable.idempotence=true,
linger.ms=20, batch.size=32768, to a topic with 3 partitions, as fast as it can:
  * sluice:            `sluice produce user-events --count N --rate 0` (release build): keyed
                       UserEvent protobuf values (key = userId, about 24 B values, 5 B keys);
  * rdkafka_performance (librdkafka's own tool, the same librdkafka as sluice's): N unkeyed
                       values of the UserEvent's mean encoded size (its `-s`), and of 100 B;
  * kafka-producer-perf-test (Java): N unkeyed values of 100 B (its usual size) and of the
                       UserEvent size.
For each: records/s over the producing process's whole life (start-up and final flush
included; sluice's own "records/s" line, which leaves out start-up, is shown too) and CPU
seconds per million records of the producing process (user + system, from wait4's rusage,
every thread included). The brokers are started fresh by the interop suite's helpers, as
bench/broker/compare.py does; the machine's other load shows in the figures, so the script
runs each producer `REPEAT` times (default 2) and keeps the best rate.

Needs interop/setup.sh and interop/librdkafka/build.sh to have run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "interop"))
sys.path.insert(0, str(REPO / "interop" / "tests"))

from kafka_server import KafkaServer, SluiceServer  # noqa: E402

RECORDS = int(os.environ.get("RECORDS", "5000000"))
REPEAT = int(os.environ.get("REPEAT", "2"))
BROKERS = [b for b in os.environ.get("BROKERS", "sluice,kafka,mock").split(",") if b]
SETTINGS = {"acks": "all", "compression.type": "lz4", "enable.idempotence": "true", "linger.ms": "20",
            "batch.size": "32768"}
BIN = REPO / "interop" / "bin"
PERF = REPO / "interop" / "librdkafka" / ".build" / "librdkafka" / "examples" / "rdkafka_performance"
PERF_LIB = REPO / "interop" / "librdkafka" / ".build" / "librdkafka" / "src"
SLUICE = REPO / "target" / "release" / "sluice"
ACTIONS = ["view", "click", "purchase", "signup", "logout"]


def user_event_size() -> int:
    """Mean encoded size of a UserEvent: 0a 05 userN, 12 len action, 19 + 8-byte double (left out
    when the value is 0.00, 1 draw in 50,001)."""
    mean = 7 + 2 + sum(len(a) for a in ACTIONS) / len(ACTIONS) + 9 * 50000 / 50001
    return round(mean)


def measured(cmd: list, env: dict | None = None, timeout: float = 1800) -> dict:
    """Runs `cmd` to the end; its output, wall seconds and CPU seconds (all threads)."""
    with tempfile.TemporaryFile() as out:
        t0 = time.monotonic()
        p = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=dict(os.environ, **(env or {})))
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(p.pid, 9)  # only the process started above
                pid, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.02)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}):\n{text[-3000:]}")
    return {"out": text, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


def create_topic(bootstrap: str, topic: str):
    p = subprocess.run([str(BIN / "kafka-topics"), "--bootstrap-server", bootstrap, "--create", "--topic", topic,
                        "--partitions", "3", "--replication-factor", "1"], capture_output=True, text=True,
                       env=dict(os.environ, KAFKA_HEAP_OPTS="-Xmx256m"), timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"kafka-topics --create {topic} failed:\n{p.stdout}\n{p.stderr}")


def result(run: dict, records: int, rate_inside: float | None = None) -> dict:
    r = {"records/s": records / run["wall"], "cpu s/M": run["cpu"] / records * 1e6, "wall s": run["wall"],
         "cpu s": run["cpu"], "rss MB": run["rss_mb"]}
    if rate_inside is not None:
        r["records/s (producing)"] = rate_inside
    return r


def target_args(target: str, bootstrap: str | None) -> list[str]:
    if target == "mock":
        # librdkafka's in-memory broker, inside the producing process
        return ["-b", "127.0.0.1:1", "-X", "test.mock.num.brokers=1"]
    return ["-b", bootstrap]


def sluice_produce(target: str, bootstrap: str | None, topic: str) -> dict:
    cmd = [SLUICE, "produce", "user-events", *target_args(target, bootstrap), "--topic", topic,
           "--count", RECORDS, "--rate", 0, "--seed", 1]
    run = measured(cmd)
    m = re.search(r"(\d+) records produced in ([\d.]+)s \((\d+)/s\): (\d+) delivered, (\d+) failed", run["out"])
    if not m or int(m.group(4)) != RECORDS:
        raise RuntimeError(f"sluice produce did not deliver {RECORDS}:\n{run['out'][-3000:]}")
    return result(run, RECORDS, float(m.group(3)))


def rdkafka_perf(target: str, bootstrap: str | None, topic: str, size: int) -> dict:
    cmd = [PERF, "-P", "-t", topic, "-s", size, "-c", RECORDS, "-a", "-1", "-z", "lz4", "-q",
           "-X", "enable.idempotence=true", "-X", "linger.ms=20", "-X", "batch.size=32768",
           *target_args(target, bootstrap)]
    run = measured(cmd, env={"LD_LIBRARY_PATH": str(PERF_LIB)})
    m = re.findall(r"(\d+) delivered \(offset -?\d+, (\d+) failed\) in (\d+)ms: (\d+) msgs/s", run["out"])
    if not m or int(m[-1][0]) != RECORDS or int(m[-1][1]):
        raise RuntimeError(f"rdkafka_performance did not deliver {RECORDS}:\n{run['out'][-3000:]}")
    return result(run, RECORDS, float(m[-1][3]))


def java_perf(bootstrap: str, topic: str, size: int) -> dict:
    props = [f"{k}={v}" for k, v in SETTINGS.items()]
    cmd = [BIN / "kafka-producer-perf-test", "--topic", topic, "--num-records", RECORDS, "--record-size", size,
           "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}", *props]
    run = measured(cmd, env={"KAFKA_HEAP_OPTS": "-Xmx1g"})
    m = re.findall(r"(\d+) records sent, ([\d.]+) records/sec", run["out"])
    if not m or int(m[-1][0]) != RECORDS:
        raise RuntimeError(f"kafka-producer-perf-test did not send {RECORDS}:\n{run['out'][-3000:]}")
    return result(run, RECORDS, float(m[-1][1]))


def best(runs: list[dict]) -> dict:
    return max(runs, key=lambda r: r["records/s"])


def bench_target(target: str, bootstrap: str | None, size: int) -> dict:
    out: dict[str, dict] = {}
    n = 0

    def topic() -> str:
        nonlocal n
        n += 1
        name = f"perf-{n}-{int(time.time())}"
        if bootstrap:
            create_topic(bootstrap, name)
        return name

    for i in range(REPEAT):
        for name, fn in [
            ("sluice produce user-events", lambda: sluice_produce(target, bootstrap, topic())),
            (f"rdkafka_performance {size} B", lambda: rdkafka_perf(target, bootstrap, topic(), size)),
            ("rdkafka_performance 100 B", lambda: rdkafka_perf(target, bootstrap, topic(), 100)),
        ] + ([] if target == "mock" else [
            ("kafka-producer-perf-test 100 B", lambda: java_perf(bootstrap, topic(), 100)),
            (f"kafka-producer-perf-test {size} B", lambda: java_perf(bootstrap, topic(), size)),
        ]):
            r = fn()
            print(f"   [{target} run {i + 1}] {name}: {r['records/s']:,.0f} records/s, "
                  f"{r['cpu s/M']:.2f} CPU s per million", flush=True)
            out.setdefault(name, []).append(r)
    return {name: best(runs) for name, runs in out.items()}


def main() -> int:
    if not SLUICE.exists():
        print("building the release binary: cargo build --release -p sluice", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "-p", "sluice"], cwd=REPO, check=True)
    os.environ["SLUICE_BIN"] = str(SLUICE)
    size = user_event_size()
    print(f"producer benchmark: {RECORDS:,} records per run, best of {REPEAT}; "
          f"{' '.join(f'{k}={v}' for k, v in SETTINGS.items())}; UserEvent ≈ {size} B", flush=True)
    results: dict[str, dict] = {}
    for target in BROKERS:
        print(f"-- {target}", flush=True)
        if target == "mock":
            results[target] = bench_target("mock", None, size)
            continue
        server = SluiceServer() if target == "sluice" else KafkaServer(heap="-Xmx1g -Xms1g")
        server.start()
        try:
            results[target] = bench_target(target, server.bootstrap, size)
        finally:
            server.cleanup()

    print()
    print(f"load (uptime): {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"{os.cpu_count()} CPUs")
    print("records/s: whole process life; (producing): the tool's own figure; CPU s/M: user + system "
          "CPU seconds per million records;\n× rdkafka, × java: records/s over rdkafka_performance "
          f"-s {size} and kafka-producer-perf-test --record-size {size} to the same broker")
    print(f"{'broker':8} {'producer':34} {'records/s':>12} {'(producing)':>12} {'CPU s/M':>9} {'RSS MB':>7} "
          f"{'× rdkafka':>9} {'× java':>7}")
    for target, rows in results.items():
        ref = rows[f"rdkafka_performance {size} B"]["records/s"]
        java = rows.get(f"kafka-producer-perf-test {size} B", {}).get("records/s")
        for name, r in rows.items():
            vs_java = f"{r['records/s'] / java:7.2f}" if java else f"{'-':>7}"
            print(f"{target:8} {name:34} {r['records/s']:12,.0f} {r.get('records/s (producing)', 0):12,.0f} "
                  f"{r['cpu s/M']:9.2f} {r['rss MB']:7.0f} {r['records/s'] / ref:9.2f} {vs_java}")
    print()
    for target, rows in results.items():
        s = rows["sluice produce user-events"]["records/s"]
        ref = rows[f"rdkafka_performance {size} B"]["records/s"]
        verdict = "within 10%" if s >= 0.9 * ref else "NOT within 10%"
        print(f"{target}: sluice produce user-events = {s / ref:.2f} × rdkafka_performance -s {size} "
              f"({s:,.0f} vs {ref:,.0f} records/s): {verdict}")
    if "sluice" in results:
        s = results["sluice"]["sluice produce user-events"]["records/s"]
        print(f"goal ≥ 1,000,000 UserEvents/s to sluice's broker: {'met' if s >= 1e6 else 'NOT met'} ({s:,.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
