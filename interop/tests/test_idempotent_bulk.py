"""100,000 keyed records from an idempotent librdkafka producer (confluent-kafka), read back:
no loss, no duplicates, per-key order kept, every key on its murmur2 partition."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Producer

from helpers import confluent_read_all, create_topic, default_partition

N = 100_000
KEYS = 1_000


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_idempotent_lz4_bulk(bootstrap):
    topic = create_topic(bootstrap, prefix="bulk")
    p = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": 20,
        "batch.size": 32768,
        "partitioner": "murmur2_random",
        "queue.buffering.max.messages": 200_000,
    })
    errors = []
    delivered = [0]

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered[0] += 1

    t0 = time.monotonic()
    for i in range(N):
        key = f"key-{i % KEYS:04d}"
        value = f"{key}:{i // KEYS:06d}:" + "x" * 60
        while True:
            try:
                p.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.01)
        if i % 1000 == 0:
            p.poll(0)
    left = p.flush(120)
    produce_s = time.monotonic() - t0
    assert left == 0, f"{left} records not delivered after flush(120)"
    assert not errors, f"{len(errors)} delivery errors, first: {errors[:3]}"
    assert delivered[0] == N

    t0 = time.monotonic()
    recs = confluent_read_all(bootstrap, topic, timeout=180)
    consume_s = time.monotonic() - t0
    print(f"produced {N} in {produce_s:.1f}s, read back in {consume_s:.1f}s")

    assert len(recs) == N, f"read {len(recs)} records, produced {N}"
    seen = set()
    last_seq: dict[bytes, int] = {}
    per_partition_offsets: dict[int, list[int]] = {}
    for r in sorted(recs, key=lambda r: (r.partition, r.offset)):
        assert r.value not in seen, f"duplicate record {r.value[:20]!r} at {r.partition}/{r.offset}"
        seen.add(r.value)
        key_s, seq_s, _ = r.value.decode().split(":")
        assert key_s.encode() == r.key
        assert r.partition == default_partition(r.key, 3), f"key {r.key!r} on partition {r.partition}"
        seq = int(seq_s)
        assert seq == last_seq.get(r.key, -1) + 1, f"key {r.key!r}: sequence {seq} after {last_seq.get(r.key)}"
        last_seq[r.key] = seq
        per_partition_offsets.setdefault(r.partition, []).append(r.offset)
    assert len(last_seq) == KEYS and all(s == N // KEYS - 1 for s in last_seq.values())
    for part, offsets in per_partition_offsets.items():
        assert offsets == list(range(len(offsets))), f"partition {part}: offsets not contiguous from 0"
