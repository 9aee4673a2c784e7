#!/usr/bin/env bash
# Installs what the interop suite needs; idempotent, and quick when all is there.
#   - kcat from Debian (1.7.1 on librdkafka 2.0.2 in Debian 12)
#   - interop/.venv with the pinned packages of interop/requirements.txt
#   - Apache Kafka's jars (version: kafka.version in interop/java/pom.xml) in interop/.kafka/libs
# Needs only package registries (apt, PyPI, Maven Central). Works as root or with sudo.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
log() { echo "setup: $*" >&2; }
sudo_=""
if [ "$(id -u)" != 0 ]; then sudo_="sudo"; fi

# --- system packages --------------------------------------------------------
need_apt=()
command -v kcat >/dev/null || need_apt+=(kcat)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn  >/dev/null || need_apt+=(maven)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo_ apt-get install -y -qq "${need_apt[@]}" >/dev/null 2>&1; then
    $sudo_ apt-get update -qq
    $sudo_ apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
fi

# --- Python venv --------------------------------------------------------------
py="${PYTHON:-python3}"
stamp=".venv/.requirements.sha256"
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "creating interop/.venv"
  "$py" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi

# --- Apache Kafka jars --------------------------------------------------------
stamp=".kafka/.pom.sha256"
want="$(sha256sum java/pom.xml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! compgen -G ".kafka/libs/kafka_2.13-*.jar" >/dev/null; then
  log "fetching Apache Kafka jars with Maven"
  rm -rf .kafka/libs
  mkdir -p .kafka
  (cd java && mvn -B -q -Dstyle.color=never dependency:copy-dependencies -DoutputDirectory="$here/.kafka/libs")
  echo "$want" > "$stamp"
fi
kafka_jar="$(cd .kafka/libs && ls kafka_2.13-*.jar)"
kafka_version="${kafka_jar#kafka_2.13-}"
log "ready: kcat $(kcat -V 2>&1 | grep -o 'Version [0-9.]*' | head -1 | cut -d' ' -f2)," \
  "Kafka ${kafka_version%.jar}," \
  "$(.venv/bin/python -c 'import confluent_kafka as c, kafka; print("confluent-kafka", c.version(), "(librdkafka", c.libversion()[0] + "), kafka-python", kafka.__version__)')"
