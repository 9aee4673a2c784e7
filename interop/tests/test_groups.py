"""Consumer groups with real clients (seed 001: three consumers in group `mygroup` share a
topic's partitions and take over from each other), `kafka-consumer-groups`, and committed
offsets across a broker restart. Each test runs against sluice and against Apache Kafka."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from helpers import BIN, confluent_produce, create_topic, java_tool

HERE = Path(__file__).resolve().parent
SESSION_TIMEOUT_S = 10  # group_member.py's session.timeout.ms


class MemberProcess:
    """group_member.py in a subprocess; its JSON lines are collected by a thread."""

    def __init__(self, client: str, bootstrap: str, topic: str, group: str, assignor: str = "range"):
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "group_member.py"), client, bootstrap, topic, group, assignor],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.assigned: list[int] | None = None
        self.records: list[tuple[int, int, str]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                if "assigned" in obj:
                    self.assigned = obj["assigned"]
                elif "rec" in obj:
                    self.records.append(tuple(obj["rec"]))

    def assignment(self) -> list[int] | None:
        with self.lock:
            return None if self.assigned is None else list(self.assigned)

    def values(self) -> set[str]:
        with self.lock:
            return {r[2] for r in self.records}

    def kill(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(what: str, cond, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def split_evenly(members: list[MemberProcess], partitions: int):
    got = [m.assignment() for m in members]
    if any(a is None for a in got):
        return None
    flat = sorted(p for a in got for p in a)
    return got if flat == list(range(partitions)) and all(len(a) == 1 for a in got) else None


def covered_by(members: list[MemberProcess], partitions: int):
    got = [m.assignment() or [] for m in members]
    flat = sorted(p for a in got for p in a)
    return got if flat == list(range(partitions)) else None


@pytest.mark.timeout(240)
@pytest.mark.parametrize("client,assignor", [
    ("confluent", "range"),
    ("confluent", "cooperative-sticky"),
    ("kafka-python", "range"),
    ("kafka-python", "roundrobin"),
])
def test_three_members_share_partitions_and_take_over(bootstrap, client, assignor):
    topic = create_topic(bootstrap, partitions=3, prefix="grp")
    group = f"mygroup-{uuid.uuid4().hex[:8]}"
    members = [MemberProcess(client, bootstrap, topic, group, assignor) for _ in range(3)]
    try:
        wait_until("three members holding one partition each", lambda: split_evenly(members, 3), 90)
        first = [f"a-{i}" for i in range(60)]
        confluent_produce(bootstrap, topic, [(f"k{i}", v) for i, v in enumerate(first)])
        wait_until("every record processed", lambda: set(first) <= set().union(*(m.values() for m in members)), 60)

        # A crash: no LeaveGroup. The others must take its partition within the session timeout.
        victim = members.pop(0)
        victim.kill()
        t0 = time.monotonic()
        wait_until("the survivors covering all partitions", lambda: covered_by(members, 3),
                   SESSION_TIMEOUT_S + 20)
        took = time.monotonic() - t0
        assert took < SESSION_TIMEOUT_S + 15, f"takeover took {took:.1f}s"

        second = [f"b-{i}" for i in range(60)]
        confluent_produce(bootstrap, topic, [(f"k{i}", v) for i, v in enumerate(second)])
        seen = lambda: set(first + second) <= victim.values() | set().union(*(m.values() for m in members))
        wait_until("every record processed after the takeover (nothing lost)", seen, 60)
    finally:
        for m in members:
            m.stop()


def describe_members(bootstrap: str, group: str) -> list[dict]:
    out = java_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", group,
                    "--members", check=False, timeout=60).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == group:
            # GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS
            rows.append({"consumer": parts[1], "host": parts[2], "client": parts[3], "partitions": int(parts[4])})
    return rows


def describe_offsets(bootstrap: str, group: str) -> dict[int, tuple[str, str, str]]:
    out = java_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", group,
                    timeout=60).stdout
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == group and len(parts) >= 6:
            # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
            rows[int(parts[2])] = (parts[3], parts[4], parts[5])
    return rows


@pytest.mark.timeout(300)
def test_java_console_consumers_in_one_group_and_consumer_groups_tool(bootstrap):
    topic = create_topic(bootstrap, partitions=3, prefix="jgrp")
    group = f"jgroup-{uuid.uuid4().hex[:8]}"
    values = [f"v-{i}" for i in range(90)]
    confluent_produce(bootstrap, topic, [(f"key-{i}", v) for i, v in enumerate(values)])
    procs, outs = [], []
    env = dict(os.environ, KAFKA_HEAP_OPTS="-Xmx256m")
    for i in range(3):
        out = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"{group}-{i}.out", "w+")
        outs.append(out)
        procs.append(subprocess.Popen(
            [str(BIN / "kafka-console-consumer"), "--bootstrap-server", bootstrap, "--topic", topic,
             "--group", group, "--from-beginning", "--consumer-property", "session.timeout.ms=6000",
             "--consumer-property", "heartbeat.interval.ms=500", "--consumer-property", "auto.commit.interval.ms=500"],
            stdout=out, stderr=subprocess.DEVNULL, env=env))
    try:
        rows = wait_until("three members with one partition each",
                          lambda: (r := describe_members(bootstrap, group)) and len(r) == 3
                          and sorted(x["partitions"] for x in r) == [1, 1, 1] and r, 120, interval=1)
        assert all(r["host"].startswith("/127.0.0.1") for r in rows), rows
        # SIGKILL one: the other two take over its partition after the session timeout.
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait(timeout=10)
        wait_until("two members covering the three partitions",
                   lambda: (r := describe_members(bootstrap, group)) and len(r) == 2
                   and sum(x["partitions"] for x in r) == 3 and r, 60, interval=1)

        def read_all():
            got = set()
            for o in outs:
                o.flush()
                o.seek(0)
                got.update(line.strip() for line in o if line.strip())
            return got
        wait_until("all records printed by the group", lambda: set(values) <= read_all(), 60, interval=1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        for o in outs:
            o.close()
    # Closed consumers committed what they printed: no lag left.
    offsets = wait_until("committed offsets at the log end",
                         lambda: (d := describe_offsets(bootstrap, group)) and len(d) == 3
                         and all(c == e and lag == "0" for c, e, lag in d.values()) and d, 60, interval=1)
    assert sum(int(e) for _, e, _ in offsets.values()) == len(values)
    # --reset-offsets on the now-empty group.
    java_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--reset-offsets", "--group", group,
              "--topic", topic, "--to-earliest", "--execute", timeout=60)
    after = describe_offsets(bootstrap, group)
    assert sorted(after) == [0, 1, 2]
    assert all(c == "0" and int(lag) == int(e) for c, e, lag in after.values()), after
    listed = java_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--list", timeout=60).stdout.split()
    assert group in listed
    java_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--delete", "--group", group, timeout=60)
    listed = java_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--list", timeout=60).stdout.split()
    assert group not in listed


def test_commit_and_fetch_offsets_with_metadata(bootstrap):
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    topic = create_topic(bootstrap, partitions=2, prefix="commit")
    confluent_produce(bootstrap, topic, [(None, f"x{i}") for i in range(10)])
    group = f"standalone-{uuid.uuid4().hex[:8]}"
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        # A standalone (assign-only) consumer commits with generation -1.
        tps = [TopicPartition(topic, 0, 3, metadata="meta-0"), TopicPartition(topic, 1, 5)]
        res = c.commit(offsets=tps, asynchronous=False)
        assert all(tp.error is None for tp in res), res
        got = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
        assert [(tp.partition, tp.offset) for tp in got] == [(0, 3), (1, 5)]
        assert got[0].metadata == "meta-0"
        # A partition that does not exist: UNKNOWN_TOPIC_OR_PARTITION, as the partition's error
        # or raised (the client does either, depending on the version).
        try:
            err = c.commit(offsets=[TopicPartition(topic, 7, 1)], asynchronous=False)[0].error
        except KafkaException as e:
            err = e.args[0]
        assert err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err
    finally:
        c.close()


@pytest.mark.timeout(240)
def test_committed_offsets_survive_a_broker_restart(broker):
    from confluent_kafka import Consumer, TopicPartition

    bootstrap = broker.bootstrap
    topic = create_topic(bootstrap, partitions=3, prefix="restart")
    group = f"restart-{uuid.uuid4().hex[:8]}"
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(topic, p, 10 + p) for p in range(3)], asynchronous=False)
    c.close()
    pid = broker.proc.pid
    broker.restart()
    assert broker.proc.pid != pid, "the broker process was not restarted"
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        got = wait_until("committed offsets after the restart", lambda: _committed(c, topic), 60, interval=1)
        assert got == [(0, 10), (1, 11), (2, 12)]
    finally:
        c.close()


def _committed(c, topic):
    from confluent_kafka import KafkaException, TopicPartition
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=5)
    except KafkaException:
        return None
    return [(tp.partition, tp.offset) for tp in got]
