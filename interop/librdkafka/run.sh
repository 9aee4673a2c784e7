#!/usr/bin/env bash
# Runs librdkafka's own test suite (built by build.sh) against a broker given by address.
#
#   interop/librdkafka/run.sh BOOTSTRAP                 # the tests in allowlist.txt
#   interop/librdkafka/run.sh BOOTSTRAP 0001 0012 0081  # these test numbers
#   interop/librdkafka/run.sh BOOTSTRAP all             # every test that needs a broker
#
# Each test number runs in its own `test-runner -p1 -Q -E -L` process (quick mode, no socket
# emulation, no broker-less local/mock tests): the runner SIGKILLs itself when a test times out,
# so one process per number keeps one hang from losing the rest of the run.
#
# Environment:
#   SKIP_TAGS=group,txn      with the allow-list: leave out tests tagged with these features
#   EXCLUDE=0102,0103        with the allow-list: leave out these test numbers
#   ONLY_TAGS=core           with the allow-list: run only tests with these tags
#   TEST_KAFKA_VERSION=4.1.0 the broker version the suite assumes (enables 4.x code paths: group
#                            configs in 0081, no MsgVersion 1 in 0092, ...)
#   QUICK=1                  -Q: quick mode. Note: it skips every sub-test not marked
#                            SUB_TEST_QUICK, so some tests do (almost) nothing; QUICK=0 runs them all
#   TEST_TIMEOUT=600         wall-clock seconds per test number (on top of the suite's own)
#   KAFKA_TOOLS=1            provide KAFKA_PATH/BROKERS with Kafka's Java CLI tools (via
#                            kafka.sh tools) for tests that shell out to kafka-topics.sh etc.;
#                            0 to run without (those tests then skip or fail)
#   TEST_EXTRA_CONF="k=v ..." extra librdkafka properties for test.conf
#   TEST_RUNNER_ARGS="..."    extra test-runner arguments (e.g. -P for idempotent producers)
#   KEEP_GOING=0              stop at the first failure
# Output: a summary table, logs per test under .runs/<timestamp>/, results in summary.tsv there.
# Exit status: 0 when every requested test passed or skipped itself, 1 otherwise.
set -uo pipefail
# The whole script is one function, parsed before it runs: editing this file mid-run is safe.
main() {
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tests_dir="$here/.build/librdkafka/tests"
src_dir="$here/.build/librdkafka"

if [ $# -lt 1 ] || [[ "$1" == -* ]]; then awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0" >&2; exit 2; fi
bootstrap="$1"; shift
if [ ! -x "$tests_dir/test-runner" ]; then
  echo "run.sh: no test-runner; running build.sh first" >&2
  "$here/build.sh" || exit 2
fi

# --- which test numbers -----------------------------------------------------------------------
declare -a nums
declare -a listed
declare -A tag_of
declare -A mode_of
# Tags and modes come from the allow-list whichever tests are run.
while read -r num name tag mode _; do
  [[ -z "$num" || "$num" == \#* ]] && continue
  tag_of[$num]="$tag"
  mode_of[$num]="${mode:-}"
  if [ -n "${ONLY_TAGS:-}" ] && [[ ",$ONLY_TAGS," != *",$tag,"* ]]; then continue; fi
  if [ -n "${SKIP_TAGS:-}" ] && [[ ",$SKIP_TAGS," == *",$tag,"* ]]; then continue; fi
  if [ -n "${EXCLUDE:-}" ] && [[ ",$EXCLUDE," == *",$num,"* ]]; then continue; fi
  listed+=("$num")
done < "$here/allowlist.txt"
if [ $# -eq 0 ]; then
  nums=("${listed[@]}")
elif [ "$1" = all ]; then
  # Every number with at least one entry that is neither local (no broker) nor manual.
  mapfile -t nums < <(python3 - "$tests_dir/test.c" <<'EOF'
import re, sys
s = open(sys.argv[1]).read()
start = s.index("struct test tests[] = {")
body = s[start:s.index("{NULL}", start)]
seen = []
for m in re.finditer(r"_TEST\((\w+),\s*([^,)]*)", body):
    num, flags = m.group(1).split("_")[0], m.group(2)
    if "TEST_F_LOCAL" in flags or "TEST_F_MANUAL" in flags:
        continue
    if num not in seen:
        seen.append(num)
print("\n".join(seen))
EOF
)
else
  for a in "$@"; do nums+=("$(printf '%04d' "$((10#$a))")"); done
fi
[ ${#nums[@]} -gt 0 ] || { echo "run.sh: no tests selected" >&2; exit 2; }

# --- configuration ---------------------------------------------------------------------------
run_dir="$here/.runs/$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$run_dir"
conf="$run_dir/test.conf"
{
  echo "bootstrap.servers=$bootstrap"
  for kv in ${TEST_EXTRA_CONF:-}; do echo "$kv"; done
} > "$conf"
# The suite also reads its test.conf from the tests directory by default; keep one there too so
# a hand-run ./test-runner points at the same broker.
cp "$conf" "$tests_dir/test.conf"

export RDKAFKA_TEST_CONF="$conf"
export TEST_KAFKA_VERSION="${TEST_KAFKA_VERSION:-4.1.0}"
export LD_LIBRARY_PATH="$src_dir/src:$src_dir/src-cpp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ "${KAFKA_TOOLS:-1}" != 0 ]; then
  if kp="$("$here/kafka.sh" tools 2>/dev/null)"; then
    export KAFKA_PATH="$kp" BROKERS="$bootstrap"
  else
    echo "run.sh: Kafka's CLI tools unavailable; tests that shell out to them will skip or fail" >&2
  fi
fi
timeout_s="${TEST_TIMEOUT:-600}"
# shellcheck disable=SC2206
runner_args=(-p1 -E -L ${TEST_RUNNER_ARGS:-})
[ "${QUICK:-1}" = 0 ] || runner_args+=(-Q)

echo "run.sh: ${#nums[@]} test number(s) against $bootstrap (TEST_KAFKA_VERSION=$TEST_KAFKA_VERSION," \
  "QUICK=${QUICK:-1}, KAFKA_PATH=${KAFKA_PATH:-unset}); logs in $run_dir" >&2

# --- run ---------------------------------------------------------------------------------------
summary="$run_dir/summary.tsv"
printf 'number\ttest\tstatus\tseconds\tnote\n' > "$summary"
failed=0; n_pass=0; n_fail=0; n_skip=0
t_all=$(date +%s.%N)
cd "$tests_dir" || exit 2
for num in "${nums[@]}"; do
  log="$run_dir/$num.log"
  t0=$(date +%s.%N)
  args=("${runner_args[@]}")
  # "full" in the allow-list: the test does (almost) nothing in quick mode, so it runs without -Q.
  if [ "${mode_of[$num]:-}" = full ]; then
    args=(); for a in "${runner_args[@]}"; do [ "$a" = -Q ] || args+=("$a"); done
  fi
  TESTS="$num" timeout -k 10 "$timeout_s" ./test-runner "${args[@]}" > "$log" 2>&1
  rc=$?
  secs=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')")
  rm -f stats_*.json
  # Summary rows look like: |<color> 0012_produce_consume   |     PASSED |   3.123s <color>|
  rows="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | awk -F'|' -v n="$num" '
      $2 ~ "^ *"n"_" { gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $3); gsub(/^ +|s? *$/, "", $4);
                       print $2 "\t" $3 "\t" $4 }' | sort -u -t$'\t' -k1,1)"
  note=""
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    note="killed after ${timeout_s}s"
  fi
  status="PASSED"
  if [ -z "$rows" ]; then
    status=$([ $rc -eq 0 ] && echo "SKIPPED" || echo "FAILED")
    rows="${num}\t${status}\t${secs}"
    rows="$(printf '%b' "$rows")"
  fi
  if [ $rc -ne 0 ] || grep -q $'\tFAILED\t\|\tRUNNING\t' <<< "$rows"; then
    status="FAILED"
    # The first failure report: '### Test "NAME (subtest)" failed at FILE:LINE:FUNC() at DATE: ###'
    # and its message on the next line.
    [ -z "$note" ] && note="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
        /^### Test "/ && !/"<MAIN>"/ { sub(/ at [A-Z][a-z][a-z] [A-Z][a-z][a-z] .*$/, ""); sub(/^### Test /, ""); h = $0; getline; print h ": " $0; exit }' \
      | cut -c1-300 | tr '\t' ' ')"
    [ -z "$note" ] && note="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -m1 -E 'timed out|Assertion|FAIL' | cut -c1-300 | tr '\t' ' ')"
    [ -z "$note" ] && note="exit status $rc"
  elif ! grep -q $'\tPASSED\t' <<< "$rows"; then
    status="SKIPPED"
    note="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -m1 -iE 'SKIP' | cut -c1-200 | tr '\t' ' ')"
  fi
  while IFS=$'\t' read -r tname tstatus tsecs; do
    printf '%s\t%s\t%s\t%s\t%s\n' "$num" "$tname" "$tstatus" "$tsecs" "" >> "$summary"
  done <<< "$rows"
  printf '%s\t%s\t%s\t%s\t%s\n' "$num" "(process)" "$status" "$secs" "$note" >> "$summary"
  case "$status" in
    PASSED) n_pass=$((n_pass+1)); mark="ok  " ;;
    SKIPPED) n_skip=$((n_skip+1)); mark="skip" ;;
    *) n_fail=$((n_fail+1)); failed=1; mark="FAIL" ;;
  esac
  tag="${tag_of[$num]:-}"
  printf '%s %s %-7s %6.1fs  %s\n' "$mark" "$num" "${tag:-}" "$secs" \
    "$(echo "$rows" | awk -F'\t' '{printf "%s%s=%s", (NR>1?" ":""), $1, $2}')" >&2
  [ "$status" = FAILED ] && [ -n "$note" ] && echo "         $note" >&2
  if [ "$status" = FAILED ] && [ "${KEEP_GOING:-1}" = 0 ]; then break; fi
done
total=$(python3 -c "print(f'{$(date +%s.%N) - $t_all:.0f}')")
echo "run.sh: $n_pass passed, $n_fail failed, $n_skip skipped (of ${#nums[@]} test numbers) in ${total}s;" \
  "details: $summary" >&2
if [ $n_fail -gt 0 ]; then
  echo "run.sh: failed:" "$(awk -F'\t' '$2=="(process)" && $3=="FAILED" {printf "%s ", $1}' "$summary")" >&2
fi
exit $failed
}
main "$@"
exit $?
