//! Every input the `protocol_decode` fuzz target ever failed on (and the seeds it starts
//! from), kept in `fuzz/regressions/protocol_decode/`, run through the same property on every
//! `cargo test`.

use crate::support;

#[test]
fn every_kept_input_holds_the_decode_property() {
    support::replay::replay("protocol_decode", support::decode_property::check);
}
