//! Any bytes as the companion's config file and environment: see
//! `companion/tests/support/config_property.rs`.
#![no_main]

#[path = "../../companion/tests/support/config_property.rs"]
mod config_property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| config_property::check(data));
