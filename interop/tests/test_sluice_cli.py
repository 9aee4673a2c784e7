"""sluice's own Kafka tools (produce, consume, topics, groups, generate) against both brokers,
checked with independent clients: confluent-kafka reads what sluice wrote, writes what sluice
reads, and inspects what its admin commands did. Protobuf values are decoded with a small
wire-format reader written here, independent of sluice's encoder."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import ConfigResource

from helpers import admin, confluent_produce, confluent_read_all, default_partition, topic_name, wait_for_topic
from kafka_server import SluiceServer

SEED_SETTINGS = [("linger.ms", "20"), ("batch.size", "32768"), ("compression.type", "lz4"),
                 ("enable.idempotence", "true"), ("acks", "all")]


def sluice(tmp_path, *args, input: bytes | None = None, check: bool = True, timeout: float = 90):
    """Runs the sluice binary in tmp_path with no Kafka variables from the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_SERVER", "KAFKA_BOOTSTRAP_SERVERS", "SLUICE_LOG")}
    proc = subprocess.run([str(SluiceServer.binary()), *map(str, args)], input=input, capture_output=True,
                          cwd=tmp_path, env=env, timeout=timeout)
    out = proc.stdout.decode(errors="replace")
    err = proc.stderr.decode(errors="replace")
    if check and proc.returncode != 0:
        raise AssertionError(f"sluice {' '.join(map(str, args))} exited with {proc.returncode}\n"
                             f"--- stdout ---\n{out[-3000:]}\n--- stderr ---\n{err[-3000:]}")
    return proc.returncode, out, err


