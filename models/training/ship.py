"""Rebuild every shipped model file from training checkpoints, in the order that makes them.

    python models/training/ship.py --main /var/cache/xpressify/runs/edge_wide-official-s1 \
        --fast /var/cache/xpressify/runs/late-bank-e150 \
        --version 2026-12-06-wide-swa19-fp16 --fast-version 2026-11-28-late-bank150

The route from checkpoints to `models/`, which models/README.md otherwise tells as prose:

1. `export.py` on the main run's weights (`<main>-swa/best.pt` when the run was averaged by
   swa.py, else `<main>/best.pt`): `emotion-float.onnx` and the int8 `emotion.onnx`, one pass
   of the net per face (the device averages a face and its mirror image across frames, not
   inside the graph: `[classifier] mirror`);
2. `evaluate.py` on both, with the run's curves and SWA epochs: `eval/metrics.json`;
3. `export.py` on the fast run's `best.pt`, whose float file ships as `emotion-fast.onnx`, and
   `evaluate.py` on it: `eval/fast/metrics.json`;
4. the latency per face in tract (`cargo bench --workspace --bench classifier`, criterion's
   estimates), unless given with `--latency-*`;
5. `card.py` (MODEL.md, emotion.json, EXPERIMENTS.md's generated part; the card's hand-written
   paragraphs come from `models/card/status.md` and `models/card/notes.md`) and
   `fast_entry.py` (emotion.json's `fast` entry);
6. the golden logits the aarch64 build is checked against
   (`XPRESSIFY_UPDATE_GOLDEN=1 cargo test --workspace --test integration reference_logits`).

Steps 4 (without `--latency-*`) and 6 run the Rust workspace on the files in `models/`, so with
`--out-dir` elsewhere (the smoke run in CI) the latencies must be given and step 6 is skipped.
The comparison with other nets (`research/compare.py`) and the single-pass figures are research,
not shipped files: pass them to card.py through `--card-arg`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = HERE.parent
REPO = MODELS.parent
# The card's prose written by hand, kept beside the generated files so a rebuild keeps it.
CARD_TEXT = MODELS / "card"
# Copied into another --out-dir first: card.py rewrites part of them and keeps the rest.
KEPT = ("EXPERIMENTS.md", "emotion.json")


def run(step: str, cmd: list[str], env: dict | None = None) -> None:
    """Runs one step, echoing it, and stops the rebuild with the step's name when it fails."""
    shown = " ".join(a if len(a) <= 100 else a[:60] + " …" for a in map(str, cmd))
    print(f"\n==> {step}\n    {shown}", flush=True)
    start = time.monotonic()
    done = subprocess.run(cmd, check=False, cwd=REPO, env=env)
    if done.returncode != 0:
        sys.exit(f"ship: {step} failed (exit {done.returncode}); the files written so far are in place, "
                 "rerun after fixing it")
    print(f"    {step}: {time.monotonic() - start:.0f} s", flush=True)


def py(script: str, *args) -> list[str]:
    return [sys.executable, str(HERE / script), *map(str, args)]


def weights(run_dir: Path) -> Path:
    """The averaged weights when swa.py ran on the run, else the run's best checkpoint."""
    for candidate in (run_dir.with_name(run_dir.name + "-swa") / "best.pt", run_dir / "best.pt"):
        if candidate.exists():
            return candidate
    sys.exit(f"ship: no best.pt in {run_dir} (nor in {run_dir.name}-swa beside it): train it first "
             "(models/README.md)")


