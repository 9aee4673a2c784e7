"""Log compaction (cleanup.policy=compact), against sluice and Apache Kafka alike.

Keyed records are produced in rounds, each round one flush with one explicit timestamp, 1 s after
the previous round's: with segment.ms=100 every round rolls a new segment (both brokers roll on
record timestamps), so all rounds but the last are closed segments the log cleaner may compact
(min.cleanable.dirty.ratio=0.01, log.cleaner.backoff.ms=200 on both brokers). The test then reads
the topic until the cleaner has run and compares with what compaction must leave: in the closed
segments the latest record of each key, at the offset it was written at (tombstones included until
delete.retention.ms after their first cleaning), and the whole active segment. Kafka's segment.bytes
minimum is 1 MiB in 4.x, hence segment.ms. Keyless records are refused with INVALID_RECORD.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, Producer

from helpers import CODECS, confluent_read_all, create_topic
from rawkafka import RawKafka

KEYS = [f"key-{i}" for i in range(8)]
# Rounds are spaced by 1 s of record time, from 10 minutes ago (within Kafka's timestamp limits).
BASE_TS = int(time.time() * 1000) - 600_000

Row = tuple[int, str, str | None]


def produce_round(bootstrap: str, topic: str, round_no: int, records, codec: str = "none") -> list[Row]:
    """One flush of (key, value) records, all with the round's timestamp; returns their offsets."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": codec})
    out: list[Row] = []
    errors = []

    def done(err, msg):
        if err is not None:
            errors.append(err)
        else:
            v = msg.value()
            out.append((msg.offset(), msg.key().decode(), None if v is None else v.decode()))

    for key, value in records:
        p.produce(topic, key=key, value=value, timestamp=BASE_TS + 1_000 * round_no, on_delivery=done)
    assert p.flush(30) == 0, "undelivered records"
    assert not errors, errors
    return sorted(out)


def expected_after_compaction(rounds: list[list[Row]], expired_tombstones: bool = False) -> list[Row]:
    """The latest record per key of all rounds but the last (closed segments), then the last round."""
    latest: dict[str, Row] = {}
    for rnd in rounds[:-1]:
        for row in rnd:
            latest[row[1]] = row
    kept = [r for r in latest.values() if not (expired_tombstones and r[2] is None)]
    return sorted(kept) + rounds[-1]


def read_rows(bootstrap: str, topic: str) -> list[Row]:
    return [
        (r.offset, r.key.decode(), None if r.value is None else r.value.decode())
        for r in confluent_read_all(bootstrap, topic)
    ]


def wait_for(bootstrap: str, topic: str, expected: list[Row], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    rows = read_rows(bootstrap, topic)
    while rows != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = read_rows(bootstrap, topic)
    assert rows == expected, f"after {timeout:.0f}s the topic holds {rows}, compaction should leave {expected}"


def compacted_topic(bootstrap: str, delete_retention_ms: int) -> str:
    return create_topic(bootstrap, partitions=1, prefix="compacted", config={
        "cleanup.policy": "compact",
        "segment.ms": "100",
        "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": str(delete_retention_ms),
    })


@pytest.mark.timeout(180)
@pytest.mark.parametrize("codec", CODECS)
def test_latest_value_per_key_is_kept(bootstrap, codec):
    topic = compacted_topic(bootstrap, delete_retention_ms=86_400_000)
    rounds = [
        produce_round(bootstrap, topic, 0, [(k, f"r0-{k}") for k in KEYS], codec),
        produce_round(bootstrap, topic, 1, [(k, f"r1-{k}") for k in KEYS[::2]], codec),
        # key-3 deleted: its tombstone stays (delete.retention.ms is a day)
        produce_round(bootstrap, topic, 2, [("key-3", None), ("key-5", "r2-key-5")], codec),
        produce_round(bootstrap, topic, 3, [(k, f"r3-{k}") for k in KEYS[:3]], codec),
        # the active segment: never compacted, key-0 stays twice
        produce_round(bootstrap, topic, 4, [("key-0", "r4-key-0"), ("last", "end")], codec),
    ]
    expected = expected_after_compaction(rounds)
    assert len(expected) < sum(len(r) for r in rounds)
    wait_for(bootstrap, topic, expected)


@pytest.mark.timeout(180)
def test_tombstones_go_after_delete_retention(bootstrap):
    topic = compacted_topic(bootstrap, delete_retention_ms=1_000)
    rounds = [
        produce_round(bootstrap, topic, 0, [("a", "a0"), ("b", "b0"), ("c", "c0")]),
        produce_round(bootstrap, topic, 1, [("a", None), ("c", "c1")]),
        produce_round(bootstrap, topic, 2, [("d", "d2")]),
    ]
    # First the tombstone of a replaces a's value, and is kept...
    wait_for(bootstrap, topic, expected_after_compaction(rounds))
    # ... then, once delete.retention.ms has passed since that cleaning, the next cleaning (new
    # dirty data: round 2's segment closes) drops it.
    time.sleep(2.5)
    rounds.append(produce_round(bootstrap, topic, 3, [("e", "e3")]))
    wait_for(bootstrap, topic, expected_after_compaction(rounds, expired_tombstones=True))


@pytest.mark.timeout(60)
def test_keyless_records_are_refused(bootstrap):
    topic = compacted_topic(bootstrap, delete_retention_ms=86_400_000)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "retries": 0})
    results = []
    p.produce(topic, value=b"no key", on_delivery=lambda err, msg: results.append(err))
    p.produce(topic, key=b"k", value=b"keyed", on_delivery=lambda err, msg: results.append(err))
    assert p.flush(30) == 0
    # Both records went in one batch, which the broker refuses whole: librdkafka 2.16 reports
    # INVALID_RECORD for both (so it does against Kafka 4.3).
    assert [e and e.code() for e in results] == [KafkaError.INVALID_RECORD] * 2, results
    assert read_rows(bootstrap, topic) == []


@pytest.mark.timeout(60)
def test_keyless_records_get_kafkas_record_errors(bootstrap):
    """The Produce response itself (raw protocol, v9): error 87, one record error per keyless
    record with Kafka's message, the summary as error message, the log start offset."""
    from kafka.protocol.producer.produce import ProduceRequest
    from kafka.record import MemoryRecordsBuilder

    topic = compacted_topic(bootstrap, delete_retention_ms=86_400_000)
    b = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20)
    now = int(time.time() * 1000)
    for key in (None, b"k", None):
        b.append(now, key, b"v", [])
    b.close()
    PD = ProduceRequest.TopicProduceData
    req = ProduceRequest(transactional_id=None, acks=-1, timeout_ms=5000, topic_data=[
        PD(name=topic, partition_data=[PD.PartitionProduceData(index=0, records=bytes(b.buffer()))])])
    with RawKafka(bootstrap) as raw:
        resp = raw.request(req, raw.version_for(ProduceRequest, cap=9))
    p = resp.responses[0].partition_responses[0]
    one = f"Compacted topic cannot accept message without key in topic partition {topic}-0"
    assert (p.error_code, p.base_offset, p.log_start_offset) == (87, -1, 0)
    assert [(e.batch_index, e.batch_index_error_message) for e in p.record_errors] == [(0, one), (2, one)]
    assert p.error_message == (
        "One or more records have been rejected due to 2 record errors in total, and only showing the "
        f"first three errors at most: [RecordError(batchIndex=0, message='{one}'), "
        f"RecordError(batchIndex=2, message='{one}')]")
