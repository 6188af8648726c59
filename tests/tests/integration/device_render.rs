//! `xpressify-device render`: the screen for an emotion on a panel, written as a PNG of the
//! panel's size, identical to what the library draws; bad arguments are refused clearly.

use std::process::Command;

use xpressify_tests::binary;

fn render(args: &[&str]) -> std::process::Output {
    Command::new(binary("xpressify-device").expect("binary"))
        .arg("render")
        .args(args)
        .output()
        .expect("run render")
}

#[test]
fn writes_each_panel_at_its_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (panel, size) in [
        ("ssd1306", (128, 64)),
        ("st7789-240x240", (240, 240)),
        ("st7789-320x240", (320, 240)),
    ] {
        let out = dir.path().join(format!("{panel}.png"));
        let run = render(&[
            "--emotion",
            "surprise",
            "--panel",
            panel,
            "--now-playing",
            "A title",
            "--broker-offline",
            "--out",
            out.to_str().expect("utf-8 path"),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let img = image::open(&out).expect("a PNG").to_rgb8();
        assert_eq!(img.dimensions(), size, "{panel}");
        assert!(
            img.pixels().any(|p| p.0 != img.get_pixel(0, 0).0),
            "{panel} is blank"
        );
    }
}

#[test]
fn bad_arguments_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x.png");
    let out = out.to_str().expect("utf-8 path");
    let run = render(&["--emotion", "bored", "--panel", "ssd1306", "--out", out]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--emotion"));
    let run = render(&["--emotion", "happy", "--panel", "ssd1309", "--out", out]);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("ssd1306") && err.contains("st7789-240x240"),
        "{err}"
    );
    let run = render(&[
        "--emotion",
        "happy",
        "--panel",
        "ssd1306",
        "--out",
        "/nonexistent/dir/x.png",
    ]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("/nonexistent/dir/x.png"));
}
