"""Produce and consume with confluent-kafka (librdkafka 2.16), kafka-python, kcat (librdkafka
2.0.2) and Kafka's console tools: partitioning, offsets, compression, headers, timestamps."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from helpers import (CODEC_IDS, CODECS, Rec, assert_contiguous_from_zero, by_partition, confluent_produce,
                     confluent_read_all, console_produce, create_topic, default_partition, java_tool,
                     kafka_python_produce, kafka_python_read_all, kcat, kcat_produce, keyed_messages,
                     topic_name, wait_for_topic)
from rawkafka import RawKafka, batches

PARTITIONS = 3
PRODUCERS = ["confluent", "kafka-python", "kcat", "console-producer"]
CONSUMERS = ["confluent", "kafka-python", "kcat", "console-consumer"]


def produce_with(client: str, bootstrap: str, topic: str, messages) -> list | None:
    """Produce (key, value) string pairs in order; returns (partition, offset) per message where the
    client reports it."""
    if client == "confluent":
        return confluent_produce(bootstrap, topic, messages)
    if client == "kafka-python":
        return kafka_python_produce(bootstrap, topic, messages)
    if client == "kcat":
        kcat_produce(bootstrap, topic, messages)
    elif client == "console-producer":
        console_produce(bootstrap, topic, messages)
    else:
        raise ValueError(client)
    return None


def read_with(client: str, bootstrap: str, topic: str, expected: int) -> list[tuple]:
    """(partition, offset, key, value) of every record, read with the given client."""
    if client == "confluent":
        return [r.kv for r in confluent_read_all(bootstrap, topic)]
    if client == "kafka-python":
        return [r.kv for r in kafka_python_read_all(bootstrap, topic)]
    if client == "kcat":
        out = kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                   "-f", r"%p\t%o\t%k\t%s\n", timeout=60).stdout
        rows = [line.split("\t") for line in out.splitlines() if line]
        return [(int(p), int(o), k.encode(), v.encode()) for p, o, k, v in rows]
    if client == "console-consumer":
        out = java_tool("kafka-console-consumer", "--bootstrap-server", bootstrap, "--topic", topic,
                        "--from-beginning", "--max-messages", str(expected), "--timeout-ms", "60000",
                        "--formatter-property", "print.partition=true",
                        "--formatter-property", "print.offset=true",
                        "--formatter-property", "print.key=true",
                        timeout=90).stdout
        rows = []
        for line in out.splitlines():
            part, off, k, v = line.split("\t")
            rows.append((int(part.removeprefix("Partition:")), int(off.removeprefix("Offset:")), k.encode(), v.encode()))
        return rows
    raise ValueError(client)


def check_keyed(recs: list[Rec] | list[tuple], messages, partitions=PARTITIONS):
    """Every record is on its key's murmur2 partition, offsets are 0.. in send order per partition."""
    rows = [r.kv if isinstance(r, Rec) else r for r in recs]
    assert len(rows) == len(messages), f"{len(rows)} records read, {len(messages)} produced"
    per_part: dict[int, list] = {}
    for p, o, k, v in sorted(rows):
        expected = default_partition(k, partitions)
        assert p == expected, f"key {k!r} on partition {p}, Kafka's default partitioner says {expected}"
        per_part.setdefault(p, []).append((o, k, v))
    for p, rs in per_part.items():
        assert [o for o, _, _ in rs] == list(range(len(rs))), f"partition {p}: offsets {[o for o, _, _ in rs]}"
        sent = [(k.encode(), v.encode()) for k, v in messages if default_partition(k, partitions) == p]
        assert [(k, v) for _, k, v in rs] == sent, f"partition {p}: records not in send order"


@pytest.mark.parametrize("producer", PRODUCERS)
def test_keyed_records_land_on_murmur2_partition(producer, bootstrap):
    topic = create_topic(bootstrap, prefix=f"keyed-{producer}")
    messages = keyed_messages(60, distinct=20)
    reported = produce_with(producer, bootstrap, topic, messages)
    recs = confluent_read_all(bootstrap, topic)
    check_keyed(recs, messages)
    if reported is not None:
        want = {(r.key.decode(), r.value.decode()): (r.partition, r.offset) for r in recs}
        assert reported == [want[m] for m in messages], "delivery reports disagree with what was read back"


