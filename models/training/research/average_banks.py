"""An ensemble's teacher bank, made from the banks of its members without scoring anything again.

    python models/training/teacher_bank.py --teacher <second teacher> --views 8 --out $B/second-v8-s1
    python models/training/research/average_banks.py $B/emotion-float-v8-s1 $B/second-v8-s1 --out $B/pair-v8-s1
    python models/training/train.py --arch edge_late ... --teacher-bank $B/pair-v8-s1

A student can only learn what its teacher knows, and an average of two nets' logits usually
knows more than either. Scoring every view with every member costs a teacher epoch per member
and view, and the members' own banks have done that work already: teacher_bank.py draws each
view from a generator seeded by `--seed` and the view's number, so banks built with the same
seed, split and augmentation hold the very same pixels. This checks that they do, face by face,
and writes a bank whose logits are the members' weighted mean; train.py reads it like any other.
Resumable view by view.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from data import default_data_dir, load_fer2013
from teacher_bank import META, read_finished_meta, view_path

# What must be equal for two banks to hold the same views of the same faces.
SAME_VIEWS = ("views", "faces", "split", "seed", "augment")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("banks", type=Path, nargs="+", help="finished banks of the same views (teacher_bank.py)")
    p.add_argument("--weights", type=float, nargs="+", default=None,
                   help="one weight per bank (default: equal); they are scaled to sum to 1")
    p.add_argument("--out", type=Path, required=True, help="the averaged bank's directory")
    p.add_argument("--data-dir", type=Path, default=None, help="shared/data (default: $XPRESSIFY_DATA_DIR or ../shared/data)")
    return p.parse_args(argv)


def check_same_views(banks: list[Path], metas: list[dict]) -> torch.Tensor:
    """The shared face index, after checking that every bank was drawn with the same recipe."""
    for bank, meta in zip(banks[1:], metas[1:]):
        differs = [k for k in SAME_VIEWS if meta.get(k) != metas[0].get(k)]
        if differs:
            raise ValueError(f"{bank} differs from {banks[0]} in {', '.join(differs)}: "
                             "build it with the same --views, --split, --seed and augmentation")
    index = torch.load(banks[0] / "index.pt", weights_only=True)
    for bank in banks[1:]:
        if not torch.equal(torch.load(bank / "index.pt", weights_only=True), index):
            raise ValueError(f"{bank} holds other faces than {banks[0]}")
    return index


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if len(args.banks) < 2:
        sys.exit("give at least two banks to average")
    weights = args.weights or [1.0] * len(args.banks)
    if len(weights) != len(args.banks) or min(weights) < 0 or sum(weights) <= 0:
        sys.exit(f"--weights needs {len(args.banks)} non-negative numbers with a positive sum")
    weights = [w / sum(weights) for w in weights]
    try:
        metas = [read_finished_meta(b) for b in args.banks]
        index = check_same_views(args.banks, metas)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(str(e))

    labels = load_fer2013(args.data_dir or default_data_dir()).labels[index]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    meta = {k: metas[0][k] for k in SAME_VIEWS} | {
        "teacher": " + ".join(f"{w:.3g} × {m['teacher']}" for w, m in zip(weights, metas)),
        "averaged_banks": [str(b) for b in args.banks], "weights": weights,
        "teacher_mirrored_by_bank": any(m.get("teacher_mirrored_by_bank", False) for m in metas),
        "view_accuracy": 0.0}
    meta_path = out / META
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if old.get("averaged_banks") != meta["averaged_banks"] or old.get("weights") != weights:
            sys.exit(f"{out} averages other banks or weights: use another --out")
    torch.save(index, out / "index.pt")

    correct = 0
    for view in range(meta["views"]):
        t0 = time.time()
        if view_path(out, view).exists():
            logits = torch.load(view_path(out, view), weights_only=True)["logits"]
        else:
            members = [torch.load(view_path(b, view), weights_only=True) for b in args.banks]
            for bank, member in zip(args.banks[1:], members[1:]):
                if not torch.equal(member["images"], members[0]["images"]):
                    sys.exit(f"view {view} of {bank} holds other pixels than {args.banks[0]}'s: "
                             "the banks were not drawn alike")
            logits = sum(w * m["logits"] for w, m in zip(weights, members))
            tmp = view_path(out, view).with_suffix(".tmp")
            torch.save({"images": members[0]["images"], "logits": logits}, tmp)
            tmp.replace(view_path(out, view))
        right = int((logits.argmax(1) == labels).sum())
        correct += right
        print(f"view {view + 1}/{meta['views']}: the average reads {right / len(labels):.4f} of it right, "
              f"{time.time() - t0:.0f} s", flush=True)
    meta["view_accuracy"] = correct / (len(labels) * meta["views"])
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"done: {out} ({meta['views']} views, the average reads {meta['view_accuracy']:.4f} of them right)")


if __name__ == "__main__":
    main()
