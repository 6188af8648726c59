#!/usr/bin/env bash
# The figures of docs/calibration.md: the device's readings of FER2013 PrivateTest under room
# conditions (xpressify-device bench --readings), then listeners and their corrections
# simulated on them (xpressify-companion calibration evaluate).
# Usage: scripts/calibration-figures.sh [SEEDS]   (needs ../shared/data or XPRESSIFY_DATA_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-10}"
cargo build --release -p xpressify-device -p xpressify-companion
target="${CARGO_TARGET_DIR:-target}/release"
readings="$(mktemp --suffix=.csv)"
trap 'rm -f "$readings"' EXIT
echo "== $(date -u +%F) on $(uname -m), $(nproc) cores" >&2
"$target/xpressify-device" bench --readings "$readings"
"$target/xpressify-companion" calibration evaluate --readings "$readings" --seeds "$seeds"
