// Replays every input a fuzz target keeps in `fuzz/regressions/<target>/` (the seeds it starts
// from and each input it ever failed on) through the target's property, so `cargo test`
// catches a regression without a fuzzer. Included by the regression tests of the crates the
// targets cover, which sit one folder below the repository root.

/// Runs `check` on every file in `fuzz/regressions/<target>/`; panics when there is none.
pub fn replay(target: &str, check: impl Fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("the regressions folder") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read input");
        check(&bytes);
        checked += 1;
    }
    assert!(checked > 0, "no inputs in {}", dir.display());
}
