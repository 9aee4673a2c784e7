#!/usr/bin/env bash
# Producer throughput with librdkafka's examples/rdkafka_performance (built by
# interop/librdkafka/build.sh) against a broker given by address, or against librdkafka's
# in-memory mock broker for a client-bound ceiling.
#
#   bench/broker/rdkafka_perf.sh 127.0.0.1:9092     # a running broker (sluice, Kafka, ...)
#   bench/broker/rdkafka_perf.sh mock               # librdkafka's mock cluster (1 broker)
#
# Defaults: 1,000,000 records of 100 bytes, acks=all (-a -1), lz4, enable.idempotence=true,
# linger.ms=20, batch.size=32768, into a fresh topic (auto-created by the broker; partition
# chosen by the client's partitioner). Override with env:
#   MSGS=1000000 SIZE=100 CODEC=lz4 ACKS=-1 LINGER_MS=20 BATCH_SIZE=32768 IDEMPOTENCE=true
#   TOPIC=rdkperf-<time>  EXTRA="-X k=v ..."
#   CONSUME=1 PARTITIONS=3   then read the records back from partitions 0..PARTITIONS-1
# Prints records/s and MB/s (MB = 10^6 bytes of record values, as rdkafka_performance counts).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
lib="$repo/interop/librdkafka"
perf="$lib/.build/librdkafka/examples/rdkafka_performance"
if [ $# -lt 1 ]; then awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0" >&2; exit 2; fi
target="$1"; shift
[ -x "$perf" ] || "$lib/build.sh"
export LD_LIBRARY_PATH="$lib/.build/librdkafka/src${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

msgs="${MSGS:-1000000}"; size="${SIZE:-100}"; codec="${CODEC:-lz4}"; acks="${ACKS:--1}"
topic="${TOPIC:-rdkperf-$(date +%s)-$$}"
common=()
if [ "$target" = mock ]; then
  common+=(-X test.mock.num.brokers=1 -b 127.0.0.1:1)   # -b is ignored by the mock cluster
else
  common+=(-b "$target")
fi
# shellcheck disable=SC2206
extra=(${EXTRA:-})

echo "rdkafka_perf: $msgs x ${size}B to $target topic $topic, acks=$acks, $codec," \
  "idempotence=${IDEMPOTENCE:-true}, linger.ms=${LINGER_MS:-20}, batch.size=${BATCH_SIZE:-32768}" >&2
out="$("$perf" -P -t "$topic" -s "$size" -c "$msgs" -a "$acks" -z "$codec" -q \
  -X enable.idempotence="${IDEMPOTENCE:-true}" -X linger.ms="${LINGER_MS:-20}" \
  -X batch.size="${BATCH_SIZE:-32768}" "${common[@]}" "${extra[@]}" 2>&1)" || { echo "$out" >&2; exit 1; }
line="$(grep 'messages produced' <<< "$out" | tail -1)"
[ -n "$line" ] || { echo "$out" >&2; echo "rdkafka_perf: no summary line" >&2; exit 1; }
echo "$line" >&2
# "% N messages produced (B bytes), D delivered (offset O, F failed) in Tms: R msgs/s and M MB/s, ..."
rc=0
python3 - "$line" "$msgs" <<'EOF' || rc=$?
import re, sys
line, want = sys.argv[1], int(sys.argv[2])
m = re.search(r"(\d+) delivered \(offset -?\d+, (\d+) failed\) in (\d+)ms: (\d+) msgs/s and ([\d.]+) MB/s", line)
dl, failed, ms, rate, mbs = int(m[1]), int(m[2]), int(m[3]), int(m[4]), float(m[5])
print(f"produce: {dl} records delivered ({failed} failed) in {ms / 1000:.2f}s: {rate:,} records/s, {mbs:.1f} MB/s")
sys.exit(0 if dl == want and failed == 0 else 1)
EOF

if [ "${CONSUME:-0}" = 1 ] && [ "$target" != mock ]; then
  # Read partitions 0..PARTITIONS-1 (default 3, the sluice/interop default) from the beginning.
  nparts="${PARTITIONS:-3}"
  pargs=(); for ((p = 0; p < nparts; p++)); do pargs+=(-p "$p"); done
  cout="$("$perf" -C -t "$topic" "${pargs[@]}" -o beginning -c "$msgs" -q "${common[@]}" "${extra[@]}" 2>&1)" \
    || { echo "$cout" >&2; exit 1; }
  cline="$(grep 'consumed in' <<< "$cout" | tail -1)"
  echo "$cline" >&2
  python3 - "$cline" <<'EOF'
import re, sys
m = re.search(r"(\d+) messages \((\d+) bytes\) consumed in (\d+)ms: (\d+) msgs/s \(([\d.]+) MB/s\)", sys.argv[1])
print(f"consume: {int(m[1])} records in {int(m[3]) / 1000:.2f}s: {int(m[4]):,} records/s, {float(m[5]):.1f} MB/s")
EOF
fi
exit $rc
