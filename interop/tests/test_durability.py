"""Durability: an idempotent acks=all producer (librdkafka) keeps producing while the sluice broker
is SIGKILLed and restarted several times; every acknowledged record must be read back exactly
once, at the offset it was acknowledged with, in order per key. sluice only: it kills the broker
process it starts itself."""

from __future__ import annotations

import random
import threading
import time

import pytest
from confluent_kafka import Producer

from helpers import confluent_read_all, create_topic
from kafka_server import SluiceServer

KILLS = 5
RECORDS = 20_000
KEYS = 50


@pytest.mark.timeout(300)
def test_acknowledged_records_survive_sigkill_restarts():
    rng = random.Random(20261123)
    server = SluiceServer()
    server.start()
    try:
        port = server.port
        topic = create_topic(server.bootstrap, partitions=3, prefix="durable")
        acked: dict[str, tuple[int, int]] = {}
        failed: list = []
        lock = threading.Lock()
        p = Producer({
            "bootstrap.servers": server.bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 5,
            "message.timeout.ms": 120_000,
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 500,
            "partitioner": "murmur2_random",
        })

        def on_delivery(err, msg):
            with lock:
                if err is not None:
                    failed.append((msg.value(), err))
                else:
                    acked[msg.value().decode()] = (msg.partition(), msg.offset())

        done = threading.Event()

        def produce():
            for i in range(RECORDS):
                key = f"key-{i % KEYS}"
                while True:
                    try:
                        p.produce(topic, key=key, value=f"{key}:{i}", on_delivery=on_delivery)
                        break
                    except BufferError:
                        p.poll(0.05)
                p.poll(0)
                if i % 200 == 0:
                    time.sleep(0.1)  # spread the records over the kills (about 10 s in all)
            p.flush(180)
            done.set()

        t = threading.Thread(target=produce, daemon=True)
        t.start()
        # The first kill waits for the first acknowledgements (a loaded machine may be slow to start).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with lock:
                if acked:
                    break
            time.sleep(0.05)
        acked_at_kill = []
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.2))
            server.kill()
            with lock:
                acked_at_kill.append(len(acked))
            time.sleep(rng.uniform(0.05, 0.5))
            server.start(port=port)
        assert done.wait(200), "the producer did not finish"
        # The kills happened while records were being produced.
        assert 0 < acked_at_kill[0] and acked_at_kill[-1] < RECORDS, acked_at_kill
        assert not failed, f"{len(failed)} deliveries failed, first: {failed[:3]}"
        assert len(acked) == RECORDS

        records = confluent_read_all(server.bootstrap, topic, timeout=120)
        values = [r.value.decode() for r in records]
        dupes = len(values) - len(set(values))
        assert dupes == 0, f"{dupes} records stored twice"
        by_value = {r.value.decode(): (r.partition, r.offset) for r in records}
        missing = [v for v in acked if v not in by_value]
        assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:5]}"
        moved = [(v, acked[v], by_value[v]) for v in acked if acked[v] != by_value[v]]
        assert not moved, f"records not at their acknowledged offsets: {moved[:5]}"
        last_seq: dict[str, int] = {}
        for r in sorted(records, key=lambda r: (r.partition, r.offset)):
            key, seq = r.value.decode().split(":")
            assert int(seq) > last_seq.get(key, -1), f"{key}: {seq} after {last_seq[key]}"
            last_seq[key] = int(seq)
    finally:
        server.cleanup()
