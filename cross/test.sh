#!/usr/bin/env bash
# Runs the protocol, device and companion unit tests built for aarch64 under qemu (the
# model-accuracy test included: it reads FER2013 from ../shared/data like on x86).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cross/env.sh
source cross/env.sh
"$XP_CARGO" test --locked --target "$XP_TARGET" -p xpressify-protocol -p xpressify-device "$@"
