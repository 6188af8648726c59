//! Every input the `protocol_decode` fuzz target ever failed on (and the seeds it starts
//! from), kept in `fuzz/regressions/protocol_decode/`, run through the same property on every
//! `cargo test`.

mod support {
    pub mod decode_property;
}

#[test]
fn every_kept_input_holds_the_decode_property() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/regressions/protocol_decode"
    );
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("the regressions folder") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read input");
        support::decode_property::check(&bytes);
        checked += 1;
    }
    assert!(checked > 0, "no inputs in {dir}");
}
