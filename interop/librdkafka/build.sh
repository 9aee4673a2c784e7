#!/usr/bin/env bash
# Builds librdkafka's own test suite (tests/test-runner) and examples/rdkafka_performance from the
# librdkafka sources bundled in the rdkafka-sys crate that the workspace's `rdkafka` dependency
# resolves to. gcc + make only (no cmake). Output: interop/librdkafka/.build/librdkafka/ (gitignored).
#
#   interop/librdkafka/build.sh          # idempotent: skips work when already built for that version
#   FORCE=1 interop/librdkafka/build.sh  # rebuild from a fresh copy
#
# Configure flags mirror what rdkafka-sys passes for the workspace features libz, ssl, zstd
# (and no curl, no SASL/GSSAPI, builtin lz4).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$here/.build"
src="$build/librdkafka"
stamp="$build/.built-version"
log() { echo "build.sh: $*" >&2; }
t0=$(date +%s)

# --- 1. find the rdkafka-sys source ---------------------------------------------------------
# Prints the manifest path of rdkafka-sys in `cargo metadata` of the given manifest (or nothing).
rdkafka_sys_manifest() {
  cargo metadata --format-version 1 --manifest-path "$1" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for p in d["packages"]:
    if p["name"] == "rdkafka-sys":
        print(p["manifest_path"]); break
' || true
}

manifest=""
if [ -f "$repo/Cargo.lock" ] && grep -q '^name = "rdkafka-sys"' "$repo/Cargo.lock"; then
  manifest="$(rdkafka_sys_manifest "$repo/Cargo.toml")"
  [ -n "$manifest" ] && log "rdkafka-sys from the workspace's Cargo.lock"
fi
if [ -z "$manifest" ]; then
  # Fallback: a throwaway project with the workspace's rdkafka requirement, so that cargo picks
  # the same rdkafka-sys the workspace would.
  req="$(sed -n 's/^rdkafka *= *\(.*\)$/\1/p' "$repo/Cargo.toml" | head -1)"
  [ -n "$req" ] || req='{ version = "0.39", default-features = false, features = ["libz","tokio","ssl","zstd"] }'
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/src"
  printf '[package]\nname = "rdkafka-sys-probe"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nrdkafka = %s\n' \
    "$req" > "$tmp/Cargo.toml"
  echo 'fn main() {}' > "$tmp/src/main.rs"
  log "rdkafka-sys via a throwaway project: rdkafka = $req"
  (cd "$tmp" && cargo fetch -q)
  manifest="$(rdkafka_sys_manifest "$tmp/Cargo.toml")"
  if [ -z "$manifest" ]; then  # last resort: newest rdkafka-sys in cargo's registry
    manifest="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/rdkafka-sys-*/Cargo.toml | sort -V | tail -1)"
  fi
fi
sys_dir="$(dirname "$manifest")"
[ -d "$sys_dir/librdkafka/tests" ] || { log "no librdkafka/tests under $sys_dir"; exit 1; }
version="$(basename "$sys_dir")"   # e.g. rdkafka-sys-4.10.0+2.12.1
# The build is redone when the crate version, this script or the test patches change.
version="$version $(cat "$here/build.sh" "$here/patches.sh" | sha256sum | cut -c1-12)"
log "using $sys_dir"

# --- 2. skip when already built --------------------------------------------------------------
if [ -z "${FORCE:-}" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ] \
   && [ -x "$src/tests/test-runner" ] && [ -x "$src/examples/rdkafka_performance" ]; then
  log "already built for $version ($src); FORCE=1 rebuilds"
  exit 0
fi

# --- 3. build dependencies (Debian) ----------------------------------------------------------
need=()
# rapidjson-dev: the tests that check statistics JSON (0053 0098 0101 0110) skip without it.
for pkg in gcc g++ make libssl-dev zlib1g-dev libzstd-dev rapidjson-dev python3; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  log "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_ apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || { $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq "${need[@]}" >/dev/null; }
fi

# --- 4. copy and build -----------------------------------------------------------------------
rm -rf "$src" "$stamp"
mkdir -p "$build"
cp -a "$sys_dir/librdkafka" "$src"
chmod -R u+w "$src"
cd "$src"
log "patching tests for a single-node broker (patches.sh)"
# shellcheck source=patches.sh
. "$here/patches.sh"
jobs="${JOBS:-$(nproc)}"
log "configure"
./configure --disable-curl --disable-sasl --disable-gssapi --enable-ssl --enable-zstd \
  --disable-lz4-ext > "$build/configure.log" 2>&1 || { tail -30 "$build/configure.log"; exit 1; }
log "make libs (-j$jobs)"
make -j"$jobs" libs > "$build/make-libs.log" 2>&1 || { tail -30 "$build/make-libs.log"; exit 1; }
log "make -C tests build"
make -C tests -j"$jobs" build > "$build/make-tests.log" 2>&1 || { tail -30 "$build/make-tests.log"; exit 1; }
log "make -C examples rdkafka_performance"
make -C examples rdkafka_performance > "$build/make-examples.log" 2>&1 \
  || { tail -30 "$build/make-examples.log"; exit 1; }
echo "$version" > "$stamp"
grep -q '^#define WITH_RAPIDJSON 1' config.h || log "warning: built without RapidJSON (tests 0053 0098 0101 0110 will skip)"
log "built $version in $(( $(date +%s) - t0 ))s: $src/tests/test-runner, $src/examples/rdkafka_performance"
