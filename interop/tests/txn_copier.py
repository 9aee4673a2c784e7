"""A transactional read-process-write loop with librdkafka (confluent-kafka), run as its own
process so a test can SIGKILL it at any point and start it again.

    python txn_copier.py BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID TOTAL

Consumes INPUT (group GROUP, read_committed), writes each value upper-cased to OUTPUT and the
consumed offsets to the transaction, committing every few records; exits 0 once the group's
committed offsets cover TOTAL input records. Prints "committed N" after each commit.
"""

from __future__ import annotations

import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def main(argv: list[str]) -> int:
    bootstrap, inp, out, group, tid, total = argv[1:7]
    total = int(total)
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        # Static membership: a restarted copier takes its place back at once instead of waiting
        # for the killed incarnation's session to expire.
        "group.instance.id": f"{tid}-instance",
    })
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid, "transaction.timeout.ms": 10000})
    p.init_transactions(30)
    c.subscribe([inp])
    done = 0
    try:
        while True:
            msgs = [m for m in c.consume(num_messages=7, timeout=0.5) if m.error() is None]
            if not msgs:
                committed = c.committed(c.assignment(), timeout=10) if c.assignment() else []
                if committed and sum(max(tp.offset, 0) for tp in committed) >= total:
                    return 0
                continue
            p.begin_transaction()
            for m in msgs:
                p.produce(out, key=m.key(), value=m.value().upper())
            nxt: dict[tuple[str, int], int] = {}
            for m in msgs:
                nxt[(m.topic(), m.partition())] = m.offset() + 1
            offsets = [TopicPartition(t, part, o) for (t, part), o in nxt.items()]
            p.send_offsets_to_transaction(offsets, c.consumer_group_metadata(), 30)
            try:
                p.commit_transaction(30)
            except KafkaException as e:
                if e.args[0].txn_requires_abort():
                    p.abort_transaction(30)
                    # Rewind to the committed offsets and process those records again.
                    for tp in c.committed(c.assignment(), timeout=10):
                        c.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)))
                    continue
                raise
            done += len(msgs)
            print(f"committed {done}", flush=True)
            time.sleep(0.02)  # a steady pace, so that kills land in the middle of the work
    finally:
        c.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
