//! The protocol crate's integration tests, one binary: the wire contract, the documentation
//! that must match it, and the fuzz target's kept inputs.

mod blueprints;
mod contract;
mod discovery;
mod docs;
mod fuzz_regressions;
mod support;
