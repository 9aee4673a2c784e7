#!/usr/bin/env bash
# Installs what bench/stream needs besides interop/setup.sh (Kafka's JDK 17, interop/.venv);
# idempotent, and quick when all is there. Needs only PyPI and Maven Central.
#   - bench/stream/.venv: pyspark (PyPI) for the Spark side, run as its own process
#   - bench/stream/.spark-jars: spark-sql-kafka-0-10 and its dependencies that pyspark does not
#     ship (Maven Central, pom.xml here); spark-protobuf if the mirror has it
#   - bench/stream/.spark-jars/sluice-bench-udf.jar: a Java UDF that decodes UserEvent with
#     protobuf-java's DynamicMessage from the .desc (what spark-protobuf's from_protobuf does),
#     used when spark-protobuf cannot be fetched
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"
log() { echo "bench/stream setup: $*" >&2; }
PYSPARK_VERSION=4.2.0   # = spark.version in pom.xml (pyspark 4.3.0 is on PyPI, its jars are not on Central)

"$repo/interop/setup.sh"
for tool in java javac jar mvn; do
  command -v "$tool" >/dev/null || { log "$tool is missing (apt-get install openjdk-17-jdk-headless maven)"; exit 1; }
done

# --- pyspark -----------------------------------------------------------------
if ! .venv/bin/python -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$PYSPARK_VERSION')" 2>/dev/null; then
  log "creating bench/stream/.venv with pyspark $PYSPARK_VERSION"
  "${PYTHON:-python3}" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check "pyspark==$PYSPARK_VERSION"
fi
spark_jars="$(.venv/bin/python -c 'import pyspark, os; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')"

# --- connector jars ------------------------------------------------------------
stamp=".spark-jars/.pom.sha256"
want="$(cat pom.xml setup.sh spark/UserEventDecoder.java | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "fetching spark-sql-kafka-0-10 and its dependencies with Maven"
  rm -rf .spark-jars .spark-jars.tmp
  mkdir -p .spark-jars .spark-jars.tmp
  (mvn -B -q -Dstyle.color=never dependency:copy-dependencies -DincludeScope=runtime \
     -DoutputDirectory="$here/.spark-jars.tmp")
  # keep only the artifacts pyspark does not ship (same name, other version would clash)
  for j in .spark-jars.tmp/*.jar; do
    base="$(basename "$j" .jar)"; artifact="${base%-[0-9]*}"
    if compgen -G "$spark_jars/$artifact-[0-9]*.jar" >/dev/null; then continue; fi
    mv "$j" .spark-jars/
  done
  rm -rf .spark-jars.tmp
  # spark-protobuf: not on every Maven Central mirror; the Java UDF below stands in without it
  v="$(grep -o '<spark.version>[^<]*' pom.xml | cut -d'>' -f2)"
  if mvn -B -q -Dstyle.color=never dependency:copy -Dartifact="org.apache.spark:spark-protobuf_2.13:$v" \
       -DoutputDirectory="$here/.spark-jars" >/dev/null 2>&1; then
    log "spark-protobuf $v fetched: from_protobuf decodes UserEvent"
  else
    log "spark-protobuf $v is not on this Maven Central: the DynamicMessage UDF decodes UserEvent"
  fi
  # the UDF, with the descriptor set as a resource
  rm -rf .udf-build && mkdir -p .udf-build/classes
  javac --release 17 -nowarn -d .udf-build/classes -cp "$spark_jars/*:.spark-jars/*" spark/UserEventDecoder.java
  cp "$repo/crates/sluice-formats/proto/user_event.desc" .udf-build/classes/
  jar cf .spark-jars/sluice-bench-udf.jar -C .udf-build/classes .
  rm -rf .udf-build
  echo "$want" > "$stamp"
fi
log "ready: pyspark $PYSPARK_VERSION, $(ls .spark-jars/*.jar | xargs -n1 basename | tr '\n' ' ')"
