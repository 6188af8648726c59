"""Compare trained architectures on FER2013 PrivateTest, for the model card's table.

    python models/training/research/compare.py --run /var/cache/xpressify/runs/model_a-official-s1 \
        --run /var/cache/xpressify/runs/model_b-official-s1 --run /var/cache/xpressify/runs/edge-random-s1

For each run: parameters and MACs of its architecture, its best checkpoint exported to float
ONNX (under --onnx-dir, outside the repo, for the latency benchmark), and that ONNX file's
accuracy, flip-averaged accuracy and macro-F1 in onnxruntime on the run's own test set
(PrivateTest for the official split, the held-out 10 % for the paper's random split), with
the epochs trained and the best validation accuracy. Results go to <out>/compare.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import train
from data import default_data_dir, load_fer2013, split, to_input
from evaluate import logits_of, per_class, session, softmax
from export import export_float, load_checkpoint
from nets import count_macs, count_params

# Settings of train.py that say where and how fast a run went, not what it learned.
MACHINE_ARGS = {"threads", "device", "precision", "data_dir", "run_dir", "limit"}


def recipe_flags(args: dict) -> list[str]:
    """The train.py flags (`--name value`) that set a run's recipe apart from train.py's defaults:
    the command that reproduces it, and what an ablation changed. Settings a run predates take
    their default."""
    defaults = vars(train.parse_args([]))
    return [f"--{key.replace('_', '-')} {args.get(key, default)}" for key, default in defaults.items()
            if key not in MACHINE_ARGS and args.get(key, default) != default]


def compare_run(run_dir: Path, data, onnx_dir: Path) -> dict:
    best = run_dir / "best.pt"
    if not best.exists():
        sys.exit(f"{best} not found: train that run first")
    args = json.loads(Path(run_dir / "args.json").read_text())
    epochs = [json.loads(line) for line in Path(run_dir / "metrics.jsonl").read_text().splitlines()]
    model = load_checkpoint(best)
    name = run_dir.name
    onnx_path = onnx_dir / f"{name}.onnx"
    export_float(model, onnx_path)
    test = split(data, args["split"], args["seed"])["test"]
    x = to_input(data.pixels[test])
    y = data.labels[test].numpy()
    sess = session(onnx_path)
    z, zf = logits_of(sess, x), logits_of(sess, x.flip(3))
    pred = z.argmax(1)
    pc = per_class(y, pred)
    teacher, views = args.get("teacher"), None
    if args.get("teacher_bank"):
        bank = Path(args["teacher_bank"]) / "bank.json"
        if not bank.exists():
            sys.exit(f"{bank} not found: the row would not say what {name} was distilled from")
        meta = json.loads(Path(bank).read_text())
        teacher, views = meta["teacher"], meta["views"]
    return {
        "run": name, "arch": args["arch"], "split": args["split"], "seed": args["seed"], "onnx": str(onnx_path),
        "teacher": teacher, "teacher_bank_views": views, "flags": recipe_flags(args),
        "params": count_params(model), "macs": count_macs(model),
        "epochs_trained": len(epochs), "epochs_planned": args["epochs"],
        "best_val_acc": max(max(r["val_acc_raw"], r.get("val_acc_ema", 0)) for r in epochs),
        "test_n": len(y), "test_accuracy": float((pred == y).mean()),
        "test_accuracy_flip_avg": float(((softmax(z) + softmax(zf)).argmax(1) == y).mean()),
        "test_macro_f1": pc["macro_f1"],
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, action="append", required=True, help="a run directory of train.py")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--onnx-dir", type=Path, default=Path("/var/cache/xpressify/compare"))
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "eval")
    p.add_argument("--merge", action="store_true",
                   help="keep the rows of compare.json whose runs are not given (their checkpoints may be gone)")
    args = p.parse_args(argv)
    args.onnx_dir.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_fer2013(args.data_dir or default_data_dir())
    rows = []
    for run in args.run:
        r = compare_run(run, data, args.onnx_dir)
        print(f"{r['run']}: {r['params']:,} params, {r['macs'] / 1e6:.1f} M MACs, {r['epochs_trained']} epochs, "
              f"test {r['test_accuracy'] * 100:.2f} % (flip {r['test_accuracy_flip_avg'] * 100:.2f} %), "
              f"macro-F1 {r['test_macro_f1']:.4f}; {r['onnx']}")
        rows.append(r)
    out = args.out / "compare.json"
    if args.merge and out.exists():
        fresh = {r["run"] for r in rows}
        rows = [r for r in json.loads(Path(out).read_text()) if r["run"] not in fresh] + rows
    with open(out, "w") as f:
        json.dump(rows, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
