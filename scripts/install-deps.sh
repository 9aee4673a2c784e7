#!/usr/bin/env bash
# System packages the Rust build needs beyond the toolchain: rdkafka's bundled librdkafka
# (configure + make, OpenSSL headers for the `ssl` feature), pkg-config. Idempotent and quick
# when everything is present; uses apt-get (Debian) as root or through sudo.
set -euo pipefail
sudo_=""
if [ "$(id -u)" != 0 ]; then sudo_="sudo"; fi
need=()
for pkg in pkg-config libssl-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo_ apt-get update -qq
  $sudo_ apt-get install -y -qq "${need[@]}" >/dev/null
fi
