#!/usr/bin/env bash
# Prepares an x86-64 Debian 12 machine (as root) to cross-build Xpressify for aarch64 and to
# run the results under qemu. Idempotent: installs only what is missing.
set -euo pipefail
need=()
dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
for pkg in rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static jq; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
/usr/bin/rustc --print target-libdir --target aarch64-unknown-linux-gnu >/dev/null
echo "cross/setup.sh: ready ($(/usr/bin/rustc --version), $(aarch64-linux-gnu-gcc --version | head -1))"
