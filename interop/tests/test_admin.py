"""Topic administration with three admin clients: Kafka's kafka-topics (Java AdminClient),
confluent-kafka's AdminClient (librdkafka) and kafka-python's KafkaAdminClient."""

from __future__ import annotations

import re
import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewPartitions, NewTopic

from helpers import admin, java_tool, topic_name, wait_for_topic

TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
INVALID_TOPIC_EXCEPTION = 17
INVALID_REPLICATION_FACTOR = 38
UNKNOWN_TOPIC_OR_PARTITION = 3

CLIENTS = ["kafka-topics", "confluent", "kafka-python"]


# --- one small adapter per client; each call returns normally or raises AdminError -------

class AdminError(Exception):
    def __init__(self, code: int | None, text: str):
        super().__init__(f"[{code}] {text}")
        self.code = code
        self.text = text


class JavaTopics:
    """kafka-topics. It prints exception names, not codes: map the ones the tests need."""

    NAMES = {
        "TopicExistsException": TOPIC_ALREADY_EXISTS,
        "InvalidPartitionsException": INVALID_PARTITIONS,
        "InvalidTopicException": INVALID_TOPIC_EXCEPTION,
        "InvalidReplicationFactorException": INVALID_REPLICATION_FACTOR,
        "UnknownTopicOrPartitionException": UNKNOWN_TOPIC_OR_PARTITION,
        "does not exist as expected": UNKNOWN_TOPIC_OR_PARTITION,  # its own check, from the topic list
    }

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap

    def _run(self, *args):
        p = java_tool("kafka-topics", "--bootstrap-server", self.bootstrap, *args, check=False, timeout=60)
        if p.returncode != 0:
            out = p.stdout + p.stderr
            code = next((c for n, c in self.NAMES.items() if n in out), None)
            raise AdminError(code, out.strip()[-2000:])
        return p.stdout

    def create(self, name, partitions, rf=1):
        self._run("--create", "--topic", name, "--partitions", str(partitions), "--replication-factor", str(rf))

    def list(self):
        return set(self._run("--list").split())

    def partitions(self, name):
        out = self._run("--describe", "--topic", name)
        m = re.search(r"PartitionCount:\s*(\d+)", out)
        assert m, out
        return int(m.group(1))

    def add_partitions(self, name, total):
        self._run("--alter", "--topic", name, "--partitions", str(total))

    def delete(self, name):
        self._run("--delete", "--topic", name)


class ConfluentAdmin:
    def __init__(self, bootstrap):
        self.a = admin(bootstrap)

    @staticmethod
    def _wait(futures):
        for f in futures.values():
            try:
                f.result(timeout=40)
            except KafkaException as e:
                err = e.args[0]
                raise AdminError(err.code(), f"{err.name()}: {err.str()}") from None

    def create(self, name, partitions, rf=1):
        self._wait(self.a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=rf)],
                                        operation_timeout=30, request_timeout=30))

    def list(self):
        return set(self.a.list_topics(timeout=10).topics)

    def partitions(self, name):
        from confluent_kafka import TopicCollection

        futures = self.a.describe_topics(TopicCollection([name]), request_timeout=10)
        try:
            desc = futures[name].result(timeout=20)
        except KafkaException as e:
            raise AdminError(e.args[0].code(), e.args[0].str()) from None
        return len(desc.partitions)

    def add_partitions(self, name, total):
        self._wait(self.a.create_partitions([NewPartitions(name, total)], operation_timeout=30, request_timeout=30))

    def delete(self, name):
        self._wait(self.a.delete_topics([name], operation_timeout=30, request_timeout=30))


