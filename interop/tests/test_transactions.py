"""Transactions with real clients, against sluice and Apache Kafka: commit and abort visibility
for read_committed and read_uncommitted consumers, the last stable offset, zombie fencing,
transaction timeouts, offsets committed with a transaction, and read-process-write loops
(librdkafka and Kafka's own TransactionalMessageCopier) killed with SIGKILL and restarted:
the output holds every input record exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, OFFSET_BEGINNING, Producer, TopicPartition

from helpers import BIN, confluent_produce, confluent_read_all, create_topic

HERE = Path(__file__).resolve().parent


def txn_producer(bootstrap: str, tid: str | None = None, **conf) -> Producer:
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid or f"tx-{uuid.uuid4().hex[:8]}",
                  "linger.ms": 5, **conf})
    p.init_transactions(30)
    return p


def values(bootstrap: str, topic: str, isolation: str) -> list[str]:
    return [r.value.decode() for r in confluent_read_all(bootstrap, topic, **{"isolation.level": isolation})]


def poll_values(bootstrap: str, topic: str, isolation: str, seconds: float) -> list[str]:
    """What a consumer sees within `seconds` (for data that must stay invisible)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"peek-{uuid.uuid4().hex[:8]}",
                  "isolation.level": isolation, "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        out, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            for m in c.consume(num_messages=100, timeout=0.2):
                if m.error() is None:
                    out.append(m.value().decode())
        return out
    finally:
        c.close()


def test_commit_and_abort_visibility(bootstrap):
    topic = create_topic(bootstrap, partitions=2, prefix="txvis")
    p = txn_producer(bootstrap)
    p.begin_transaction()
    for i in range(10):
        p.produce(topic, key=f"k{i}", value=f"commit-{i}")
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, key=f"k{i}", value=f"abort-{i}")
    p.flush(30)  # the aborted records really reach the log
    p.abort_transaction(30)
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, key=f"k{i}", value=f"commit2-{i}")
    p.commit_transaction(30)
    committed = values(bootstrap, topic, "read_committed")
    assert sorted(committed) == sorted([f"commit-{i}" for i in range(10)] + [f"commit2-{i}" for i in range(3)])
    everything = values(bootstrap, topic, "read_uncommitted")
    assert sorted(everything) == sorted(committed + [f"abort-{i}" for i in range(5)])


def test_open_transaction_holds_back_read_committed(bootstrap):
    topic = create_topic(bootstrap, partitions=1, prefix="txlso")
    p = txn_producer(bootstrap)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, value=f"open-{i}")
    p.flush(30)
    confluent_produce(bootstrap, topic, [(None, f"plain-{i}") for i in range(3)])
    # Everything is in the log, but read_committed stops at the open transaction's first offset.
    assert poll_values(bootstrap, topic, "read_committed", 3) == []
    assert len(poll_values(bootstrap, topic, "read_uncommitted", 3)) == 8
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "lso", "isolation.level": "read_committed"})
    low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
    c.close()
    assert (low, high) == (0, 0), "the last stable offset is the open transaction's first offset"
    p.commit_transaction(30)
    assert sorted(values(bootstrap, topic, "read_committed")) == sorted(
        [f"open-{i}" for i in range(5)] + [f"plain-{i}" for i in range(3)])


def test_zombie_producer_is_fenced(bootstrap):
    topic = create_topic(bootstrap, partitions=1, prefix="txfence")
    tid = f"fence-{uuid.uuid4().hex[:8]}"
    zombie = txn_producer(bootstrap, tid)
    zombie.begin_transaction()
    zombie.produce(topic, value="zombie")
    zombie.flush(30)
    fresh = txn_producer(bootstrap, tid)  # same transactional.id: fences the first and aborts its txn
    fresh.begin_transaction()
    fresh.produce(topic, value="fresh")
    fresh.commit_transaction(30)
    with pytest.raises(KafkaException) as e:
        zombie.produce(topic, value="zombie-2")
        zombie.commit_transaction(30)
    assert e.value.args[0].fatal(), e.value.args[0]
    assert values(bootstrap, topic, "read_committed") == ["fresh"]


@pytest.mark.timeout(120)
def test_transaction_timeout_aborts_and_fences(bootstrap):
    topic = create_topic(bootstrap, partitions=1, prefix="txtimeout")
    p = txn_producer(bootstrap, **{"transaction.timeout.ms": 2000})
    p.begin_transaction()
    p.produce(topic, value="late")
    p.flush(30)
    # The coordinator aborts the transaction after its timeout (Kafka checks every
    # transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s by default).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "t", "isolation.level": "read_committed"})
        _, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
        c.close()
        if high > 0:
            break
        time.sleep(0.5)
    assert high > 0, "the timed-out transaction was never aborted"
    with pytest.raises(KafkaException):
        p.commit_transaction(30)
    assert values(bootstrap, topic, "read_committed") == []
    assert values(bootstrap, topic, "read_uncommitted") == ["late"]


def test_offsets_commit_with_the_transaction(bootstrap):
    inp = create_topic(bootstrap, partitions=1, prefix="txin")
    out = create_topic(bootstrap, partitions=1, prefix="txout")
    confluent_produce(bootstrap, inp, [(None, f"v{i}") for i in range(20)])
    group = f"eos-{uuid.uuid4().hex[:8]}"
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    c.assign([TopicPartition(inp, 0, 0)])
    p = txn_producer(bootstrap)
    got = []
    while len(got) < 20:
        got += [m for m in c.consume(num_messages=20, timeout=1) if m.error() is None]
    # Transaction 1 (aborted): its offsets must not stick.
    p.begin_transaction()
    for m in got[:10]:
        p.produce(out, value=m.value())
    p.send_offsets_to_transaction([TopicPartition(inp, 0, 10)], c.consumer_group_metadata(), 30)
    p.abort_transaction(30)
    assert c.committed([TopicPartition(inp, 0)], timeout=10)[0].offset < 0
    # Transaction 2 (committed).
    p.begin_transaction()
    for m in got:
        p.produce(out, value=m.value())
    p.send_offsets_to_transaction([TopicPartition(inp, 0, 20)], c.consumer_group_metadata(), 30)
    p.commit_transaction(30)
    assert c.committed([TopicPartition(inp, 0)], timeout=10)[0].offset == 20
    c.close()
    assert sorted(values(bootstrap, out, "read_committed")) == sorted(f"v{i}" for i in range(20))