def proto_fields(data: bytes) -> dict[int, object]:
    """Field number → value of a flat protobuf message: varints as ints, 64-bit as doubles,
    length-delimited as text."""
    fields, i = {}, 0
    while i < len(data):
        tag, i = _varint(data, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            v, i = _varint(data, i)
            fields[number] = v - (1 << 64) if v >= 1 << 63 else v
        elif wire == 1:
            fields[number] = struct.unpack_from("<d", data, i)[0]
            i += 8
        elif wire == 2:
            n, i = _varint(data, i)
            fields[number] = data[i:i + n].decode()
            i += n
        else:
            raise AssertionError(f"unexpected wire type {wire} in {data.hex()}")
    return fields


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def test_user_events_are_keyed_protobuf_on_murmur2_partitions(bootstrap, tmp_path):
    topic = topic_name("user-events")
    _, out, err = sluice(tmp_path, "produce", "user-events", "-b", bootstrap, "--topic", topic, "--count", 200,
                         "--seed", 3)
    assert "200 delivered, 0 failed" in out
    for k, v in SEED_SETTINGS:
        assert any(line.split() == [k, v] for line in err.splitlines()), f"{k} {v} not printed:\n{err}"
    partitions = wait_for_topic(bootstrap, topic)
    records = confluent_read_all(bootstrap, topic)
    assert len(records) == 200
    users: dict[str, set[int]] = {}
    for r in records:
        f = proto_fields(r.value)
        assert r.key == f[1].encode(), "key must be the userId"
        assert r.partition == default_partition(r.key, partitions)
        assert f[2] in {"view", "click", "purchase", "signup", "logout"}
        assert 0 <= f.get(3, 0.0) <= 500 and round(f.get(3, 0.0), 2) == f.get(3, 0.0)
        users.setdefault(f[1], set()).add(r.partition)
    assert set(users) == {f"user{i}" for i in range(10)}
    assert all(len(p) == 1 for p in users.values())


def test_numbers_people_views(bootstrap, tmp_path):
    from test_registry import RegistryProcess

    registry = RegistryProcess(bootstrap, f"_schemas-{uuid.uuid4().hex[:8]}", tmp_path).start()
    try:
        numbers = topic_name("numbers")
        sluice(tmp_path, "produce", "numbers", "-b", bootstrap, "--topic", numbers, "--count", 3, "--interval",
               "50ms", "--schema-registry", registry.url)
    finally:
        registry.stop()
    assert wait_for_topic(bootstrap, numbers) == 3
    values = []
    for r in confluent_read_all(bootstrap, numbers):
        # Confluent's wire format: magic 0, a 4-byte schema id, message indexes [0] as one 0 byte.
        assert r.value[0] == 0 and r.value[5] == 0, r.value
        values.append(proto_fields(r.value[6:]).get(1, 0))
    assert len(values) == 3 and all(1 <= v <= 100 for v in values)

    people = topic_name("people")
    _, out, _ = sluice(tmp_path, "produce", "people", "-b", bootstrap, "--topic", people, "--rate", 0)
    assert "20 delivered, 0 failed" in out
    assert wait_for_topic(bootstrap, people) == 2
    for r in confluent_read_all(bootstrap, people):
        v = json.loads(r.value)
        assert list(v) == ["name", "surname", "amount", "delta_t", "flag"]
        assert v["flag"] in (0, 1) and 0 <= v["amount"] <= 1000 and 0 <= v["delta_t"] <= 10

    views = topic_name("views")
    (tmp_path / ".env").write_text(f"KAFKA_SERVER={bootstrap}\nPRODUCER_INTERVAL=0.05\n")
    _, _, err = sluice(tmp_path, "produce", "views", "--topic", views, "--count", 3)
    assert "(from KAFKA_SERVER in .env)" in err
    vs = [json.loads(r.value) for r in confluent_read_all(bootstrap, views)]
    assert len(vs) == 3
    assert all(v["campaign_id"] in range(10, 141, 10) and v["end_timestamp"] > v["start_timestamp"] for v in vs)


def test_generated_csv_replays_in_batches(bootstrap, tmp_path):
    sluice(tmp_path, "generate", "transactions", "-o", "tx.csv", "--rows", 30, "--seed", 1, "--as-of", "2025-07-27")
    topic = topic_name("tx")
    _, out, _ = sluice(tmp_path, "produce", "csv", "tx.csv", "-b", bootstrap, "--topic", topic, "--batch-size", 10,
                       "--sleep", "100ms", "--max-records", 25, "--key-column", "customer_id")
    assert [line for line in out.splitlines() if line.startswith("batch ")] == [
        "batch 1/3: 10 records delivered, total 10/25; next batch in 100ms",
        "batch 2/3: 10 records delivered, total 20/25; next batch in 100ms",
        "batch 3/3: 5 records delivered, total 25/25",
    ]
    records = confluent_read_all(bootstrap, topic)
    assert len(records) == 25
    seen = set()
    for r in records:
        v = json.loads(r.value)
        assert len(v) == 27
        rid = v["record_id"]
        seen.add(rid)
        assert (v["batch_number"], v["batch_position"]) == ((rid - 1) // 10 + 1, (rid - 1) % 10 + 1)
        assert r.key == v["customer_id"].encode()
        assert round(v["quantity"] * v["unit_price"], 2) == v["total_amount"]
        assert round(v["total_amount"] - v["discount"], 2) == v["final_amount"]
    assert seen == set(range(1, 26))


def test_console_tools_round_trip_binary(bootstrap, tmp_path):
    topic = topic_name("bin")
    wait = sluice(tmp_path, "topics", "create", topic, "--partitions", 1, "-b", bootstrap)
    assert f"created topic {topic}" in wait[1]
    payloads = [bytes(range(i, i + 40)) for i in range(0, 200, 40)]
    lines = "".join(f"{bytes([i, 0, 10]).hex()}:{p.hex()}\n" for i, p in enumerate(payloads)).encode()
    sluice(tmp_path, "produce", "lines", topic, "-b", bootstrap, "--key-separator", ":", "--input-format", "hex",
           input=lines)
    # Written by sluice, read by confluent-kafka.
    assert [(r.key, r.value) for r in confluent_read_all(bootstrap, topic)] == [
        (bytes([i, 0, 10]), p) for i, p in enumerate(payloads)]
    # Written by confluent-kafka, read by sluice.
    confluent_produce(bootstrap, topic, [(b"\xff\x00", b"\x00\x01\xfe\xff"), (b"k", b'{"a": [1, 2]}')])
    _, out, _ = sluice(tmp_path, "consume", topic, "-b", bootstrap, "--offset", len(payloads), "-e",
                       "--format", "json")
    got = [json.loads(line) for line in out.splitlines()]
    assert [(g["key"], g["key_format"], g["value"], g["value_format"]) for g in got] == [
        ("ff00", "hex", "0001feff", "hex"), ("k", "text", {"a": [1, 2]}, "json")]


def test_topics_commands(bootstrap, tmp_path):
    topic = topic_name("admin")
    _, out, _ = sluice(tmp_path, "topics", "create", topic, "--partitions", 3, "--config", "retention.ms=60000",
                       "--format", "json", "-b", bootstrap)
    assert json.loads(out) == {"topic": topic, "created": True, "partitions": 3}
    wait_for_topic(bootstrap, topic, 3)
    _, out, _ = sluice(tmp_path, "topics", "list", "--format", "json", "-b", bootstrap)
    assert {"name": topic, "partitions": 3, "replication_factor": 1} in json.loads(out)
    _, out, _ = sluice(tmp_path, "topics", "alter", topic, "--partitions", 5, "--config", "cleanup.policy=compact",
                       "-b", bootstrap)
    assert out.strip() == f"altered topic {topic}: partitions 3 → 5, cleanup.policy=compact"
    wait_for_topic(bootstrap, topic, 5)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    a = admin(bootstrap)  # kept alive until the future resolves
    configs = a.describe_configs([res])[res].result(timeout=30)
    assert configs["cleanup.policy"].value == "compact"
    assert configs["retention.ms"].value == "60000", "altering one setting must keep the others"
    _, out, _ = sluice(tmp_path, "topics", "describe", topic, "--format", "json", "-b", bootstrap)
    d = json.loads(out)[0]
    assert len(d["partitions"]) == 5 and d["configs"]["retention.ms"]["value"] == "60000"
    sluice(tmp_path, "topics", "delete", topic, "-b", bootstrap)
    rc, _, err = sluice(tmp_path, "topics", "delete", topic, "-b", bootstrap, check=False)
    assert rc == 1 and f"topic {topic} does not exist" in err


def test_groups_commands(bootstrap, tmp_path):
    topic = topic_name("grp")
    group = f"g-{uuid.uuid4().hex[:8]}"
    sluice(tmp_path, "topics", "create", topic, "--partitions", 3, "-b", bootstrap)
    wait_for_topic(bootstrap, topic, 3)
    confluent_produce(bootstrap, topic, [(f"k{i}".encode(), f"v{i}".encode()) for i in range(20)])
    base = ["consume", topic, "-b", bootstrap, "--group", group, "--from-beginning", "--format", "json"]
    _, first, _ = sluice(tmp_path, *base, "--count", 8)
    _, rest, _ = sluice(tmp_path, *base, "--exit-at-end")
    seen = [(json.loads(x)["partition"], json.loads(x)["offset"]) for x in (first + rest).splitlines()]
    assert len(seen) == 20 and len(set(seen)) == 20

    _, out, _ = sluice(tmp_path, "groups", "list", "--format", "json", "-b", bootstrap)
    mine = [g for g in json.loads(out) if g["group"] == group]
    assert mine == [{"group": group, "state": "Empty", "members": 0, "protocol_type": "consumer"}]
    _, out, _ = sluice(tmp_path, "groups", "describe", group, "--format", "json", "-b", bootstrap)
    offsets = json.loads(out)["offsets"]
    assert sum(o["committed_offset"] for o in offsets) == 20 and all(o["lag"] == 0 for o in offsets)

    _, out, _ = sluice(tmp_path, "groups", "reset-offsets", group, "--to-earliest", "--execute", "-b", bootstrap)
    assert f"offsets of group {group} reset" in out
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=30)
    finally:
        c.close()
    assert [tp.offset for tp in committed] == [0, 0, 0]
    _, out, _ = sluice(tmp_path, "groups", "delete", group, "-b", bootstrap)
    assert out.strip() == f"deleted group {group}"


def test_unreachable_broker_is_one_line(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, _, err = sluice(tmp_path, "topics", "list", "-b", f"127.0.0.1:{port}", check=False)
    assert rc == 1
    assert err.splitlines() == [
        f"error: no broker answered at 127.0.0.1:{port} (Connection refused); start one with `sluice broker` or "
        "pass --bootstrap-servers HOST:PORT, or wait for it with --wait-for-broker 30s"]