def test_all_producers_agree_on_partitions(bootstrap):
    """The same keys from four clients into one topic: each key lives in exactly one partition."""
    topic = create_topic(bootstrap, prefix="agree")
    keys = [f"user-{i}" for i in range(24)]
    for client in PRODUCERS:
        produce_with(client, bootstrap, topic, [(k, client) for k in keys])
    recs = confluent_read_all(bootstrap, topic)
    assert len(recs) == len(keys) * len(PRODUCERS)
    where: dict[bytes, set] = {}
    for r in recs:
        where.setdefault(r.key, set()).add(r.partition)
    for k, parts in where.items():
        assert parts == {default_partition(k, PARTITIONS)}, f"key {k!r} in partitions {parts}"
    assert_contiguous_from_zero(recs)


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_every_consumer_reads_the_same_records(consumer, bootstrap):
    topic = create_topic(bootstrap, prefix=f"read-{consumer}")
    messages = keyed_messages(45, distinct=15)
    confluent_produce(bootstrap, topic, messages)
    reference = sorted(r.kv for r in confluent_read_all(bootstrap, topic))
    got = sorted(read_with(consumer, bootstrap, topic, len(messages)))
    assert got == reference
    check_keyed(got, messages)


@pytest.mark.parametrize("producer", PRODUCERS)
def test_auto_create_topic_on_produce(producer, bootstrap):
    """Producing to a topic nobody created makes it, with the broker's 3 default partitions."""
    topic = topic_name(f"auto-{producer}")
    messages = keyed_messages(12)
    produce_with(producer, bootstrap, topic, messages)
    assert wait_for_topic(bootstrap, topic) == 3
    check_keyed(confluent_read_all(bootstrap, topic), messages)


def stored_codecs(bootstrap: str, topic: str, partitions: int) -> set[str]:
    """Compression of the record batches as the broker stores and serves them (raw Fetch)."""
    from kafka.protocol.consumer import FetchRequest

    names = {v: k for k, v in CODEC_IDS.items()}
    found = set()
    with RawKafka(bootstrap) as raw:
        version = raw.version_for(FetchRequest, cap=12)  # v13+ addresses topics by id
        req = FetchRequest(
            replica_id=-1, max_wait_ms=100, min_bytes=1, max_bytes=50 << 20, isolation_level=0,
            session_id=0, session_epoch=-1,
            topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
                FetchRequest.FetchTopic.FetchPartition(partition=p, fetch_offset=0, log_start_offset=-1,
                                                       partition_max_bytes=10 << 20, current_leader_epoch=-1)
                for p in range(partitions)])],
            forgotten_topics_data=[], rack_id="")
        resp = raw.request(req, version)
        for t in resp.responses:
            for p in t.partitions:
                assert p.error_code == 0, f"fetch {topic}[{p.partition_index}]: error {p.error_code}"
                for b in batches(p.records or b""):
                    found.add(names[b.compression_type])
    return found


def compressible(i: int) -> str:
    return f"record {i:06d} " + "the quick brown fox jumps over the lazy dog " * 8


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("producer", ["confluent", "kafka-python"])
def test_compression_codecs(producer, codec, bootstrap):
    topic = create_topic(bootstrap, prefix=f"codec-{codec}")
    messages = [(f"k{i % 7}", compressible(i)) for i in range(300)]
    if producer == "confluent":
        confluent_produce(bootstrap, topic, messages, **{"compression.type": codec, "linger.ms": 50})
    else:
        kafka_python_produce(bootstrap, topic, messages,
                             compression_type=None if codec == "none" else codec, linger_ms=50)
    for reader in (confluent_read_all, kafka_python_read_all):
        check_keyed(reader(bootstrap, topic), messages)
    assert stored_codecs(bootstrap, topic, PARTITIONS) == {codec}, "batches not stored with the producer's codec"


HEADERS = [("trace-id", b"abc123"), ("empty", b""), ("dup", b"first"), ("dup", b"second"), ("utf8-\u00e9", b"\xc3\xa9")]


