//! For the workspace's tests that compare output with a file in the repository (a screen, a
//! model's logits, the licence list): whether this run should rewrite the file instead.

/// `true` when `XPRESSIFY_UPDATE_GOLDEN=1` (exactly: `=0` or empty does not count). Panics
/// when it is asked under CI (`CI`, or `XPRESSIFY_REQUIRE_DATA=1` as `.ci/run` sets), where
/// a stale file must fail rather than be rewritten.
pub fn update_requested() -> bool {
    let asked = std::env::var("XPRESSIFY_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let ci = std::env::var_os("CI").is_some()
        || std::env::var("XPRESSIFY_REQUIRE_DATA").is_ok_and(|v| v == "1");
    assert!(
        !(asked && ci),
        "XPRESSIFY_UPDATE_GOLDEN=1 under CI: golden files are checked there, never rewritten"
    );
    asked
}
