# Sourced by build.sh inside the copied librdkafka/ tree: small, documented changes to librdkafka's
# tests so they can run against a single-node broker of Kafka 4.x behaviour (the suite assumes a
# 3-broker trivup cluster and older topic-config limits). Each patch must apply, or the build fails.
# Any change here triggers a rebuild (build.sh hashes this file).

patch_sed() {  # patch_sed FILE SED-EXPR EXPECTED-MATCHES WHY
  local file="$1" expr="$2" want="$3" why="$4" before
  before="$(md5sum < "tests/$file")"
  sed -i -E "$expr" "tests/$file"
  if [ "$before" = "$(md5sum < "tests/$file")" ]; then
    echo "patches.sh: patch did not apply to $file: $expr" >&2; return 1
  fi
  echo "patched tests/$file: $why" >> ../patches.log
  [ -n "$want" ] || true
}

: > ../patches.log
# 0103 transactions: creates its topics with replication factor 3 (needs 3 brokers); use 1.
patch_sed 0103-transactions.c \
  's/test_create_topic_wait_exists\(([a-z0-9_]+), ([a-z_]+), ([a-z_0-9]+), 3, 5000\)/test_create_topic_wait_exists(\1, \2, \3, 1, 5000)/' \
  5 "replication factor 3 -> 1 (single-node broker)"
# 0129 fetch aborted msgs: segment.bytes=20000 is below Kafka 4.x's minimum of 1048576.
patch_sed 0129-fetch_aborted_msgs.c 's/"segment.bytes", "20000"/"segment.bytes", "1048576"/' 1 \
  "segment.bytes 20000 -> 1048576 (Kafka >= 4.0 minimum)"
# 0077 compaction: segment.bytes=10000 is below Kafka 4.x's minimum; segment.ms=10000 still rolls.
patch_sed 0077-compaction.c 's/--config segment.bytes=10000 /--config segment.bytes=1048576 /' 1 \
  "segment.bytes 10000 -> 1048576 (Kafka >= 4.0 minimum)"
