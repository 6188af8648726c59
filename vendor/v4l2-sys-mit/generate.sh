#!/usr/bin/env bash
# Generates the V4L2 bindings in src/ for each architecture Xpressify builds for, from the
# kernel's user-space headers. Run it only when the headers or bindgen change; the output is
# committed, so builds never need libclang. Needs (Debian, as root):
#   apt-get install libclang-dev linux-libc-dev libc6-dev \
#     linux-libc-dev-arm64-cross libc6-dev-arm64-cross linux-libc-dev-armhf-cross libc6-dev-armhf-cross
#   cargo install bindgen-cli --version 0.65.1 --locked
# bindgen 0.65.1 is the version crates.io's v4l2-sys-mit 0.3.0 runs in its build script, so
# the items are the same as a build with libclang would make.
set -euo pipefail
cd "$(dirname "$0")"
bindgen=${BINDGEN:-bindgen}
want="bindgen 0.65.1"
have=$("$bindgen" --version 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  echo "generate.sh: needs $want (found: ${have:-none}); cargo install bindgen-cli --version 0.65.1 --locked" >&2
  exit 1
fi
# file, clang target, and the folder with that architecture's kernel and C library headers
# (the host's own for x86_64; Debian's cross packages for the Pis).
targets=(
  "x86_64.rs x86_64-linux-gnu /usr/include/x86_64-linux-gnu"
  "aarch64.rs aarch64-linux-gnu /usr/aarch64-linux-gnu/include"
  "armv7.rs armv7-linux-gnueabihf /usr/arm-linux-gnueabihf/include"
)
for t in "${targets[@]}"; do
  read -r file target include <<<"$t"
  if [ ! -e "$include/asm/types.h" ] || [ ! -e "$include/sys/time.h" ]; then
    echo "generate.sh: no kernel or C library headers for $target in $include (see the packages above)" >&2
    exit 1
  fi
  args=(--target="$target")
  # The cross headers form a sysroot of their own, so nothing of the host's asm/ is read.
  [ "$target" = x86_64-linux-gnu ] || args+=(--sysroot="${include%/include}" -I"$include")
  "$bindgen" wrapper.h -o "src/$file" -- "${args[@]}"
  echo "generate.sh: src/$file for $target"
done
