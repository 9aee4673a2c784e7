"""One consumer-group member, run as its own process so a test can SIGKILL it like a crash.

    python group_member.py CLIENT BOOTSTRAP TOPIC GROUP [ASSIGNOR]

CLIENT is `confluent` (librdkafka) or `kafka-python`. Prints one JSON object per line on
stdout: {"assigned": [partitions]} after every rebalance, {"rec": [partition, offset, value]}
per record processed. Offsets are committed synchronously after each processed batch
("commit after processing"), so a crash never loses a record; at most it repeats some.
Exits on SIGTERM after closing the consumer (which leaves the group).
With GROUP_MEMBER_LOG_DIR set, the client library's debug log goes to member-<pid>.log there.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys

SESSION_TIMEOUT_MS = 10000
HEARTBEAT_MS = 500

stop = False


def _term(*_):
    global stop
    stop = True


def emit(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def run_confluent(bootstrap: str, topic: str, group: str, assignor: str) -> None:
    from confluent_kafka import Consumer

    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_MS,
        "partition.assignment.strategy": assignor,
    })
    cooperative = assignor == "cooperative-sticky"
    owned: set[int] = set()

    def on_assign(consumer, parts):
        owned.update(p.partition for p in parts)
        if cooperative:
            consumer.incremental_assign(parts)
        emit({"assigned": sorted(owned)})

    def on_revoke(consumer, parts):
        owned.difference_update(p.partition for p in parts)
        if cooperative:
            consumer.incremental_unassign(parts)
        emit({"assigned": sorted(owned)})

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    try:
        while not stop:
            msgs = c.consume(num_messages=100, timeout=0.2)
            batch = [m for m in msgs if m.error() is None]
            for m in batch:
                emit({"rec": [m.partition(), m.offset(), m.value().decode()]})
            if batch:
                c.commit(asynchronous=False)
    finally:
        c.close()


def run_kafka_python(bootstrap: str, topic: str, group: str, assignor: str) -> None:
    from kafka import ConsumerRebalanceListener, KafkaConsumer
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

    strategies = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor,
                  "sticky": StickyPartitionAssignor}
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_MS,
        partition_assignment_strategy=[strategies[assignor]],
    )

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            emit({"assigned": []})

        def on_partitions_assigned(self, assigned):
            emit({"assigned": sorted(tp.partition for tp in assigned)})

    c.subscribe([topic], listener=Listener())
    try:
        while not stop:
            got = c.poll(timeout_ms=200)
            _unstick_kafka_python(c)
            n = 0
            for _tp, msgs in got.items():
                for m in msgs:
                    emit({"rec": [m.partition, m.offset, m.value.decode()]})
                    n += 1
            if n:
                c.commit()
    finally:
        c.close()


def _unstick_kafka_python(c) -> None:
    """Works around a kafka-python 3.0.12 race in the client (nothing a broker can prevent).

    A leader that assigned before it knew the topic's partitions rejoins once its metadata has
    them (need_rejoin() is True only because the snapshots differ). If poll()'s
    timer runs out while that JoinGroup/SyncGroup is in flight, the join finishes in the
    background and makes the snapshots equal, so the next poll() sees need_rejoin() False and
    never takes the join's result: the member stays out of the STABLE state, sends no
    heartbeats, gets no assignment, and the coordinator expires its session. Asking for a
    rejoin in that state makes the next poll() join again, which completes normally."""
    coord = getattr(c, "_coordinator", None)
    task = getattr(coord, "_join_task", None)
    if task is not None and task.is_done and not coord.need_rejoin():
        logging.getLogger("group_member").warning("kafka-python left a finished join untaken; rejoining")
        coord.request_rejoin()


def main(argv: list[str]) -> int:
    if os.environ.get("GROUP_MEMBER_LOG_DIR"):
        # Diagnostics: the client library's debug log, one file per member process.
        logging.basicConfig(filename=os.path.join(os.environ["GROUP_MEMBER_LOG_DIR"], f"member-{os.getpid()}.log"),
                            level=logging.DEBUG, format="%(asctime)s %(threadName)s %(name)s %(message)s")
    client, bootstrap, topic, group = argv[1:5]
    assignor = argv[5] if len(argv) > 5 else "range"
    signal.signal(signal.SIGTERM, _term)
    {"confluent": run_confluent, "kafka-python": run_kafka_python}[client](bootstrap, topic, group, assignor)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
