"""Checks of the test harness itself (interop/kafka_server.py), which no broker test would catch
until it failed at random."""

from kafka_server import new_cluster_id


def test_cluster_ids_never_start_with_a_dash():
    # kafka-storage format -t ID takes an id starting with '-' for an option and fails; one random
    # id in 64 starts so. 5,000 draws without the redraw would all miss it with p ~ 1e-34.
    ids = [new_cluster_id() for _ in range(5_000)]
    assert all(len(i) == 22 for i in ids)
    assert not [i for i in ids if i.startswith("-")]
