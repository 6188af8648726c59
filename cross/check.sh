#!/usr/bin/env bash
# Proves the packaged aarch64 binaries behave as the x86-64 build: each of the three .debs
# (xpressify, xpressify-device, xpressify-companion) holds what it should, its config is
# valid as shipped and its binary's `--version` runs; `classify` with the packaged config and
# the built-in models on camera-like frames (built from FER2013 PrivateTest faces) prints the
# same JSON lines under qemu-aarch64 as natively. Needs cross/build.sh and cross/deb.sh first;
# builds the x86 binary itself.
#   cross/check.sh [FRAMES]
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-12}
host_target=${CARGO_TARGET_DIR:-/var/cache/xpressify/target}
# The x86 reference is the dev-profile binary, built as the tests build it (tests/src/lib.rs,
# `binary`): after `cargo test --workspace` nothing is compiled here, where a release build
# would compile tract once more (about 6 minutes on two cores). Its dependencies are optimised
# (Cargo.toml, profile.dev.package."*") and Rust never fuses or reorders float operations at
# any opt-level, so its output is the release binary's.
cargo build --locked --workspace --bin xpressify-device --target-dir "$host_target" --quiet
x86="$host_target/debug/xpressify-device"
# shellcheck source=cross/env.sh
source cross/env.sh
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
qemu=(qemu-aarch64-static -cpu cortex-a72)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for name in xpressify xpressify-device xpressify-companion; do
  deb="$CARGO_TARGET_DIR/debian/${name}_${version}_arm64.deb"
  [ -f "$deb" ] || { echo "cross/check.sh: $deb missing: run cross/build.sh and cross/deb.sh" >&2; exit 1; }
  [ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ]
  dpkg-deb -x "$deb" "$work/$name"
  for f in "usr/bin/$name" "etc/xpressify/${name#xpressify-}.toml" "lib/systemd/system/$name.service"; do
    [ -f "$work/$name/$f" ] || { echo "cross/check.sh: $deb lacks /$f" >&2; exit 1; }
  done
  file_type=$(od -An -tx1 -j18 -N2 "$work/$name/usr/bin/$name" | tr -d ' ')
  [ "$file_type" = b700 ] || { echo "cross/check.sh: /usr/bin/$name is not an aarch64 ELF" >&2; exit 1; }
  # The packaged config is valid as shipped (each binary checks it before printing it).
  "${qemu[@]}" "$work/$name/usr/bin/$name" --config "$work/$name/etc/xpressify/${name#xpressify-}.toml" \
    print-config >/dev/null
  # Issue 39: a private config and store, a hardened unit.
  dpkg-deb -e "$deb" "$work/$name.control"
  grep -q "chmod 0640 /etc/xpressify/" "$work/$name.control/postinst" ||
    { echo "cross/check.sh: $deb leaves its config readable by all" >&2; exit 1; }
  for option in UMask=0077 StateDirectoryMode=0700 LimitNOFILE= CapabilityBoundingSet= \
    NoNewPrivileges=yes RestrictAddressFamilies= SystemCallFilter=@system-service MemoryMax=; do
    grep -q "^$option" "$work/$name/lib/systemd/system/$name.service" ||
      { echo "cross/check.sh: $name.service lacks $option" >&2; exit 1; }
  done
  for f in copyright LICENSES.md; do
    [ -f "$work/$name/usr/share/doc/$name/$f" ] || { echo "cross/check.sh: $deb lacks its $f" >&2; exit 1; }
  done
  echo "$name: $(stat -c %s "$deb") bytes packaged; $("${qemu[@]}" "$work/$name/usr/bin/$name" --version) under qemu"
done
root="$work/xpressify-device"
arm="$root/usr/bin/xpressify-device"
cmp -s models/LICENSE.yunet.txt "$root/usr/share/doc/xpressify-device/LICENSE.yunet.txt" ||
  { echo "cross/check.sh: the package lacks the detector's licence" >&2; exit 1; }
[ "$("$x86" --version)" = "$("${qemu[@]}" "$arm" --version)" ]

# Camera-like frames; `bench --rounds 0` writes them and times a single warm-up pass.
"$x86" bench --frames "$frames" --rounds 0 --save-frames "$work/frames" >/dev/null
# The float model (x86's `auto` choice), the int8 model (the Pi's) and the fast model, on both,
# with the packaged config; the detector is the one built into each binary.
for model in emotion-float.onnx emotion.onnx emotion-fast.onnx; do
  export XPRESSIFY__CLASSIFIER__MODEL="models/$model"
  "$x86" classify --config config/device.toml "$work"/frames/*.jpg > "$work/x86.jsonl"
  "${qemu[@]}" "$arm" classify --config "$root/etc/xpressify/device.toml" "$work"/frames/*.jpg > "$work/arm.jsonl"
  faces=$(grep -o '"emotion"' "$work/x86.jsonl" | wc -l)
  if ! cmp -s "$work/x86.jsonl" "$work/arm.jsonl"; then
    echo "cross/check.sh: classify with $model differs between x86-64 and aarch64:" >&2
    diff "$work/x86.jsonl" "$work/arm.jsonl" >&2 || true
    exit 1
  fi
  echo "classify with $model: identical output on x86-64 and aarch64 ($frames frames, $faces faces)"
done
unset XPRESSIFY__CLASSIFIER__MODEL
# From another folder with no config at all, the aarch64 binary runs its built-in int8 model:
# the same lines as the file above.
(cd "$work" && "${qemu[@]}" "$arm" classify frames/*.jpg) > "$work/arm-built-in.jsonl"
(cd "$work" && XPRESSIFY__CLASSIFIER__MODEL="$OLDPWD/models/emotion.onnx" "$x86" classify frames/*.jpg) > "$work/x86-int8.jsonl"
if ! cmp -s "$work/x86-int8.jsonl" "$work/arm-built-in.jsonl"; then
  echo "cross/check.sh: aarch64's built-in models differ from models/ (run from $work, no config):" >&2
  diff "$work/x86-int8.jsonl" "$work/arm-built-in.jsonl" >&2 || true
  exit 1
fi
echo "classify from another folder with no config: aarch64's built-in models give the same output"
