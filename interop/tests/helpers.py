"""Shared helpers: Kafka's default partitioner, topic set-up, the clients' produce/read paths,
and the Java tools / kcat runners."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, OFFSET_BEGINNING, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

INTEROP = Path(__file__).resolve().parents[1]
BIN = INTEROP / "bin"
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
# compression type in the low 3 bits of a record batch's attributes
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


# --- Kafka's default partitioner ------------------------------------------------------

def murmur2(data: bytes) -> int:
    """org.apache.kafka.common.utils.Utils.murmur2, as a signed 32-bit int."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    n4 = length // 4
    for i in range(n4):
        k = int.from_bytes(data[4 * i: 4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = data[4 * n4:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if len(tail) >= 1:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def default_partition(key: bytes | str, partitions: int) -> int:
    """The partition Java's (and kafka-python's) default partitioner picks for a key."""
    if isinstance(key, str):
        key = key.encode()
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# --- records and topics ---------------------------------------------------------------

@dataclass(frozen=True)
class Rec:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple = ()
    timestamp: int | None = None
    timestamp_type: str | None = None  # "create" or "log_append"

    @property
    def kv(self):
        return (self.partition, self.offset, self.key, self.value)


def topic_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def wait_for_topic(bootstrap: str, topic: str, partitions: int | None = None, timeout: float = 30) -> int:
    """Wait until metadata shows the topic with a leader for every partition; returns the count."""
    a = admin(bootstrap)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            md = a.list_topics(topic=topic, timeout=5)
            t = md.topics.get(topic)
            last = t and (t.error, len(t.partitions))
            if t is not None and t.error is None and t.partitions and all(
                p.leader >= 0 for p in t.partitions.values()
            ):
                if partitions is None or len(t.partitions) == partitions:
                    return len(t.partitions)
        except KafkaException as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(f"topic {topic} not ready with {partitions} partitions after {timeout}s: {last}")


def create_topic(bootstrap: str, name: str | None = None, partitions: int = 3, config: dict | None = None,
                 prefix: str = "t") -> str:
    name = name or topic_name(prefix)
    a = admin(bootstrap)  # keep the client alive until the futures resolve
    futures = a.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=30, request_timeout=30,
    )
    futures[name].result(timeout=40)
    wait_for_topic(bootstrap, name, partitions)
    return name


# --- producing ------------------------------------------------------------------------

def confluent_produce(bootstrap: str, topic: str, messages, **conf) -> list[tuple[int, int]]:
    """Produce (key, value[, headers[, timestamp]]) tuples in order; returns (partition, offset) each."""
    p = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5, **conf})
    results: list = [None] * len(messages)
    errors = []

    def cb(i):
        def done(err, msg):
            if err is not None:
                errors.append((i, err))
            else:
                results[i] = (msg.partition(), msg.offset())
        return done

    for i, m in enumerate(messages):
        kw = {}
        if len(m) > 2 and m[2] is not None:
            kw["headers"] = m[2]
        if len(m) > 3 and m[3] is not None:
            kw["timestamp"] = m[3]
        while True:
            try:
                p.produce(topic, key=m[0], value=m[1], on_delivery=cb(i), **kw)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(60)
    assert left == 0, f"{left} messages still undelivered after 60s"
    assert not errors, f"delivery errors: {errors[:5]}"
    return results


def kafka_python_produce(bootstrap: str, topic: str, messages, **conf) -> list[tuple[int, int]]:
    from kafka import KafkaProducer

    p = KafkaProducer(**{"bootstrap_servers": bootstrap, "linger_ms": 5, **conf})
    try:
        futures = []
        for m in messages:
            key = m[0].encode() if isinstance(m[0], str) else m[0]
            value = m[1].encode() if isinstance(m[1], str) else m[1]
            headers = [(k, v.encode() if isinstance(v, str) else v) for k, v in (m[2] if len(m) > 2 and m[2] else [])]
            ts = m[3] if len(m) > 3 else None
            futures.append(p.send(topic, key=key, value=value, headers=headers or None, timestamp_ms=ts))
        p.flush(60)
        out = []
        for f in futures:
            md = f.get(timeout=30)
            out.append((md.partition, md.offset))
        return out
    finally:
        p.close(timeout=10)


def run(cmd: list, input: str | bytes | None = None, timeout: float = 60, check: bool = True,
        env: dict | None = None) -> subprocess.CompletedProcess:
    text = not isinstance(input, bytes)
    proc = subprocess.run([str(c) for c in cmd], input=input, capture_output=True, text=text, timeout=timeout,
                          env=dict(os.environ, **(env or {})))
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited with {proc.returncode}\n"
                             f"--- stdout ---\n{str(proc.stdout)[-3000:]}\n--- stderr ---\n{str(proc.stderr)[-3000:]}")
    return proc


