#!/usr/bin/env bash
# CI's run of librdkafka's own test suite against sluice: builds the suite (build.sh, skipped when
# already built), starts a sluice broker on a free port of 127.0.0.1 (`$SLUICE_BIN`, default
# target/debug/sluice), runs the allow-list (allowlist.txt) with run.sh, then the "noautocreate"
# scenario against a second broker with topic auto-creation off. Stops the brokers it started by
# PID. Exit status: 0 when every listed test passed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${SLUICE_BIN:-$repo/target/debug/sluice}"
[ -x "$bin" ] || { echo "ci.sh: no sluice binary at $bin (cargo build -p sluice)" >&2; exit 2; }
"$here/build.sh" || exit 2
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT

# start_broker NAME EXTRA-FLAGS...: starts a broker and sets $addr to its HOST:PORT once it says
# it listens. Not called in a $(...) subshell, so that its PID reaches `pids` for the cleanup.
start_broker() {
  local name="$1"; shift
  # 4 partitions per auto-created topic, as librdkafka's test clusters.
  "$bin" broker --listen 127.0.0.1:0 --no-registry --data-dir "$work/$name" --num-partitions 4 \
    "$@" > "$work/$name.log" 2>&1 &
  pids+=($!)
  addr=""
  for _ in $(seq 100); do
    addr="$(grep -o 'listening on [0-9.]*:[0-9]*' "$work/$name.log" | head -1 | cut -d' ' -f3)"
    [ -n "$addr" ] && return 0
    sleep 0.1
  done
  echo "ci.sh: the $name broker did not start:" >&2; cat "$work/$name.log" >&2; return 1
}

status=0
# No initial rebalance delay (the suite is much faster), except for the tests that rely on Kafka's
# default group.initial.rebalance.delay.ms of 3000, run against a second broker: 0102, and 0118,
# whose two consumers must join the first generation together (without the delay the first one
# can form a generation alone, then revokes on the second's join while not closing, and its
# commit in the revoke callback rightly succeeds, as it would on Kafka with the same setting).
start_broker default --group-initial-rebalance-delay-ms 0 || exit 2
EXCLUDE=0102,0118 "$here/run.sh" "$addr" || status=1
start_broker kafkadefaults || exit 2
"$here/run.sh" "$addr" 0102 0118 || status=1
start_broker noautocreate --auto-create-topics false || exit 2
TEST_SCENARIO=noautocreate "$here/run.sh" "$addr" 0045 || status=1
exit $status
