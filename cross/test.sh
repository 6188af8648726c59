#!/usr/bin/env bash
# Runs the protocol and device crates' tests built for aarch64 under qemu. reference_logits
# checks the three shipped models on the first 64 PrivateTest faces (XP_REFERENCE_FACES; 256
# on x86) against logits made on x86-64 (same class for every face, logits within 1e-4). The
# full 3,589-face accuracy tests are skipped by
# default: under emulation the int8 model alone takes over half an hour of CPU. Run them with
#   XP_FULL_ACCURACY=1 cross/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cross/env.sh
source cross/env.sh
# Profile `pi` (release without LTO): the dependencies cross/build.sh already compiled.
# --lib --bins --tests: every test binary, but not the doctests, which cargo hands to rustup's
# rustdoc (no ARM std here); they test documentation, not the architecture, and run on x86.
skip=(--skip shipped_models_score_what_the_card_states --skip fast_model_scores_what_the_card_states)
# pipeline_frames runs two model passes per face: 48 faces instead of 240 keep it to minutes.
export XP_PIPELINE_FACES="${XP_PIPELINE_FACES:-48}"
# reference_logits: 64 of its 256 faces per model (all 256 took over half an hour of one core).
export XP_REFERENCE_FACES="${XP_REFERENCE_FACES:-64}"
[ "${XP_FULL_ACCURACY:-0}" = 1 ] && skip=()
"$XP_CARGO" test --profile pi --locked --target "$XP_TARGET" -p xpressify-protocol -p xpressify-device --lib --bins --tests "$@" -- "${skip[@]}"