class KafkaPythonAdmin:
    def __init__(self, bootstrap):
        from kafka.admin import KafkaAdminClient

        self.a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)

    def _call(self, fn, *args, **kw):
        from kafka.errors import KafkaError as KPError

        try:
            return fn(*args, **kw)
        except KPError as e:
            raise AdminError(getattr(e, "errno", None), str(e)[:2000]) from None

    def create(self, name, partitions, rf=1):
        from kafka.admin import NewTopic as KNewTopic

        self._call(self.a.create_topics, [KNewTopic(name, partitions, rf)])

    def list(self):
        return set(self._call(self.a.list_topics))

    def partitions(self, name):
        (desc,) = self._call(self.a.describe_topics, [name])
        if desc["error_code"]:
            raise AdminError(desc["error_code"], str(desc))
        return len(desc["partitions"])

    def add_partitions(self, name, total):
        from kafka.admin import NewPartitions as KNewPartitions

        self._call(self.a.create_partitions, {name: KNewPartitions(total)})

    def delete(self, name):
        self._call(self.a.delete_topics, [name])

    def close(self):
        self.a.close()


ADAPTERS = {"kafka-topics": JavaTopics, "confluent": ConfluentAdmin, "kafka-python": KafkaPythonAdmin}


@pytest.fixture(params=CLIENTS)
def client(request, bootstrap):
    c = ADAPTERS[request.param](bootstrap)
    yield c
    if hasattr(c, "close"):
        c.close()


def eventually(check, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(0.2)


# --- tests ------------------------------------------------------------------------------------

def test_create_list_describe_delete(client, bootstrap):
    name = topic_name("admin")
    client.create(name, 4)
    wait_for_topic(bootstrap, name, 4)
    assert name in client.list()
    assert client.partitions(name) == 4
    client.delete(name)
    eventually(lambda: name not in client.list(), what=f"{name} gone from the topic list")


def test_create_existing_topic_is_topic_already_exists(client, bootstrap):
    name = topic_name("dup")
    client.create(name, 2)
    with pytest.raises(AdminError) as e:
        client.create(name, 2)
    assert e.value.code == TOPIC_ALREADY_EXISTS, e.value.text


def test_add_partitions(client, bootstrap):
    name = topic_name("grow")
    client.create(name, 2)
    wait_for_topic(bootstrap, name, 2)
    client.add_partitions(name, 5)
    wait_for_topic(bootstrap, name, 5)
    assert client.partitions(name) == 5


def test_shrinking_partitions_is_invalid_partitions(client, bootstrap):
    name = topic_name("shrink")
    client.create(name, 3)
    wait_for_topic(bootstrap, name, 3)
    with pytest.raises(AdminError) as e:
        client.add_partitions(name, 2)
    assert e.value.code == INVALID_PARTITIONS, e.value.text


# kafka-topics refuses these itself; confluent-kafka refuses negative counts itself
@pytest.mark.parametrize("api,partitions", [("confluent", 0), ("kafka-python", 0), ("kafka-python", -2)])
def test_invalid_partition_count_is_invalid_partitions(api, partitions, bootstrap):
    c = ADAPTERS[api](bootstrap)
    with pytest.raises(AdminError) as e:
        c.create(topic_name("badparts"), partitions)
    assert e.value.code == INVALID_PARTITIONS, e.value.text


@pytest.mark.parametrize("name", ["bad/name", "bad name", "x" * 250, ".", ".."], ids=["slash", "space", "long", "dot", "dotdot"])
@pytest.mark.parametrize("api", ["confluent", "kafka-python"])  # kafka-topics validates names itself
def test_bad_topic_name_is_invalid_topic_exception(api, name, bootstrap):
    c = ADAPTERS[api](bootstrap)
    with pytest.raises(AdminError) as e:
        c.create(name, 1)
    assert e.value.code == INVALID_TOPIC_EXCEPTION, e.value.text


def test_bad_topic_name_with_kafka_topics(bootstrap):
    with pytest.raises(AdminError) as e:
        JavaTopics(bootstrap).create("bad/name", 1)
    assert e.value.code == INVALID_TOPIC_EXCEPTION, e.value.text


def test_replication_factor_above_broker_count_is_invalid_replication_factor(client):
    with pytest.raises(AdminError) as e:
        client.create(topic_name("rf3"), 1, rf=3)
    assert e.value.code == INVALID_REPLICATION_FACTOR, e.value.text


def test_delete_missing_topic_is_unknown_topic(client):
    with pytest.raises(AdminError) as e:
        client.delete(topic_name("missing"))
    assert e.value.code == UNKNOWN_TOPIC_OR_PARTITION, e.value.text


def test_describe_missing_topic_is_unknown_topic(client):
    with pytest.raises(AdminError) as e:
        client.partitions(topic_name("missing"))
    assert e.value.code == UNKNOWN_TOPIC_OR_PARTITION, e.value.text


def test_confluent_describe_topic_details(bootstrap):
    """Leader, replicas and ISR for a single node: the node itself, for every partition."""
    from confluent_kafka import TopicCollection

    name = topic_name("details")
    ConfluentAdmin(bootstrap).create(name, 3)
    wait_for_topic(bootstrap, name, 3)
    a = admin(bootstrap)
    desc = a.describe_topics(TopicCollection([name]))[name].result(timeout=20)
    cluster = a.describe_cluster().result(timeout=20)
    assert len(cluster.nodes) == 1
    node = cluster.nodes[0]
    host, port = bootstrap.rsplit(":", 1)
    assert (node.host, node.port) == (host, int(port))
    assert [p.id for p in desc.partitions] == [0, 1, 2]
    for p in desc.partitions:
        assert p.leader.id == node.id
        assert [r.id for r in p.replicas] == [node.id]
        assert [r.id for r in p.isr] == [node.id]
    assert desc.is_internal is False


def test_confluent_create_topic_with_config_and_describe_configs(bootstrap):
    from confluent_kafka.admin import ConfigResource, ResourceType

    name = topic_name("cfg")
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic(name, num_partitions=1, replication_factor=1,
                                   config={"retention.ms": "3600000", "cleanup.policy": "compact"})])
    fs[name].result(timeout=40)
    # Kafka answers CreateTopics once its controller has the topic; a broker serves it (and its
    # configs) a moment later, so a client waits until metadata shows it, as this one does.
    wait_for_topic(bootstrap, name, 1)
    res = ConfigResource(ResourceType.TOPIC, name)
    configs = a.describe_configs([res])[res].result(timeout=20)
    assert configs["retention.ms"].value == "3600000"
    assert configs["cleanup.policy"].value == "compact"


