#!/usr/bin/env bash
# Builds the release binaries for the Raspberry Pi (aarch64):
#   cross/setup.sh && cross/build.sh
# Output: $CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/pi/{xpressify-device,xpressify-companion}
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cross/env.sh
source cross/env.sh
# One package at a time: built together, the companion's dependencies turn on features of
# crates tract also uses (serde, smallvec), so cross/test.sh, which builds the device without
# the companion, would compile all of tract a second time. Built alone, the device has exactly
# the dependencies its tests use.
for pkg in xpressify-device xpressify-companion; do
  "$XP_CARGO" build --profile pi --locked --target "$XP_TARGET" -p "$pkg"
done
out="$CARGO_TARGET_DIR/$XP_TARGET/pi"
for bin in xpressify-device xpressify-companion; do
  printf '%s: %s bytes\n' "$bin" "$(stat -c %s "$out/$bin")"
done
