"""Start and stop the brokers the interop suite runs against.

Two kinds, with the same interface (``start()``, ``stop()``, ``bootstrap``, ``log_path``):

* ``KafkaServer``: a real single-node Apache Kafka in KRaft mode (broker and controller in
  one JVM), from the jars that ``interop/setup.sh`` put in ``interop/.kafka/libs``.
* ``SluiceServer``: ``sluice broker --listen 127.0.0.1:0 --data-dir DIR``; the binary is
  ``$SLUICE_BIN`` or ``target/debug/sluice`` under the repository root.

Both listen on 127.0.0.1 only, auto-create topics with 3 partitions, and are stopped by
the PID they were started with. Run this file to keep one up by hand::

    interop/.venv/bin/python interop/kafka_server.py kafka     # or: sluice
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

INTEROP_DIR = Path(__file__).resolve().parent
REPO_ROOT = INTEROP_DIR.parent
BIN_DIR = INTEROP_DIR / "bin"
DEFAULT_PARTITIONS = 3


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_cluster_id() -> str:
    """A random Kafka cluster id: 22 characters of URL-safe base64 of a UUID.

    One that starts with '-' is drawn again, as Kafka's own Uuid.randomUuid() does: kafka-storage's
    argument parser would take `-t -xyz...` for an option and fail (1 start in 64).
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def wait_for_port(host: str, port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class _Server:
    name = "?"

    def __init__(self, workdir: str | None = None):
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"interop-{self.name}-"))
        self.log_path = self.workdir / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None
        self.host = "127.0.0.1"
        self.port: int | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _fail(self, why: str):
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"{self.name} broker did not start: {why}\n--- {self.log_path} (tail) ---\n{tail}")

    def stop(self, timeout: float = 20.0):
        """Stop the process by its PID: SIGTERM, then SIGKILL if it lingers."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass

    def cleanup(self):
        self.stop()
        if self._own_workdir and not os.environ.get("INTEROP_KEEP_DATA"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.cleanup()


class KafkaServer(_Server):
    """A single-node KRaft Apache Kafka (process.roles=broker,controller)."""

    name = "kafka"

    def __init__(self, workdir: str | None = None, heap: str = "-Xmx512m -Xms128m"):
        super().__init__(workdir)
        self.heap = heap

    def restart(self) -> "KafkaServer":
        """Stop (SIGTERM) and start again on the same port and data."""
        self.stop()
        return self.start(reuse=True)

    def start(self, timeout: float = 90.0, reuse: bool = False) -> "KafkaServer":
        data = self.workdir / "data"
        props = self.workdir / "server.properties"
        env = dict(os.environ, KAFKA_HEAP_OPTS=self.heap)
        if reuse and props.exists():
            return self._launch(props, env, timeout)
        self.port = free_port()
        controller_port = free_port()
        while controller_port == self.port:
            controller_port = free_port()
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={data}",
                    f"num.partitions={DEFAULT_PARTITIONS}",
                    "auto.create.topics.enable=true",
                    "default.replication.factor=1",
                    "min.insync.replicas=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=3",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=3",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "delete.topic.enable=true",
                    # the log cleaner checks for dirty logs every 200 ms (default 15 s), so that
                    # compaction is observable within a test; sluice gets the same below
                    "log.cleaner.backoff.ms=200",
                    "",
                ]
            )
        )
        cluster_id = new_cluster_id()
        fmt = subprocess.run(
            [str(BIN_DIR / "kafka-storage"), "format", "-t", cluster_id, "-c", str(props)],
            env=dict(env, KAFKA_HEAP_OPTS="-Xmx256m"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if fmt.returncode != 0:
            raise RuntimeError(f"kafka-storage format failed:\n{fmt.stdout}\n{fmt.stderr}")
        return self._launch(props, env, timeout)

    def _launch(self, props: Path, env: dict, timeout: float) -> "KafkaServer":
        env["INTEROP_LOG_LEVEL"] = "INFO"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN_DIR / "kafka-server-start"), str(props)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail(f"exited with {self.proc.returncode}")
            if wait_for_port(self.host, self.port, min(deadline, time.monotonic() + 1)) and self._answers():
                return self
        self._fail(f"no answer on {self.bootstrap} within {timeout:.0f}s")

    def _answers(self) -> bool:
        """The broker has registered with its controller and serves metadata."""
        try:
            from confluent_kafka.admin import AdminClient
        except ImportError:  # run by hand without the venv: an open port will do
            return True
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        try:
            md = admin.list_topics(timeout=2)
            return len(md.brokers) > 0
        except Exception:
            return False


class SluiceServer(_Server):
    """sluice's embedded broker: ``sluice broker --listen 127.0.0.1:0 --data-dir DIR``."""

    name = "sluice"
    LISTENING = re.compile(r"listening on (\d+\.\d+\.\d+\.\d+):(\d+)")

    @staticmethod
    def binary() -> Path:
        return Path(os.environ.get("SLUICE_BIN") or REPO_ROOT / "target" / "debug" / "sluice")

    def restart(self) -> "SluiceServer":
        """Stop (SIGTERM) and start again on the same port and data directory."""
        self.stop()
        return self.start(port=self.port)

    def kill(self) -> None:
        """SIGKILL, as a crash; `start(port=...)` brings it back."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def start(self, timeout: float = 30.0, port: int | None = None) -> "SluiceServer":
        binary = self.binary()
        if not os.access(binary, os.X_OK):
            raise RuntimeError(f"no sluice binary at {binary}: run `cargo build -p sluice` or set SLUICE_BIN")
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [str(binary), "broker", "--listen", f"127.0.0.1:{port or 0}", "--data-dir", str(data),
             # as the Kafka broker above: no initial rebalance delay, 3 offsets partitions, the log
             # cleaner every 200 ms
             "--group-initial-rebalance-delay-ms", "0", "--offsets-topic-num-partitions", "3",
             "--log-cleaner-backoff-ms", "200",
             # its schema registry on a free port (several brokers may run at once)
             "--registry-listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info")),
            cwd=self.workdir,
        )
        found = threading.Event()

        def pump():  # copy output to the log file, and catch the port on the way
            with open(self.log_path, "ab") as log:
                for line in iter(self.proc.stdout.readline, b""):
                    log.write(line)
                    log.flush()
                    m = self.LISTENING.search(line.decode(errors="replace"))
                    if m and not found.is_set():
                        self.host, self.port = m.group(1), int(m.group(2))
                        found.set()

        threading.Thread(target=pump, name="sluice-log", daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the pump write the last lines
                self._fail(f"exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                self._fail(f"printed no 'listening on HOST:PORT' line within {timeout:.0f}s")
        if not wait_for_port(self.host, self.port, deadline + 5):
            self._fail(f"said it listens on {self.bootstrap} but does not accept connections")
        return self


SERVERS = {"kafka": KafkaServer, "sluice": SluiceServer}


def main(argv: list[str]) -> int:
    kind = argv[1] if len(argv) > 1 else "kafka"
    server = SERVERS[kind]()
    t0 = time.monotonic()
    server.start()
    print(f"{kind} up at {server.bootstrap} in {time.monotonic() - t0:.1f}s "
          f"(pid {server.proc.pid}, log {server.log_path}); Ctrl-C stops it", flush=True)
    try:
        while server.proc and server.proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
