#!/usr/bin/env bash
# Runs the protocol, device and one-box crates' tests built for aarch64 under qemu. reference_logits
# checks the three shipped models on the first 64 PrivateTest faces (XP_REFERENCE_FACES; 256
# on x86) against logits made on x86-64 (same class for every face, logits within 1e-4). The
# full 3,589-face accuracy tests and the expression clips of `bench --sequences` (the same
# logic on both architectures) are skipped by default: under emulation the int8 model alone
# takes over half an hour of CPU on the former. Run them with
#   XP_FULL_ACCURACY=1 cross/test.sh
# Arguments choose the test targets in place of `--lib --bins --tests`, e.g.
#   cross/test.sh --test integration
#
# Each crate's integration tests are one binary (its lib and bins have their own), run one
# after another as cargo does; inside each, libtest runs one test per core (RUST_TEST_THREADS
# chooses otherwise), which keeps both cores busy with the long model tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cross/env.sh
source cross/env.sh
# Profile `pi` (release without LTO): the dependencies cross/build.sh already compiled.
# --lib --bins --tests: every test binary, but not the doctests, which cargo hands to rustup's
# rustdoc (no ARM std here); they test documentation, not the architecture, and run on x86.
skip=(--skip shipped_models_score_what_the_card_states --skip fast_model_scores_what_the_card_states
  --skip expression_clips_compare_ways_of_reading)
# pipeline_frames runs two model passes per face: 48 faces instead of 240 keep it to minutes.
export XP_PIPELINE_FACES="${XP_PIPELINE_FACES:-48}"
# reference_logits: 64 of its 256 faces per model (all 256 took over half an hour of one core).
export XP_REFERENCE_FACES="${XP_REFERENCE_FACES:-64}"
[ "${XP_FULL_ACCURACY:-0}" = 1 ] && skip=()
targets=(--lib --bins --tests)
[ $# -gt 0 ] && targets=("$@")

# Build every test binary; cargo's JSON messages name each executable and its package's
# manifest, read with jq. Only artifacts built with the test profile flag are test binaries
# (cargo lists the device's own binary too, which its integration tests start).
list=$(mktemp)
trap 'rm -f "$list"' EXIT
# The one-box package is selected too: its own tests are few, but with it the features of the
# shared crates are those cross/build.sh built, so nothing is compiled again.
"$XP_CARGO" test --profile pi --locked --target "$XP_TARGET" -p xpressify-protocol \
  -p xpressify-device -p xpressify "${targets[@]}" --no-run --message-format=json-render-diagnostics |
  jq -r 'select(.reason == "compiler-artifact" and .profile.test and .executable != null)
         | "\(.manifest_path)\t\(.executable)"' > "$list"
[ -s "$list" ] || { echo "cross/test.sh: cargo built no test binaries" >&2; exit 1; }

# Each test binary under qemu, as cargo would run it: from its package's directory, with
# CARGO_MANIFEST_DIR set.
failed=()
while IFS=$'\t' read -r manifest exe; do
  dir=$(dirname "$manifest")
  start=$SECONDS
  printf '\n==> %s (%s)\n' "$(basename "$exe")" "${dir##*/}"
  if (cd "$dir" && CARGO_MANIFEST_DIR="$dir" $CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER \
      "$exe" "${skip[@]}") < /dev/null; then
    printf '==> %s: passed in %d s\n' "$(basename "$exe")" $((SECONDS - start))
  else
    printf '==> %s: FAILED in %d s\n' "$(basename "$exe")" $((SECONDS - start))
    failed+=("$(basename "$exe")")
  fi
done < "$list"
count=$(wc -l < "$list")
if [ ${#failed[@]} -gt 0 ]; then
  echo "cross/test.sh: ${#failed[@]} of the $count aarch64 test binaries FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "cross/test.sh: all $count aarch64 test binaries passed under qemu"
