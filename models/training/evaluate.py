"""Evaluate ONNX emotion models on FER2013 PrivateTest (and FER+), write the model card's numbers.

    python models/training/evaluate.py --model models/emotion.onnx --model models/emotion-float.onnx \
        --run-dir /var/cache/xpressify/runs/edge-official-s1 --out models/eval

For each model: accuracy, macro-F1, per-class precision/recall/F1, confusion matrix (PNG),
flip-averaged accuracy, FER+ majority-label accuracy, and robustness under brightness x0.6 /
x1.4, rotation +-15 deg, Gaussian blur and horizontal flip. With --run-dir also the training
curves. Results go to <out>/metrics.json. onnxruntime runs the models here; the device's Rust
test checks the shipped model's accuracy in tract.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import EMOTIONS, default_data_dir, gaussian_blur, load_fer2013, to_input


def session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def logits_of(sess, x: torch.Tensor, batch: int = 256) -> np.ndarray:
    out = [sess.run(None, {"input": x[i : i + batch].numpy()})[0] for i in range(0, len(x), batch)]
    return np.concatenate(out)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def per_class(y: np.ndarray, pred: np.ndarray) -> dict:
    cm = np.zeros((7, 7), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    rows = {}
    for c, name in enumerate(EMOTIONS):
        tp = cm[c, c]
        prec = tp / cm[:, c].sum() if cm[:, c].sum() else 0.0
        rec = tp / cm[c, :].sum() if cm[c, :].sum() else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        rows[name] = {"precision": float(prec), "recall": float(rec), "f1": float(f1), "support": int(cm[c, :].sum())}
    return {"confusion": cm.tolist(), "classes": rows,
            "macro_f1": float(np.mean([r["f1"] for r in rows.values()]))}


def rotate(x: torch.Tensor, deg: float) -> torch.Tensor:
    a = math.radians(deg)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]).expand(len(x), 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def blur(x: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    # A 5-tap kernel: the robustness figures of earlier cards were measured with it.
    return gaussian_blur(x, sigma, radius=2)


def ferplus_majority(data, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows whose FER+ plurality vote is one of the seven classes, with that label."""
    votes = data.ferplus[idx]
    keep = votes.sum(1) > 0
    return idx[keep], votes[keep].argmax(1)


def evaluate(path: Path, data, limit: int | None = None) -> dict:
    sess = session(path)
    idx = data.indices("PrivateTest")[:limit]
    x = to_input(data.pixels[idx])
    y = data.labels[idx].numpy()
    z = logits_of(sess, x)
    pred = z.argmax(1)
    zf = logits_of(sess, x.flip(3))
    res = {"model": path.name, "bytes": path.stat().st_size, "n": len(y),
           "accuracy": float((pred == y).mean()),
           "accuracy_flip_avg": float(((softmax(z) + softmax(zf)).argmax(1) == y).mean())}
    res.update(per_class(y, pred))
    fp_idx, fp_y = ferplus_majority(data, idx)
    zp = logits_of(sess, to_input(data.pixels[fp_idx]))
    res["ferplus_majority_accuracy"] = float((zp.argmax(1) == fp_y.numpy()).mean())
    res["ferplus_n"] = len(fp_y)
    variants = {
        "brightness_x0.6": (x * 0.6).clamp(0, 1),
        "brightness_x1.4": (x * 1.4).clamp(0, 1),
        "rotation_+15": rotate(x, 15),
        "rotation_-15": rotate(x, -15),
        "blur_sigma1": blur(x, 1.0),
        "hflip": x.flip(3),
    }
    res["robustness"] = {k: float((logits_of(sess, v).argmax(1) == y).mean()) for k, v in variants.items()}
    return res


def plot_confusion(cm: list, title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(cm)
    norm = cm / cm.sum(1, keepdims=True)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=110)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(7), EMOTIONS, rotation=45, ha="right")
    ax.set_yticks(range(7), EMOTIONS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (FER2013 label)")
    for i in range(7):
        for j in range(7):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{cm[i, j]}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def plot_curves(run_dir: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(run_dir / "metrics.jsonl").read_text().splitlines()]
    ep = [r["epoch"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    a.plot(ep, [r["train_loss"] for r in rows], label="train (augmented, soft targets)")
    a.plot(ep, [r["val_loss_raw"] for r in rows], label="PublicTest")
    a.plot(ep, [r.get("val_loss_ema", math.nan) for r in rows], label="PublicTest, EMA weights")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.legend()
    b.plot(ep, [r["train_acc"] for r in rows], label="train (augmented)")
    b.plot(ep, [r["val_acc_raw"] for r in rows], label="PublicTest")
    b.plot(ep, [r.get("val_acc_ema", math.nan) for r in rows], label="PublicTest, EMA weights")
    b.axhline(0.7089, color="grey", ls="--", lw=1, label="paper's peak validation (70.89 %)")
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy")
    b.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, action="append", required=True)
    p.add_argument("--run-dir", type=Path, default=None, help="the train.py run: its recipe and curves")
    p.add_argument("--swa-run-dir", type=Path, default=None,
                   help="the swa.py run on top of it, when the shipped weights are its average")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "eval")
    p.add_argument("--limit", type=int, default=None,
                   help="only the first N PrivateTest faces (smoke tests; the card's figures need all)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_fer2013(args.data_dir or default_data_dir())
    results = {}
    for path in args.model:
        if not path.exists():
            sys.exit(f"{path} not found")
        r = evaluate(path, data, args.limit)
        results[path.name] = r
        plot_confusion(r["confusion"], f"{path.name}: PrivateTest, acc {r['accuracy'] * 100:.2f} %",
                       args.out / f"confusion-{path.stem}.png")
        print(f"{path.name}: accuracy {r['accuracy'] * 100:.2f} %, flip-avg {r['accuracy_flip_avg'] * 100:.2f} %, "
              f"macro-F1 {r['macro_f1']:.4f}, FER+ {r['ferplus_majority_accuracy'] * 100:.2f} %")
        for k, v in r["robustness"].items():
            print(f"    {k}: {v * 100:.2f} %")
    if args.run_dir:
        plot_curves(args.run_dir, args.out / "curves.png")
        results["training"] = {"args": json.loads(Path(args.run_dir / "args.json").read_text()),
                               "epochs": [json.loads(line) for line in Path(args.run_dir / "metrics.jsonl").read_text().splitlines()]}
    if args.swa_run_dir:
        results["swa"] = {"args": json.loads(Path(args.swa_run_dir / "args.json").read_text()),
                          "epochs": [json.loads(line) for line in Path(args.swa_run_dir / "metrics.jsonl").read_text().splitlines()]}
    with open(args.out / "metrics.json", "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {args.out / 'metrics.json'}")


if __name__ == "__main__":
    main()
