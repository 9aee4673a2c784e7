#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft, broker+controller in one JVM) on 127.0.0.1 for running
# librdkafka's test suite against the real thing, plus the Kafka CLI tools some tests call.
#
#   kafka.sh start [DIR]   start; prints the bootstrap address (state in DIR, default .kafka/run)
#   kafka.sh stop  [DIR]   stop the broker started there (by its PID)
#   kafka.sh tools         print a KAFKA_PATH whose bin/ has kafka-topics.sh, kafka-configs.sh,
#                          kafka-acls.sh, kafka-run-class.sh (tests 0045 0052 0077 0109 0115 0119)
#   kafka.sh libs          print the directory with Kafka's jars
#
# Jars: Maven resolves interop/java/pom.xml (owned by the interop suite; the Kafka version is set
# there) and copies them to interop/librdkafka/.kafka/libs.
# Env: KAFKA_PARTITIONS (default 4, as librdkafka's default test scenario), KAFKA_HEAP (-Xmx512m),
#      KAFKA_ACLS=1 (default) enables the StandardAuthorizer with allow.everyone.if.no.acl.found=true,
#      as librdkafka's trivup clusters have (0081's ACL sub-tests, 0109, 0115, 0119 need it);
#      KAFKA_ADVERTISED_PORT=N advertises 127.0.0.1:N instead of the listening port (for apiproxy.py).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
kdir="$here/.kafka"
libs="$kdir/libs"
log() { echo "kafka.sh: $*" >&2; }

ensure_libs() {
  local pom="$repo/interop/java/pom.xml"
  [ -f "$pom" ] || pom="$here/kafka-pom/pom.xml"
  local want; want="$(sha256sum "$pom" | cut -d' ' -f1)"
  if [ "$(cat "$kdir/.pom.sha256" 2>/dev/null)" = "$want" ] && compgen -G "$libs/kafka_2.13-*.jar" >/dev/null; then
    return
  fi
  log "resolving Kafka jars from $pom"
  rm -rf "$libs"; mkdir -p "$libs"
  local tmp; tmp="$(mktemp -d)"
  cp "$pom" "$tmp/pom.xml"   # build in a copy: leave the owner's directory untouched
  (cd "$tmp" && { mvn -B -q -o -Dstyle.color=never dependency:copy-dependencies -DoutputDirectory="$libs" >&2 2>/dev/null \
      || mvn -B -q -Dstyle.color=never dependency:copy-dependencies -DoutputDirectory="$libs" >&2; })
  rm -rf "$tmp"
  echo "$want" > "$kdir/.pom.sha256"
}

log4j_conf() {
  cat > "$kdir/log4j2.properties" <<'EOF'
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d{HH:mm:ss,SSS}] %-5p %m (%c{1})%n
rootLogger.level = ${sys:rdk.log.level:-WARN}
rootLogger.appenderRef.err.ref = STDERR
logger.state.name = state.change.logger
logger.state.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
EOF
}

java_run() {  # java_run HEAP LEVEL MAIN ARGS...
  local heap="$1" level="$2"; shift 2
  exec java $heap -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$kdir/log4j2.properties" -Drdk.log.level="$level" -cp "$libs/*" "$@"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cmd="${1:-}"; shift || true
case "$cmd" in
  libs)
    ensure_libs; echo "$libs" ;;
  tools)
    ensure_libs; log4j_conf
    kp="$kdir/path"; mkdir -p "$kp/bin"
    for pair in kafka-topics.sh:org.apache.kafka.tools.TopicCommand \
                kafka-configs.sh:kafka.admin.ConfigCommand \
                kafka-acls.sh:org.apache.kafka.tools.AclCommand \
                kafka-consumer-groups.sh:org.apache.kafka.tools.consumer.group.ConsumerGroupCommand; do
      printf '#!/usr/bin/env bash\nexec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile=%q -cp %q %s "$@"\n' \
        "$kdir/log4j2.properties" "$libs/*" "${pair#*:}" > "$kp/bin/${pair%%:*}"
    done
    printf '#!/usr/bin/env bash\nexec java -Xmx256m -XX:+UseSerialGC -Dlog4j2.configurationFile=%q -cp %q "$@"\n' \
      "$kdir/log4j2.properties" "$libs/*" > "$kp/bin/kafka-run-class.sh"
    chmod +x "$kp/bin/"*.sh
    echo "$kp" ;;
  start)
    run="${1:-$kdir/run}"
    if [ -f "$run/pid" ] && kill -0 "$(cat "$run/pid")" 2>/dev/null; then
      log "already running (pid $(cat "$run/pid"))"; cat "$run/bootstrap"; exit 0
    fi
    ensure_libs; log4j_conf
    rm -rf "$run"; mkdir -p "$run"
    port="$(free_port)"; cport="$(free_port)"
    while [ "$cport" = "$port" ]; do cport="$(free_port)"; done
    acl=""
    [ "${KAFKA_ACLS:-1}" = 1 ] && acl="authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=true"
    cat > "$run/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_ADVERTISED_PORT:-$port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$run/data
num.partitions=${KAFKA_PARTITIONS:-4}
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
delete.topic.enable=true
$acl
EOF
    # the interop harness's id: never one starting with '-', which kafka-storage reads as an option
    cid="$(PYTHONPATH="$here/.." python3 -c 'import kafka_server; print(kafka_server.new_cluster_id())')"
    (java_run -Xmx256m WARN kafka.tools.StorageTool format -t "$cid" -c "$run/server.properties") > "$run/format.log" 2>&1 \
      || { cat "$run/format.log" >&2; exit 1; }
    # shellcheck disable=SC2086
    setsid java ${KAFKA_HEAP:--Xmx512m -Xms256m} -XX:+UseSerialGC -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$kdir/log4j2.properties" -Drdk.log.level=INFO -cp "$libs/*" \
      kafka.Kafka "$run/server.properties" > "$run/kafka.log" 2>&1 < /dev/null &
    echo $! > "$run/pid"
    echo "127.0.0.1:$port" > "$run/bootstrap"
    for _ in $(seq 1 180); do
      if ! kill -0 "$(cat "$run/pid")" 2>/dev/null; then tail -30 "$run/kafka.log" >&2; log "exited"; exit 1; fi
      if grep -q 'Kafka Server started\|\[KafkaRaftServer nodeId=1\] Kafka Server started' "$run/kafka.log"; then
        log "up at 127.0.0.1:$port (pid $(cat "$run/pid"), log $run/kafka.log)"
        echo "127.0.0.1:$port"; exit 0
      fi
      sleep 0.5
    done
    log "did not start in 90s; see $run/kafka.log"; exit 1 ;;
  stop)
    run="${1:-$kdir/run}"
    [ -f "$run/pid" ] || { log "no pid file in $run"; exit 0; }
    pid="$(cat "$run/pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$run/pid"; log "stopped pid $pid" ;;
  *)
    awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0" >&2; exit 2 ;;
esac
