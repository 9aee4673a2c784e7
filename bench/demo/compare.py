"""Start-up benchmark: how soon `sluice demo` serves Kafka clients and registry clients, beside
how soon a real Apache Kafka broker serves them, on this machine in one run.

    cargo build --release -p sluice
    interop/.venv/bin/python bench/demo/compare.py            # RUNS=3 each
    RUNS=5 ENGINES=sluice interop/.venv/bin/python bench/demo/compare.py

Ready means answering a request, not an open port: the broker returns a Metadata (v1) response
that lists at least one broker, the registry answers `GET /subjects` with 200. Both are probed
with raw requests from the moment the process is spawned (sluice every 10 ms; Kafka through the
interop helper, which waits for the port in 0.1 s steps first), so no client library's own
start-up is counted.

Rows:
  * `sluice demo`: one process with the embedded broker and registry, the topics, the seed
    producers and the five jobs (the goal, issue 6: broker and registry accept connections
    within a second of the start). Then SIGINT (Ctrl-C) and the time until it has exited,
    having written its final results and checkpoints.
  * `sluice broker`: the broker alone, with a data directory (as the Kafka row).
  * `kafka`: Apache Kafka 4.3.1 in KRaft mode, one JVM (broker + controller), configured by the
    interop suite's helper; `kafka-storage format` runs first and is timed on its own. Kafka has
    no registry; Confluent's Schema Registry is not on Maven Central, so it has no row.
Needs interop/setup.sh (Kafka jars, the venv) and the release binary.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "interop"))

from kafka_server import KafkaServer, free_port  # noqa: E402

RUNS = int(os.environ.get("RUNS", "3"))
ENGINES = [e.strip() for e in os.environ.get("ENGINES", "sluice,kafka").split(",") if e.strip()]
SLUICE = Path(os.environ.get("SLUICE_BIN", REPO / "target" / "release" / "sluice")).resolve()
PROBE_EVERY = 0.01
GOAL_S = 1.0


def metadata_v1_brokers(port: int) -> int:
    """Brokers in a Metadata v1 response (all topics) from 127.0.0.1:port; raises if none came."""
    client = b"bench-demo"
    body = struct.pack(">hhih", 3, 1, 1, len(client)) + client + struct.pack(">i", -1)
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.settimeout(1)
        s.sendall(struct.pack(">i", len(body)) + body)
        head = b""
        while len(head) < 12:  # size, correlation id, broker count
            chunk = s.recv(12 - len(head))
            if not chunk:
                raise ConnectionError("closed")
            head += chunk
    _size, correlation, brokers = struct.unpack(">iii", head)
    if correlation != 1:
        raise ConnectionError(f"correlation id {correlation}")
    return brokers


def broker_ready(port: int) -> bool:
    try:
        return metadata_v1_brokers(port) > 0
    except OSError:
        return False


def registry_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/subjects", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def wait_ready(proc: subprocess.Popen, t0: float, probes: dict, timeout: float) -> dict:
    """Seconds from t0 until each probe first succeeded."""
    ready: dict[str, float] = {}
    deadline = t0 + timeout
    while len(ready) < len(probes):
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready within {timeout:.0f}s: {sorted(set(probes) - set(ready))}")
        for name, probe in probes.items():
            if name not in ready and probe():
                ready[name] = time.monotonic() - t0
        time.sleep(PROBE_EVERY)
    return ready


def stop(proc: subprocess.Popen, sig: int, timeout: float = 60) -> float:
    t = time.monotonic()
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"did not stop within {timeout:.0f}s of signal {sig}")
    return time.monotonic() - t


def timed_sluice(work: Path, args: list[str], probes: dict, stop_signal: int, run_for: float = 0,
                 clean_exit: bool = False) -> dict:
    """Spawns `sluice ARGS` in `work`, times its probes from the spawn, lets it run `run_for` s
    more, then times its stop on `stop_signal` (with `clean_exit`, it must exit with 0)."""
    log_path = work / f"{args[0]}.log"
    with open(log_path, "wb") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen([str(SLUICE), *args], cwd=work, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        ready = wait_ready(proc, t0, probes, 60)
        time.sleep(run_for)
        ready["stop"] = stop(proc, stop_signal)
        if clean_exit and proc.returncode != 0:
            raise RuntimeError(f"sluice {args[0]} exited with {proc.returncode} after signal {stop_signal}; see {log_path}")
        return ready
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def sluice_demo(work: Path) -> dict:
    bp, rp = free_port(), free_port()
    args = ["demo", "--listen", f"127.0.0.1:{bp}", "--registry-listen", f"127.0.0.1:{rp}",
            "--dir", str(work / "sluice-demo"), "--duration", "120s", "--quiet"]
    probes = {"broker": lambda: broker_ready(bp), "registry": lambda: registry_ready(rp)}
    # 3 s with producers and jobs under way, so that stopping (Ctrl-C) has work to finish.
    return timed_sluice(work, args, probes, signal.SIGINT, run_for=3, clean_exit=True)


def sluice_broker(work: Path) -> dict:
    bp = free_port()
    args = ["broker", "--listen", f"127.0.0.1:{bp}", "--data-dir", str(work / "data")]
    return timed_sluice(work, args, {"broker": lambda: broker_ready(bp)}, signal.SIGTERM)


class TimedKafka(KafkaServer):
    """The interop helper's Kafka, with the JVM's spawn time noted and a raw readiness probe."""

    def start(self, timeout: float = 120.0, reuse: bool = False) -> "TimedKafka":
        self.t_format = time.monotonic()
        return super().start(timeout, reuse)

    def _launch(self, props, env, timeout):
        self.t_format = time.monotonic() - self.t_format
        self.t0 = time.monotonic()
        return super()._launch(props, env, timeout)

    def _answers(self) -> bool:
        return broker_ready(self.port)


def kafka(work: Path) -> dict:
    server = TimedKafka(workdir=str(work))
    try:
        server.start()
        ready = {"broker": time.monotonic() - server.t0, "format": server.t_format}
        ready["stop"] = stop(server.proc, signal.SIGTERM)
        server.proc = None
        return ready
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def main() -> int:
    if "sluice" in ENGINES and not SLUICE.exists():
        print(f"no {SLUICE}: run `cargo build --release -p sluice` first (or set SLUICE_BIN)", file=sys.stderr)
        return 2
    rows: list[tuple[str, int, dict]] = []
    kinds = [("sluice demo", sluice_demo), ("sluice broker", sluice_broker)] if "sluice" in ENGINES else []
    if "kafka" in ENGINES:
        kinds.append(("kafka", kafka))
    for run in range(RUNS):
        for name, fn in kinds:
            with tempfile.TemporaryDirectory(prefix="bench-demo-") as d:
                r = fn(Path(d))
            rows.append((name, run, r))
            print(f"{name} run {run}: " + ", ".join(f"{k} {v:.3f}s" for k, v in r.items()), file=sys.stderr)

    print(f"{'what':<15} {'run':>3} {'broker ready s':>15} {'registry ready s':>17} {'stop s':>8} {'format s':>9}")
    for name, run, r in rows:
        print(f"{name:<15} {run:>3} {fmt(r.get('broker')):>15} {fmt(r.get('registry')):>17} "
              f"{fmt(r.get('stop')):>8} {fmt(r.get('format')):>9}")

    def median(name: str, key: str) -> float | None:
        vals = [r[key] for n, _, r in rows if n == name and key in r]
        return statistics.median(vals) if vals else None

    print()
    demo_b, demo_r = median("sluice demo", "broker"), median("sluice demo", "registry")
    if demo_b is not None and demo_r is not None:
        worst = max(max(r["broker"], r["registry"]) for n, _, r in rows if n == "sluice demo")
        verdict = "met" if worst < GOAL_S else "NOT met"
        print(f"sluice demo: broker ready in {demo_b:.3f} s, registry in {demo_r:.3f} s (medians); "
              f"slowest run {worst:.3f} s; goal both within {GOAL_S:.0f} s: {verdict}")
    kb, sb = median("kafka", "broker"), median("sluice broker", "broker")
    if kb is not None and sb is not None:
        kf = median("kafka", "format")
        print(f"broker ready: kafka {kb:.3f} s (+ {kf:.3f} s kafka-storage format) vs sluice broker {sb:.3f} s: "
              f"{kb / sb:.0f}x sooner ({(kb + kf) / sb:.0f}x with the format)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
