//! Raw V4L2 bindings for the `v4l` crate, generated once by `generate.sh` from
//! `<linux/videodev2.h>` with bindgen 0.65.1 (the version the crates.io build script uses) and
//! kept here per architecture, so that no build needs libclang or kernel headers.
#![allow(clippy::all)]
#![allow(deref_nullptr)]
#![allow(non_camel_case_types)]
#![allow(non_snake_case)]
#![allow(non_upper_case_globals)]
#![allow(missing_docs)]

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
include!("x86_64.rs");

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
include!("aarch64.rs");

#[cfg(all(target_os = "linux", target_arch = "arm"))]
include!("armv7.rs");

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm")
)))]
compile_error!(
    "v4l2-sys-mit (vendor/v4l2-sys-mit) has V4L2 bindings for Linux on x86_64, aarch64 and \
     armv7 only: run vendor/v4l2-sys-mit/generate.sh with this target added to make them"
);