@pytest.mark.parametrize("consumer", ["confluent", "kafka-python"])
@pytest.mark.parametrize("producer", ["confluent", "kafka-python"])
def test_headers_and_timestamps_round_trip(producer, consumer, bootstrap):
    topic = create_topic(bootstrap, prefix="hdr")
    base = 1_600_000_000_000  # an explicit CreateTime, far from now
    messages = [(f"k{i}", f"v{i}", HEADERS[: 1 + i % len(HEADERS)], base + i * 1000) for i in range(20)]
    messages.append(("no-headers", "v", None, base - 5))
    (confluent_produce if producer == "confluent" else kafka_python_produce)(bootstrap, topic, messages)
    recs = (confluent_read_all if consumer == "confluent" else kafka_python_read_all)(bootstrap, topic)
    got = {r.key.decode(): r for r in recs}
    assert len(got) == len(messages)
    for k, v, headers, ts in messages:
        r = got[k]
        assert r.value == v.encode()
        assert r.timestamp == ts and r.timestamp_type == "create", (k, r.timestamp, r.timestamp_type)
        want = tuple((hk, hv) for hk, hv in (headers or []))
        assert tuple((hk, bytes(hv) if hv is not None else None) for hk, hv in r.headers) == want, k


def test_log_append_time_topic(bootstrap):
    """message.timestamp.type=LogAppendTime: the broker stamps records with its own clock."""
    topic = create_topic(bootstrap, prefix="lat", config={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    confluent_produce(bootstrap, topic, [(f"k{i}", "v", None, 1_000_000_000_000) for i in range(10)])
    after = int(time.time() * 1000)
    for reader in (confluent_read_all, kafka_python_read_all):
        recs = reader(bootstrap, topic)
        assert len(recs) == 10
        for r in recs:
            assert r.timestamp_type == "log_append", r
            assert before - 2000 <= r.timestamp <= after + 2000, (before, r.timestamp, after)


def test_null_key_null_value_and_large_record(bootstrap):
    topic = create_topic(bootstrap, partitions=1, prefix="nulls")
    big = b"x" * 900_000  # under the 1 MiB default max.message.bytes
    confluent_produce(bootstrap, topic, [(None, b"no key"), (b"tombstone", None), (b"", b""), (b"big", big)],
                      **{"compression.type": "none"})
    for reader in (confluent_read_all, kafka_python_read_all):
        recs = sorted(reader(bootstrap, topic), key=lambda r: r.offset)
        assert [(r.offset, r.key, r.value) for r in recs[:3]] == [(0, None, b"no key"), (1, b"tombstone", None), (2, b"", b"")]
        assert recs[3].key == b"big" and recs[3].value == big


def test_offsets_for_times_and_watermarks(bootstrap):
    """ListOffsets: earliest, latest and by timestamp."""
    topic = create_topic(bootstrap, partitions=1, prefix="times")
    base = 1_700_000_000_000
    confluent_produce(bootstrap, topic, [(f"k{i}", f"v{i}", None, base + i * 1000) for i in range(10)])
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": topic_name("times"), "enable.auto.commit": False})
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 10)
        queries = {base - 1: 0, base: 0, base + 4500: 5, base + 9000: 9, base + 60_000: -1}
        for ts, want in queries.items():
            (tp,) = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            assert tp.error is None and tp.offset == want, (ts, tp)
    finally:
        c.close()
    from kafka import KafkaConsumer, TopicPartition as KTP

    k = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tp = KTP(topic, 0)
        assert k.beginning_offsets([tp]) == {tp: 0} and k.end_offsets([tp]) == {tp: 10}
        found = k.offsets_for_times({tp: base + 4500})[tp]
        assert (found.offset, found.timestamp) == (5, base + 5000)
    finally:
        k.close()


def test_consume_from_the_middle(bootstrap):
    """A fetch that starts inside a batch still returns that offset first."""
    topic = create_topic(bootstrap, partitions=1, prefix="mid")
    confluent_produce(bootstrap, topic, [(f"k{i}", f"v{i}") for i in range(100)], **{"linger.ms": 100})
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": topic_name("mid"), "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, 37)])
        msgs = []
        deadline = time.monotonic() + 30
        while len(msgs) < 63 and time.monotonic() < deadline:
            msgs += [m for m in c.consume(100, timeout=0.5) if not m.error()]
        assert [m.offset() for m in msgs] == list(range(37, 100))
        assert msgs[0].value() == b"v37"
    finally:
        c.close()
    out = kcat(bootstrap, "-C", "-t", topic, "-p", "0", "-o", "90", "-e", "-q", "-f", r"%o:%s\n").stdout
    assert out.split() == [f"{i}:v{i}" for i in range(90, 100)]
