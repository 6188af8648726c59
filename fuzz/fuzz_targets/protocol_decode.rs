//! Any bytes as any MQTT payload or topic: see `protocol/tests/integration/support/decode_property.rs`.
#![no_main]

#[path = "../../protocol/tests/integration/support/decode_property.rs"]
mod decode_property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_property::check(data));