def test_kafka_python_create_several_topics_in_one_request(bootstrap):
    """Several topics in one CreateTopics request: each gets its own result."""
    from kafka.admin import KafkaAdminClient, NewTopic as KNewTopic

    a = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        names = [topic_name("batch") for _ in range(3)]
        a.create_topics([KNewTopic(n, 1 + i, 1) for i, n in enumerate(names)])
        for i, n in enumerate(names):
            wait_for_topic(bootstrap, n, 1 + i)
    finally:
        a.close()


def test_confluent_mixed_create_topics_request(bootstrap):
    """One request with a good topic, an existing one and a bad name: per-topic error codes."""
    a = admin(bootstrap)
    existing = topic_name("exists")
    a.create_topics([NewTopic(existing, 1, 1)])[existing].result(timeout=40)
    good = topic_name("good")
    fs = a.create_topics([NewTopic(good, 2, 1), NewTopic(existing, 1, 1), NewTopic("bad/name", 1, 1)],
                         operation_timeout=30)
    fs[good].result(timeout=40)
    codes = {}
    for name in (existing, "bad/name"):
        with pytest.raises(KafkaException) as e:
            fs[name].result(timeout=40)
        codes[name] = e.value.args[0].code()
    assert codes == {existing: KafkaError.TOPIC_ALREADY_EXISTS, "bad/name": KafkaError.TOPIC_EXCEPTION}
    wait_for_topic(bootstrap, good, 2)
