# Sourced by cross/build.sh and cross/test.sh: the settings that make Debian's Rust build for
# the Raspberry Pi (aarch64) on an x86-64 Debian 12 machine prepared by cross/setup.sh.
#
# rustup's toolchains have no ARM standard library here; Debian's rustc-web has one
# (libstd-rust-web-dev:arm64), so /usr/bin/cargo and /usr/bin/rustc are used explicitly.
export XP_CARGO=/usr/bin/cargo
export RUSTC=/usr/bin/rustc
export XP_TARGET=aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# qemu emulates a Cortex-A72, the Raspberry Pi 4's core: its default ("max") CPU offers SVE,
# which tract then detects and which qemu emulates ~5x slower than NEON.
export QEMU_CPU=cortex-a72
# No `-L /usr/aarch64-linux-gnu`: the programs run with the arm64 multiarch loader and libc
# (libc6:arm64, in /lib), never the cross toolchain's copies. Those are an older build of glibc
# 2.36 (2.36-8cross1 vs 2.36-9+deb12u*), and with -L qemu loads the old loader with the newer
# libc.so.6 from /lib/aarch64-linux-gnu: their private data layouts differ and the first
# pthread_create spins forever walking the thread-stack cache.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -cpu cortex-a72"
# C code in dependencies (ring, SQLite) is compiled with the cross compiler.
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
# Separate from the host's target dir, outside the clone, so builds are incremental.
export CARGO_TARGET_DIR=${XP_CROSS_TARGET_DIR:-/var/cache/xpressify/target-aarch64}
