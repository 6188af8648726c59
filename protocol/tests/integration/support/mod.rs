//! Shared with the `protocol_decode` fuzz target (`fuzz/`), which includes these files by path.

pub mod decode_property;
#[path = "../../../../fuzz/support/replay.rs"]
pub mod replay;