def run_with_kills(start, finished, progress, kills: int, delay: tuple[float, float], rng: random.Random,
                   timeout: float) -> list[int]:
    """Starts a process with `start()` and SIGKILLs it `kills` times, restarting it each time, then
    lets the last one run until `finished()`; returns `progress()` at each kill. Each kill comes a
    random `delay` after the process has made progress since its start, so that it lands in the
    middle of the work however slowly the process starts on a loaded machine."""
    at_kill = []
    deadline = time.monotonic() + timeout
    proc = start()
    try:
        while len(at_kill) < kills and time.monotonic() < deadline:
            base = progress()
            wait_until = time.monotonic() + 60
            while progress() <= base and time.monotonic() < wait_until and proc.poll() is None:
                time.sleep(0.1)
            time.sleep(rng.uniform(*delay))
            if proc.poll() is not None:
                if finished():
                    break
                proc = start()
                continue
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            at_kill.append(progress())
            proc = start()
        while not finished():
            assert time.monotonic() < deadline, "the copier did not finish in time"
            if proc.poll() is not None:
                proc = start()
            time.sleep(0.5)
        return at_kill
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in tps)
    except KafkaException:
        return -1
    finally:
        c.close()


def assert_exactly_once(bootstrap: str, out: str, expected: list[str]):
    got = values(bootstrap, out, "read_committed")
    dupes = len(got) - len(set(got))
    missing = set(expected) - set(got)
    extra = set(got) - set(expected)
    assert not dupes and not missing and not extra, \
        f"{dupes} duplicates, {len(missing)} missing (e.g. {sorted(missing)[:3]}), {len(extra)} unexpected"


def kills_for(broker_name: str) -> int:
    """20 SIGKILLs against sluice (issue 3's bar); 5 against Apache Kafka, whose run only checks that
    the same test holds there too (and is slower: a transaction commit takes tens of ms)."""
    default = "20" if broker_name == "sluice" else "5"
    return int(os.environ.get(f"INTEROP_TXN_KILLS_{broker_name.upper()}", default))


@pytest.mark.timeout(600)
def test_librdkafka_read_process_write_survives_sigkill(bootstrap, broker_name):
    rng = random.Random(7)
    inp = create_topic(bootstrap, partitions=3, prefix="eosin")
    out = create_topic(bootstrap, partitions=3, prefix="eosout")
    n = 10_000
    confluent_produce(bootstrap, inp, [(f"k{i}", f"record-{i}") for i in range(n)])
    group, tid = f"copier-{uuid.uuid4().hex[:8]}", f"copier-{uuid.uuid4().hex[:8]}"

    def start():
        return subprocess.Popen([sys.executable, str(HERE / "txn_copier.py"), bootstrap, inp, out, group, tid, str(n)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    progress = lambda: committed_total(bootstrap, group, inp, 3)
    kills = kills_for(broker_name)
    at_kill = run_with_kills(start, lambda: progress() >= n, progress, kills, (0.0, 1.0), rng, 500)
    assert len(at_kill) == kills, f"only {len(at_kill)} kills happened before the copier finished: {at_kill}"
    assert len(set(at_kill)) >= kills // 2, f"the copier made too little progress between kills: {at_kill}"
    assert_exactly_once(bootstrap, out, [f"RECORD-{i}" for i in range(n)])


@pytest.mark.timeout(900)
def test_java_transactional_copier_survives_sigkill(bootstrap, broker_name):
    rng = random.Random(11)
    inp = create_topic(bootstrap, partitions=1, prefix="jeosin")
    out = create_topic(bootstrap, partitions=1, prefix="jeosout")
    # Enough work to spread over the kills (sluice commits a transaction in about a millisecond).
    n = 200_000 if broker_name == "sluice" else 20_000
    confluent_produce(bootstrap, inp, [(f"k{i}", f"record-{i}") for i in range(n)])
    group, tid = f"jcopier-{uuid.uuid4().hex[:8]}", f"jcopier-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, KAFKA_HEAP_OPTS="-Xmx256m")

    def start():
        return subprocess.Popen(
            [str(BIN / "kafka-run-class"), "org.apache.kafka.tools.TransactionalMessageCopier",
             "--broker-list", bootstrap, "--input-topic", inp, "--input-partition", "0", "--output-topic", out,
             "--transactional-id", tid, "--consumer-group", group, "--transaction-size", "20",
             "--transaction-timeout", "10000", "--use-group-metadata", "--enable-random-aborts"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    progress = lambda: committed_total(bootstrap, group, inp, 1)
    kills = kills_for(broker_name)
    at_kill = run_with_kills(start, lambda: progress() >= n, progress, kills, (0.0, 1.0), rng, 800)
    assert len(at_kill) == kills, f"only {len(at_kill)} kills happened before the copier finished: {at_kill}"
    assert len(set(at_kill)) >= kills // 2, f"the copier made too little progress between kills: {at_kill}"
    assert_exactly_once(bootstrap, out, [f"record-{i}" for i in range(n)])
