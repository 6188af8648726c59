//! Every input the `config_load` fuzz target ever failed on (and the seeds it starts from),
//! kept in `fuzz/regressions/config_load/`, run through the same property on every
//! `cargo test`.

mod support {
    pub mod config_property;
    #[path = "../../../fuzz/support/replay.rs"]
    pub mod replay;
}

#[test]
fn every_kept_input_holds_the_config_property() {
    support::replay::replay("config_load", support::config_property::check);
}
