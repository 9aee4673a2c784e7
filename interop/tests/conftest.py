"""Runs every test once per broker: sluice's and a real Apache Kafka.

INTEROP_BROKERS=sluice,kafka (the default) picks which, in that order; test ids end in
[sluice] or [kafka]. A broker is started once per session; if it dies during a test, that
test fails with the broker's log tail and the broker is started again for the next one.
"""

from __future__ import annotations

import os

import pytest

from kafka_server import SERVERS

BROKERS = [b.strip() for b in os.environ.get("INTEROP_BROKERS", "sluice,kafka").split(",") if b.strip()]
for _b in BROKERS:
    if _b not in SERVERS:
        raise pytest.UsageError(f"INTEROP_BROKERS: unknown broker {_b!r} (known: {', '.join(SERVERS)})")


@pytest.fixture(scope="session", params=BROKERS)
def broker(request):
    server = SERVERS[request.param]()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def bootstrap(broker) -> str:
    """host:port of the broker under test."""
    return broker.bootstrap


@pytest.fixture
def broker_name(broker) -> str:
    return broker.name


@pytest.fixture(autouse=True)
def _broker_watch(request):
    """Fail a test during which the broker died, attach its log on failure, restart it."""
    if "broker" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("broker")
    try:
        start = server.log_path.stat().st_size
    except OSError:
        start = 0
    request.node._interop_broker = (server, start)
    yield
    if server.proc is not None and server.proc.poll() is not None:
        rc = server.proc.returncode
        tail = server.log_tail(60)
        server.proc = None
        server.start()
        pytest.fail(f"{server.name} broker exited with {rc} during this test (restarted); log tail:\n{tail}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    info = getattr(item, "_interop_broker", None)
    if info and report.failed and call.when == "call":
        server, start = info
        try:
            with open(server.log_path, "rb") as f:
                f.seek(start)
                lines = f.read().decode(errors="replace").splitlines()
            if lines:
                report.sections.append((f"{server.name} broker log during this test (last 50 lines)",
                                        "\n".join(lines[-50:])))
        except OSError:
            pass
    return report
