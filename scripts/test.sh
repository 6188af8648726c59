#!/usr/bin/env bash
# Runs every Xpressify test: the README's test command, and the one CI runs.
#   scripts/test.sh [more arguments for cargo test, e.g. -p xpressify-device]
# The tests talk to real programs: Mosquitto (MQTT), mpv and MPD (the speaker sinks),
# gmediarender with GStreamer's good plugins (a DLNA renderer, run in a network namespace of
# its own), yt-dlp (YouTube picks for players that open URLs), Chromium (the web page),
# openssl (TLS certificates) and ffmpeg (encodes the music library's test files as MP3, FLAC,
# Ogg and M4A). Missing ones are installed with apt-get when this runs
# as root on Debian or Ubuntu; otherwise it says what to install and stops. The tests that read
# the FER2013 data set (../shared/data, or $XPRESSIFY_DATA_DIR) skip with a line when it is
# absent, unless XPRESSIFY_REQUIRE_DATA=1 (CI), which makes that an error.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'scripts/test.sh: %s\n' "$*"; }

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
missing=()
for program in mosquitto mpv mpd yt-dlp gmediarender chromium openssl ffmpeg; do
  have "$program" || missing+=("$program") # each program's Debian package has its name
done
# gmediarender fetches over HTTP through GStreamer's souphttpsrc, which only recommends it.
if command -v dpkg >/dev/null 2>&1 && ! dpkg -s gstreamer1.0-plugins-good >/dev/null 2>&1; then
  missing+=(gstreamer1.0-plugins-good)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "the tests need ${missing[*]}, which this machine lacks. Install them, e.g." >&2
    say "  sudo apt-get install ${missing[*]}" >&2
    say "(or run this script as root on Debian or Ubuntu, and it installs them)" >&2
    exit 1
  fi
fi

data=${XPRESSIFY_DATA_DIR:-$PWD/../shared/data}
if [ -f "$data/fer2013/fer2013.u8.gz" ]; then
  say "FER2013 in $data: the model tests run"
elif [ "${XPRESSIFY_REQUIRE_DATA:-}" = 1 ]; then
  say "XPRESSIFY_REQUIRE_DATA=1, but there is no $data/fer2013/fer2013.u8.gz" >&2
  exit 1
else
  say "no FER2013 in $data: the tests that need it are skipped (set XPRESSIFY_DATA_DIR to run them)"
fi

# One Mosquitto on loopback for the whole run (each test then uses a prefix of its own);
# XPRESSIFY_TEST_MQTT_URL names another broker instead. Without either, each test that needs
# a broker would start its own.
if [ -z "${XPRESSIFY_TEST_MQTT_URL:-}" ]; then
  mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  work=$(mktemp -d)
  mosquitto_pid=
  trap '[ -n "$mosquitto_pid" ] && kill "$mosquitto_pid" 2>/dev/null; rm -rf "$work"' EXIT
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue # taken
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$work/mosquitto.conf"
    "$mosquitto" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
    mosquitto_pid=$!
    for _ in $(seq 50); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break 2
      kill -0 "$mosquitto_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$mosquitto_pid" 2>/dev/null || true
    mosquitto_pid=
  done
  if [ -z "$mosquitto_pid" ]; then
    say "Mosquitto did not start on loopback:" >&2
    cat "$work/mosquitto.log" >&2 || true
    exit 1
  fi
  export XPRESSIFY_TEST_MQTT_URL="mqtt://127.0.0.1:$port"
  say "Mosquitto on $XPRESSIFY_TEST_MQTT_URL"
fi

# tests/tests/integration/lan_attacks.rs opens 1,100 connections at once, past a default soft limit of 1,024.
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt 4096 ]; then
  ulimit -Sn 4096 2>/dev/null || echo "test.sh: cannot raise the open-file limit to 4096; lan_attacks may fail" >&2
fi
cargo test --workspace --locked "$@"
