#!/usr/bin/env bash
# The CPU that `xpressify-device run` uses on a 30 fps camera, measured: it plays a folder of
# frames as a camera at 30 frames a second (camera.source = "files", looping), lets the models
# load, then reads the process's user and system time from /proc over a window and prints the
# share of one core it used. The figures in docs/performance.md come from here.
#   scripts/cpu-of-run.sh BINARY FRAMES SECONDS [VAR=VALUE ...]
# FRAMES is a folder of JPEG or PNG frames, e.g. written by `xpressify-device bench --frames 150
# --save-frames DIR`; VAR=VALUE settings are passed to the daemon, e.g.
# XPRESSIFY__CLASSIFIER__READS_PER_SECOND=0. No broker is needed: the daemon retries it.
set -euo pipefail
say() { printf 'cpu-of-run: %s\n' "$*"; }
if [ $# -lt 3 ]; then
  say "usage: $0 BINARY FRAMES SECONDS [VAR=VALUE ...]" >&2
  exit 2
fi
binary=$1 frames=$2 seconds=$3
shift 3
[ -x "$binary" ] || { say "$binary is not an executable" >&2; exit 2; }
[ -d "$frames" ] || { say "$frames is not a folder of frames" >&2; exit 2; }
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
# Port 9 on loopback (discard) has no broker: the daemon runs on and retries in the background.
env XPRESSIFY__CAMERA__SOURCE=files XPRESSIFY__CAMERA__PATH="$frames" \
  XPRESSIFY__CAMERA__FPS=30 XPRESSIFY__CAMERA__LOOP=true \
  XPRESSIFY__MQTT__URL=mqtt://127.0.0.1:9 XPRESSIFY__PRIVACY__STATE_FILE="$work/camera" \
  "$@" "$binary" run >"$work/log" 2>&1 &
pid=$!
sleep 5 # the models load, the first frames are read
if ! kill -0 "$pid" 2>/dev/null; then
  say "the daemon stopped:" >&2
  cat "$work/log" >&2
  exit 1
fi
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks)
sleep "$seconds"
after=$(ticks)
awk -v t=$((after - before)) -v hz="$hz" -v s="$seconds" \
  'BEGIN { printf "cpu-of-run: %.1f %% of one core over %d s (%.2f s of CPU)\n", 100 * t / hz / s, s, t / hz }'