def java_tool(name: str, *args, **kw) -> subprocess.CompletedProcess:
    env = {"KAFKA_HEAP_OPTS": "-Xmx256m", **kw.pop("env", {})}
    return run([BIN / name, *args], env=env, **kw)


def kcat(bootstrap: str, *args, **kw) -> subprocess.CompletedProcess:
    return run(["kcat", "-b", bootstrap, *args], **kw)


def kcat_produce(bootstrap: str, topic: str, messages, *extra) -> None:
    """kcat -P -K: with Kafka's partitioner, one 'key:value' line per message."""
    lines = "".join(f"{k}:{v}\n" for k, v in messages)
    kcat(bootstrap, "-P", "-t", topic, "-K:", "-X", "partitioner=murmur2_random", *extra, input=lines)


def console_produce(bootstrap: str, topic: str, messages, *extra) -> None:
    lines = "".join(f"{k}:{v}\n" for k, v in messages)
    java_tool("kafka-console-producer", "--bootstrap-server", bootstrap, "--topic", topic,
              "--reader-property", "parse.key=true", "--reader-property", "key.separator=:", *extra,
              input=lines, timeout=90)


# --- reading --------------------------------------------------------------------------

def confluent_read_all(bootstrap: str, topic: str, timeout: float = 60, **conf) -> list[Rec]:
    """Everything in the topic, read by assignment (no group), up to each partition's high watermark."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"interop-reader-{uuid.uuid4().hex[:8]}",  # required by the client; no group is joined
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        **conf,
    })
    try:
        md = c.list_topics(topic, timeout=10)
        parts = sorted(md.topics[topic].partitions)
        assert parts, f"topic {topic} has no partitions"
        high = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        out: list[Rec] = []
        nxt = {p: 0 for p in parts}
        deadline = time.monotonic() + timeout
        while any(nxt[p] < high[p] for p in parts):
            if time.monotonic() > deadline:
                raise AssertionError(f"read timed out: at {nxt}, high watermarks {high}, {len(out)} records")
            msgs = c.consume(num_messages=1000, timeout=0.5)
            for msg in msgs:
                if msg.error():
                    raise AssertionError(f"consume error: {msg.error()}")
                ts_type, ts = msg.timestamp()
                out.append(Rec(msg.partition(), msg.offset(), msg.key(), msg.value(), tuple(msg.headers() or ()),
                               ts, {1: "create", 2: "log_append"}.get(ts_type)))
                nxt[msg.partition()] = msg.offset() + 1
            if not msgs:
                # Transaction markers take offsets but are never delivered: the position moves past them.
                for tp in c.position([TopicPartition(topic, p) for p in parts]):
                    if tp.offset >= 0:
                        nxt[tp.partition] = max(nxt[tp.partition], tp.offset)
        return out
    finally:
        c.close()


def kafka_python_read_all(bootstrap: str, topic: str, timeout: float = 60) -> list[Rec]:
    from kafka import KafkaConsumer, TopicPartition as KTP

    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                      consumer_timeout_ms=1000)
    try:
        deadline = time.monotonic() + timeout
        parts = None
        while not parts and time.monotonic() < deadline:
            parts = c.partitions_for_topic(topic)
        tps = [KTP(topic, p) for p in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        high = c.end_offsets(tps)
        out: list[Rec] = []
        nxt = {tp: 0 for tp in tps}
        while any(nxt[tp] < high[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise AssertionError(f"read timed out: at {nxt}, high watermarks {high}, {len(out)} records")
            for tp, msgs in c.poll(timeout_ms=500).items():
                for m in msgs:
                    out.append(Rec(m.partition, m.offset, m.key, m.value, tuple(m.headers or ()), m.timestamp,
                                   {0: "create", 1: "log_append"}.get(m.timestamp_type)))
                    nxt[tp] = m.offset + 1
        return out
    finally:
        c.close()


def by_partition(recs: list[Rec]) -> dict[int, list[Rec]]:
    out: dict[int, list[Rec]] = {}
    for r in sorted(recs, key=lambda r: (r.partition, r.offset)):
        out.setdefault(r.partition, []).append(r)
    return out


def assert_contiguous_from_zero(recs: list[Rec]):
    for p, rs in by_partition(recs).items():
        offsets = [r.offset for r in rs]
        assert offsets == list(range(len(rs))), f"partition {p}: offsets not contiguous from 0: {offsets[:20]}..."


def keyed_messages(n: int, prefix: str = "key", distinct: int | None = None) -> list[tuple[str, str]]:
    distinct = distinct or n
    return [(f"{prefix}-{i % distinct}", f"value-{i}") for i in range(n)]


def read_delimited(data: bytes, cls) -> list:
    """Java's parseDelimitedFrom in a loop: varint length, then the message."""
    out, pos = [], 0
    while pos < len(data):
        length, shift = 0, 0
        while True:
            b = data[pos]
            pos += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        msg = cls()
        msg.ParseFromString(data[pos:pos + length])
        out.append(msg)
        pos += length
    assert pos == len(data)
    return out
