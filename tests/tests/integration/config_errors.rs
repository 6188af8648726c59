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
        if bin == "xpressify-device" {
            let (ok, _, err) = run(
                bin,
                &["print-config"],
                &[("XPRESSIFY__CLASSIFIER__READS_PER_SECOND", "500")],
            );
            assert!(!ok, "500 readings a second accepted");
            assert!(err.contains("classifier.reads_per_second"), "{err}");
        }

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

#[test]
fn durations_are_read_as_people_write_them() {
    // Flags: a number of seconds or a number with a unit; a bad one names the flag and shows
    // examples, and nothing starts.
    for (bin, args) in [
        ("xpressify", &["demo", "--duration"][..]),
        ("xpressify", &["run", "--duration"][..]),
        ("xpressify-device", &["announce", "--duration"][..]),
        ("xpressify-companion", &["watch", "--duration"][..]),
    ] {
        let mut bad = args.to_vec();
        bad.push("30x");
        let (ok, _, err) = run(bin, &bad, &[]);
        assert!(!ok, "{bin} {bad:?} was accepted");
        assert!(
            err.contains("--duration") && err.contains("30x") && err.contains("1h30m"),
            "{bin} {bad:?}: {err}"
        );
    }
    let (ok, _, err) = run("xpressify", &["demo", "--hold", "0.5s"], &[]);
    assert!(!ok);
    assert!(err.contains("--hold") && err.contains("12s"), "{err}");

    // Config keys: their own unit as a bare number, or any unit as text; in a file and in a
    // variable alike.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("device.toml");
    std::fs::write(
        &file,
        "[mood]\ndwell_s = \"1500ms\"\n[buttons]\ndebounce_ms = \"0.04s\"\n",
    )
    .expect("write");
    let path = file.to_str().unwrap_or_default();
    let (ok, out, err) = run(
        "xpressify-device",
        &["--config", path, "print-config"],
        &[("XPRESSIFY__MQTT__KEEP_ALIVE_S", "1m")],
    );
    assert!(ok, "{err}");
    for line in ["dwell_s = 1.5", "debounce_ms = 40", "keep_alive_s = 60"] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
    }
    let (ok, out, err) = run(
        "xpressify-companion",
        &["print-config"],
        &[("XPRESSIFY__MUSIC__START_AFTER_S", "2m")],
    );
    assert!(ok, "{err}");
    assert!(
        out.lines().any(|l| l == "start_after_s = 120.0"),
        "no start_after_s = 120.0 in:\n{out}"
    );
    for value in ["soon", "-3s"] {
        let (ok, _, err) = run(
            "xpressify-device",
            &["print-config"],
            &[("XPRESSIFY__MOOD__DWELL_S", value)],
        );
        assert!(!ok, "dwell_s = {value:?} was accepted");
        assert!(err.contains("XPRESSIFY__MOOD__DWELL_S"), "{err}");
    }
    // A file's bad duration names the key and shows what would do.
    std::fs::write(&file, "[mood]\ndwell_s = \"a while\"\n").expect("write");
    let (ok, _, err) = run("xpressify-device", &["--config", path, "print-config"], &[]);
    assert!(!ok);
    assert!(err.contains("dwell_s") && err.contains("30s"), "{err}");
}

/// Issue 39, 7: secrets come from files or systemd credentials (`*_file` keys), are masked
/// when printed, and a broker URL's password never appears in an error.
#[test]
fn secrets_come_from_files_and_never_show() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("youtube.key");
    std::fs::write(&key, "AIza-from-a-file\n").expect("write");
    std::fs::write(dir.path().join("mqtt_password"), "from-a-credential").expect("write");
    let key_path = key.display().to_string();
    let creds = dir.path().display().to_string();
    let (ok, out, err) = run(
        "xpressify-companion",
        &["print-config"],
        &[
            ("XPRESSIFY__YOUTUBE__API_KEY_FILE", &key_path),
            ("XPRESSIFY__MQTT__USERNAME", "companion"),
            ("XPRESSIFY__MQTT__PASSWORD_FILE", "mqtt_password"),
            ("CREDENTIALS_DIRECTORY", &creds),
        ],
    );
    assert!(ok, "{err}");
    assert!(
        !out.contains("AIza-from-a-file") && !out.contains("from-a-credential"),
        "{out}"
    );
    assert!(out.contains("api_key = \"********\""), "{out}");
    assert!(out.contains("password = \"********\""), "{out}");

    let (ok, _, err) = run(
        "xpressify-device",
        &["print-config"],
        &[("XPRESSIFY__MQTT__PASSWORD_FILE", "/nonexistent/password")],
    );
    assert!(!ok);
    assert!(
        err.contains("mqtt.password_file") && err.contains("/nonexistent/password"),
        "{err}"
    );

    for bin in ["xpressify-device", "xpressify-companion"] {
        let (ok, _, err) = run(
            bin,
            &["print-config"],
            &[("XPRESSIFY__MQTT__URL", "mqtt://house:hunter2@broker.lan")],
        );
        assert!(!ok, "{bin} accepted credentials in the URL");
        assert!(
            err.contains("mqtt.url") && !err.contains("hunter2"),
            "{bin}: {err}"
        );
    }
}

/// Settings with a fixed set of values are refused at parse time, naming the key and the
/// values that would do.
#[test]
fn a_value_outside_its_set_names_the_key_and_the_choices() {
    for (bin, var, key, choices) in [
        (
            "xpressify-device",
            "XPRESSIFY__CAMERA__SOURCE",
            "camera.source",
            "`v4l2`, `files`, `demo`",
        ),
        (
            "xpressify-device",
            "XPRESSIFY__CAMERA__FORMAT",
            "camera.format",
            "`yuyv` or `mjpeg`",
        ),
        (
            "xpressify-device",
            "XPRESSIFY__DISPLAY__OUTPUT",
            "display.output",
            "`none`, `png`, `ssd1306`, `st7789`, `window`",
        ),
        (
            "xpressify-device",
            "XPRESSIFY__DISPLAY__PANEL",
            "display.panel",
            "`ssd1306`, `st7789-240x240`, `st7789-320x240`",
        ),
        (
            "xpressify-device",
            "XPRESSIFY__CLASSIFIER__MIRROR",
            "classifier.mirror",
            "`alternate`, `average`, `off`",
        ),
        (
            "xpressify-companion",
            "XPRESSIFY__PLAYER__SINK",
            "player.sink",
            "`web`, `mpv`, `home_assistant`, `mpd`",
        ),
        (
            "xpressify-companion",
            "XPRESSIFY__HOME_ASSISTANT__YOUTUBE",
            "home_assistant.youtube",
            "`cast` or `stream`",
        ),
        (
            "xpressify-companion",
            "XPRESSIFY__YOUTUBE__SAFE_SEARCH",
            "youtube.safe_search",
            "`none`, `moderate`, `strict`",
        ),
    ] {
        let (ok, _, err) = run(bin, &["print-config"], &[(var, "usb")]);
        assert!(!ok, "{bin} accepted {var}=usb");
        assert!(
            err.contains(key) && err.contains(choices),
            "{bin} {var}: {err}"
        );
    }
}
