#!/usr/bin/env bash
# Runs the protocol, device and one-box crates' tests built for aarch64 under qemu. reference_logits
# checks the three shipped models on the first 64 PrivateTest faces (XP_REFERENCE_FACES; 256
# on x86) against logits made on x86-64 (same class for every face, logits within 1e-4). The
# full 3,589-face accuracy tests are skipped by
# default: under emulation the int8 model alone takes over half an hour of CPU. Run them with
#   XP_FULL_ACCURACY=1 cross/test.sh
# Arguments choose the test targets in place of `--lib --bins --tests`, e.g.
#   cross/test.sh --test reference_logits
#
# Cargo runs test binaries one after another, and most of these hold one test that keeps one
# core busy for minutes under emulation; here they run XP_TEST_JOBS at a time (default: one
# per core), each one's output printed whole when it ends, in the order they end.
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
jobs=${XP_TEST_JOBS:-$(nproc)}
targets=(--lib --bins --tests)
[ $# -gt 0 ] && targets=("$@")

# Build every test binary; cargo's JSON names each executable and its package's manifest. Only
# artifacts built with the test profile flag are test binaries (the device's own binary, which
# its integration tests start, is listed too).
list=$(mktemp)
logs=$(mktemp -d)
trap 'rm -rf "$list" "$logs"' EXIT
# The one-box package is selected too: its own tests are few, but with it the features of the
# shared crates are those cross/build.sh built, so nothing is compiled again.
"$XP_CARGO" test --profile pi --locked --target "$XP_TARGET" -p xpressify-protocol \
  -p xpressify-device -p xpressify "${targets[@]}" --no-run --message-format=json-render-diagnostics |
  sed -n 's/.*"manifest_path":"\([^"]*\)".*"profile":{[^}]*"test":true}.*"executable":"\([^"]*\)".*/\1 \2/p' \
    > "$list"
[ -s "$list" ] || { echo "cross/test.sh: cargo built no test binaries" >&2; exit 1; }

# One test binary under qemu, as cargo would run it: from its package's directory, with
# CARGO_MANIFEST_DIR set. Its output goes to a log, printed whole when it ends.
run_one() {
  local manifest=$1 exe=$2 log dir start=$SECONDS status=0
  log="$logs/$(basename "$exe")"
  dir=$(dirname "$manifest")
  (cd "$dir" && CARGO_MANIFEST_DIR="$dir" $CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER \
    "$exe" "${@:3}") > "$log" 2>&1 || status=$?
  {
    flock 9
    printf '\n==> %s (%s): %s in %d s\n' "$(basename "$exe")" "${dir##*/}" \
      "$([ $status = 0 ] && echo passed || echo FAILED)" $((SECONDS - start))
    cat "$log"
  } 9> "$logs/.print-lock"
  return $status
}

failed=0
running=0
while read -r manifest exe; do
  if [ $running -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  run_one "$manifest" "$exe" "${skip[@]}" < /dev/null &
  running=$((running + 1))
done < "$list"
while [ $running -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
count=$(wc -l < "$list")
if [ $failed != 0 ]; then
  echo "cross/test.sh: some of the $count aarch64 test binaries FAILED (see above)" >&2
  exit 1
fi
echo "cross/test.sh: all $count aarch64 test binaries passed under qemu"
