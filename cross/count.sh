#!/usr/bin/env bash
# Per-frame work of the device's vision loop on the Raspberry Pi's CPU, counted: runs
# `xpressify-device bench` (built for aarch64 by cross/build.sh) under qemu-aarch64 with
# cross/insn-count.c, a plugin that counts every guest instruction executed, for 1 and 3 rounds
# over the same 30 frames; the difference divided by 60 frames is the work of one frame with
# start-up (loading models, building frames) taken out. The count is exact and the same on
# every run, unlike timings under emulation. Each setting is one line:
#   cross/count.sh [BINARY]
# BINARY defaults to the pi profile's xpressify-device. Settings: the int8 and the float model,
# each read in both views every frame (the cost of the flip-averaging model shipped before
# 2026-12-06) and as the device does by default (8 readings a second, alternating views).
# Needs qemu-user (the dynamic qemu-aarch64, which loads plugins), gcc and jq; FER2013 as for
# the tests. With the host's release build (XP_HOST_BINARY) the same settings are counted on
# x86-64 under qemu-x86_64 with the same plugin (XP_COUNT_ARCHES="aarch64" or "x86-64" counts
# one architecture, XP_COUNT_MODELS="float" one model: each run takes minutes). The counts of
# docs/performance.md come from here, and its Pi 4 estimate from them.
set -euo pipefail
cd "$(dirname "$0")/.."
source cross/env.sh
say() { printf 'cross/count.sh: %s\n' "$*"; }
binary=${1:-$CARGO_TARGET_DIR/$XP_TARGET/pi/xpressify-device}
[ -x "$binary" ] || { say "no $binary: run cross/build.sh first" >&2; exit 1; }
command -v qemu-aarch64 >/dev/null || { say "needs qemu-aarch64 (apt-get install qemu-user)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -shared -fPIC -O2 -o "$work/insn-count.so" cross/insn-count.c

# The x86-64 release build beside it, counted the same way under qemu-x86_64, when it is there.
host=${XP_HOST_BINARY:-/var/cache/xpressify/target/release/xpressify-device}
x86=0
[ -x "$host" ] && command -v qemu-x86_64 >/dev/null && x86=1

# count aarch64|x86 SETTINGS... -> "INSTRUCTIONS PASSES_PER_FRAME" of one setting, per frame.
count() {
  local arch=$1 rounds insns=() passes=
  shift
  for rounds in 1 3; do
    if [ "$arch" = aarch64 ]; then
      # tract picks its kernels by the CPU part in /proc/cpuinfo, which under qemu is the
      # host's: name the Pi 4's core, as its own cpuinfo (part 0xd08) would.
      env TRACT_CPU_AARCH64_KIND=a72 "$@" qemu-aarch64 -cpu cortex-a72 -plugin "$work/insn-count.so" -d plugin \
        -D "$work/count.log" "$binary" bench --frames 30 --rounds "$rounds" >"$work/report.json" \
        2>"$work/stderr"
      insns+=("$(awk '/^insns:/ { print $2 }' "$work/count.log")")
    else
      # qemu's "max" x86-64 CPU has AVX2 and FMA but not AVX-512: the kernels most x86
      # machines run.
      env "$@" qemu-x86_64 -cpu max -plugin "$work/insn-count.so" -d plugin \
        -D "$work/count.log" "$host" bench --frames 30 --rounds "$rounds" >"$work/report.json" \
        2>"$work/stderr"
      insns+=("$(awk '/^insns:/ { print $2 }' "$work/count.log")")
    fi
    passes=$(jq .passes_per_frame "$work/report.json")
  done
  echo "$(( (insns[1] - insns[0]) / 60 )) $passes"
}

models=$PWD/models
printf '%-8s %-6s %-34s %14s %7s\n' arch model reading instructions passes
for arch in ${XP_COUNT_ARCHES:-aarch64 x86-64}; do
  [ "$arch" = x86-64 ] && [ "$x86" = 0 ] && { say "no $host or qemu-x86_64: x86-64 not counted"; break; }
  for model in ${XP_COUNT_MODELS:-int8 float}; do
    file=$models/emotion.onnx
    [ "$model" = float ] && file=$models/emotion-float.onnx
    for reading in "both views, every frame" "alternating, 8 a second (default)"; do
      settings=(XPRESSIFY__CLASSIFIER__MODEL="$file")
      if [ "$reading" = "both views, every frame" ]; then
        settings+=(XPRESSIFY__CLASSIFIER__MIRROR=average XPRESSIFY__CLASSIFIER__READS_PER_SECOND=0)
      fi
      read -r insns passes < <(count "${arch%-64}" "${settings[@]}")
      printf '%-8s %-6s %-34s %14s %7.3f\n' "$arch" "$model" "$reading" "$insns" "$passes"
    done
  done
done
