#!/usr/bin/env bash
# Runs the protocol and device crates' tests built for aarch64 under qemu (the
# model-accuracy and reference-logits tests included: they read FER2013 from ../shared/data
# like on x86). Known problem: under Debian 12's qemu-user 7.2 the first test hangs in Rust's
# thread spawn (cross/README.md); it needs a newer qemu or a Pi.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cross/env.sh
source cross/env.sh
# Profile `pi` (release without LTO): the dependencies cross/build.sh already compiled.
"$XP_CARGO" test --profile pi --locked --target "$XP_TARGET" -p xpressify-protocol -p xpressify-device "$@"
