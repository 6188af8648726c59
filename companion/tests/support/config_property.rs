// What must hold for any configuration a person (or a broken disk) hands the companion:
// loading and validating never panic; they accept or refuse with an error that names what
// is wrong. Shared by the `config_load` fuzz target and the regression test beside this
// folder.
//
// The input is a config file's text, optionally followed by a NUL byte and environment
// lines `XPRESSIFY__SECTION__KEY=value`, so the fuzzer reaches the override parser too.

use xpressify_companion::config::CompanionConfig;
use xpressify_protocol::config;

/// Checks the property for `input`; panics (as the fuzzer wants) where it fails.
pub fn check(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let (file, env) = text.split_once('\0').unwrap_or((&text, ""));
    let vars: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match config::load::<CompanionConfig>(Some(("fuzz.toml", file)), vars) {
        Ok(loaded) => {
            if let Err(e) = loaded.validate() {
                assert!(!e.to_string().is_empty(), "an empty validation error");
            }
        }
        Err(e) => assert!(!e.to_string().is_empty(), "an empty load error"),
    }
}
