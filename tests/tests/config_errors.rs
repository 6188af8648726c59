//! Both binaries refuse a bad configuration at start, naming the key, and print the effective
//! configuration when asked.

use std::process::Command;
use std::time::Duration;

use xpressify_tests::{binary, launch};

fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(binary(bin).expect("binary"));
    cmd.args(args).envs(env.iter().copied());
    let end = launch::run_to_end(&mut cmd, Duration::from_secs(60)).expect("run");
    (end.success, end.stdout, end.stderr)
}

#[test]
fn a_bad_key_is_refused_by_name() {
    for bin in ["xpressify-device", "xpressify-companion"] {
        let (ok, _, err) = run(
            bin,
            &["print-config"],
            &[("XPRESSIFY__MQTT__URL", "nohost")],
        );
        assert!(!ok, "{bin} accepted a bad url");
        assert!(err.contains("mqtt.url"), "{bin}: {err}");

        let (ok, _, err) = run(
            bin,
            &["print-config"],
            &[("XPRESSIFY__MQTT__KEEP_ALIVE_S", "often")],
        );
        assert!(!ok);
        assert!(
            err.contains("XPRESSIFY__MQTT__KEEP_ALIVE_S"),
            "{bin}: {err}"
        );

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[mqtt]\nurl = \"mqtt://x\"\ncolour = \"red\"\n").expect("write");
        let (ok, _, err) = run(
            bin,
            &[
                "--config",
                file.to_str().unwrap_or_default(),
                "print-config",
            ],
            &[],
        );
        assert!(!ok);
        assert!(err.contains("colour"), "{bin}: {err}");

        let (ok, _, err) = run(
            bin,
            &["--config", "/nonexistent/x.toml", "print-config"],
            &[],
        );
        assert!(!ok);
        assert!(err.contains("/nonexistent/x.toml"), "{bin}: {err}");
    }
}

#[test]
fn print_config_shows_overrides_and_masks_the_password() {
    let (ok, out, err) = run(
        "xpressify-device",
        &[
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config/device.toml"),
            "print-config",
        ],
        &[
            ("XPRESSIFY__MQTT__DEVICE_ID", "kitchen"),
            ("XPRESSIFY__MQTT__USERNAME", "box"),
            ("XPRESSIFY__MQTT__PASSWORD", "hunter2"),
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("device_id = \"kitchen\""), "{out}");
    assert!(!out.contains("hunter2"), "password leaked: {out}");
}