def criterion_ms(model_file: str) -> float:
    """Mean time per face at batch 1 from criterion's estimates of `cargo bench --bench classifier`."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    path = target / "criterion" / "classify" / model_file / "1" / "new" / "estimates.json"
    try:
        return json.loads(path.read_text())["mean"]["point_estimate"] / 1e6
    except (OSError, KeyError, json.JSONDecodeError) as e:
        sys.exit(f"ship: no criterion estimate for {model_file} at {path} ({e})")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--main", type=Path, required=True, help="the train.py run of emotion.onnx")
    p.add_argument("--fast", type=Path, required=True, help="the train.py run of emotion-fast.onnx")
    p.add_argument("--version", required=True, help="emotion.onnx's version in emotion.json and MQTT")
    p.add_argument("--fast-version", required=True)
    p.add_argument("--name", default="xpressify-edge")
    p.add_argument("--fast-name", default="xpressify-edge-late")
    p.add_argument("--fast-about", default=None,
                   help="one line on the fast net and its training (default: the one in emotion.json)")
    p.add_argument("--out-dir", type=Path, default=MODELS)
    p.add_argument("--latency-int8-ms", type=float, default=None)
    p.add_argument("--latency-float-ms", type=float, default=None)
    p.add_argument("--latency-fast-ms", type=float, default=None)
    p.add_argument("--limit", type=int, default=None,
                   help="calibrate and evaluate on N faces only (smoke runs; never for the shipped files)")
    p.add_argument("--card-arg", action="append", default=[], metavar="ARG",
                   help="passed on to card.py, e.g. --card-arg=--latency --card-arg=model_a-official-e50=31.2")
    args = p.parse_args(argv)

    out = args.out_dir.resolve()
    into_models = out == MODELS
    latencies = (args.latency_int8_ms, args.latency_float_ms, args.latency_fast_ms)
    if not into_models and None in latencies:
        p.error("with --out-dir outside models/ give --latency-int8-ms, --latency-float-ms and "
                "--latency-fast-ms: the benchmark times the files in models/")
    if into_models and args.limit:
        p.error("--limit makes figures from a subset: use it only with --out-dir elsewhere")
    out.mkdir(parents=True, exist_ok=True)
    if not into_models:
        for name in KEPT:
            shutil.copyfile(MODELS / name, out / name)
    fast_about = args.fast_about or json.loads((out / "emotion.json").read_text()).get("fast", {}).get("about")
    if not fast_about:
        p.error("emotion.json has no fast entry to take the description from: give --fast-about")
    limit = ["--limit", args.limit] if args.limit else []
    calibration = ["--calibration-images", args.limit] if args.limit else []
    main_weights, fast_weights = weights(args.main), weights(args.fast)
    swa_run = args.main.with_name(args.main.name + "-swa")

    run("1/6 export the main model", py("export.py", "--checkpoint", main_weights, "--out-dir", out,
                                        *calibration))
    evaluate_main = ["--model", out / "emotion.onnx", "--model", out / "emotion-float.onnx",
                     "--run-dir", args.main, "--out", out / "eval", *limit]
    if main_weights.parent == swa_run:
        evaluate_main += ["--swa-run-dir", swa_run]
    run("2/6 evaluate it", py("evaluate.py", *evaluate_main))

    scratch = out / "eval" / "fast"
    run("3/6 export the fast model",
        py("export.py", "--checkpoint", fast_weights, "--out-dir", scratch, "--name", "emotion-fast", *calibration))
    shutil.copyfile(scratch / "emotion-fast-float.onnx", out / "emotion-fast.onnx")
    for leftover in ("emotion-fast-float.onnx", "emotion-fast.onnx"):
        (scratch / leftover).unlink()
    run("3/6 evaluate the fast model",
        py("evaluate.py", "--model", out / "emotion-fast.onnx", "--run-dir", args.fast, "--out", scratch, *limit))

    measured_now = None in latencies
    if measured_now:
        run("4/6 time the models in tract", ["cargo", "bench", "--workspace", "--bench", "classifier", "--",
                                             "classify/emotion"])
        latencies = tuple(given if given is not None else criterion_ms(f) for given, f in
                          zip(latencies, ("emotion.onnx", "emotion-float.onnx", "emotion-fast.onnx")))
    int8_ms, float_ms, fast_ms = latencies
    print(f"\n    latency per face: int8 {int8_ms:.2f} ms, float {float_ms:.2f} ms, fast {fast_ms:.2f} ms")

    card = ["--metrics", out / "eval" / "metrics.json", "--out-dir", out, "--name", args.name,
            "--version", args.version,
            "--latency-int8-ms", f"{int8_ms:.2f}", "--latency-float-ms", f"{float_ms:.2f}"]
    if measured_now:
        card += ["--latency-date", time.strftime("%Y-%m-%d")]
    if (CARD_TEXT / "status.md").exists():
        card += ["--status", (CARD_TEXT / "status.md").read_text().strip()]
    if (CARD_TEXT / "notes.md").exists():
        card += ["--notes", CARD_TEXT / "notes.md"]
    run("5/6 write the card", py("card.py", *card, *args.card_arg))
    run("5/6 write the fast entry", py("fast_entry.py", "--metrics", scratch / "metrics.json", "--name", args.fast_name,
                                       "--version", args.fast_version, "--about", fast_about,
                                       "--latency-ms", f"{fast_ms:.2f}", "--card", out / "emotion.json"))

    if into_models:
        run("6/6 remake the aarch64 reference logits",
            ["cargo", "test", "--workspace", "--test", "integration", "reference_logits"],
            env={**os.environ, "XPRESSIFY_UPDATE_GOLDEN": "1"})
    else:
        print("\n==> 6/6 skipped: the reference logits are made from the files in models/")
    print(f"\nship: rebuilt the shipped model files in {out}")


if __name__ == "__main__":
    main()
