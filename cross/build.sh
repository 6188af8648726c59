#!/usr/bin/env bash
# Builds the release binaries for the Raspberry Pi (aarch64):
#   cross/setup.sh && cross/build.sh
# Output: $CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/pi/{xpressify,xpressify-device,xpressify-companion}
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cross/env.sh
source cross/env.sh
# The three binaries in one build, so the crates they share (tract above all) are compiled
# once, with the features all three need; cross/test.sh builds its tests with the same
# packages selected, and so reuses them.
"$XP_CARGO" build --profile pi --locked --target "$XP_TARGET" \
  -p xpressify -p xpressify-device -p xpressify-companion
out="$CARGO_TARGET_DIR/$XP_TARGET/pi"
for bin in xpressify xpressify-device xpressify-companion; do
  printf '%s: %s bytes\n' "$bin" "$(stat -c %s "$out/$bin")"
done
