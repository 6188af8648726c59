"""Render the ablation table of EXPERIMENTS.md ("Each part of the recipe turned off (or on) in turn")
from the figures in models/eval/ablations, so that the card states what the files hold.

    python models/training/research/compare.py --out models/eval/ablations --merge --run $R/abl-tiny-mixup-s1
    python models/training/evaluate.py --out /tmp/ablations --model ...   # every run's ONNX
    cp /tmp/ablations/metrics.json models/eval/ablations/
    python models/training/research/ablations.py --card models/EXPERIMENTS.md --base abl-tiny-base --base abl-edge-base

Each row is a train.py run; it is named by the flags that set it apart from its net's base run
(the recipe), so the table says exactly what was turned off or on. One table per net (`--base`
names each net's base run); a run of another net (`--arch` among its changed flags) joins the
table of the base it differs from in the fewest flags. With --card the table between the
card's `<!-- ablations -->` and `<!-- /ablations -->` lines is replaced; without it, printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from card import pct

EVAL = Path(__file__).resolve().parents[1] / "eval" / "ablations"
BEGIN, END = "<!-- ablations -->", "<!-- /ablations -->"


def changed_flags(flags: list[str], base: list[str]) -> str:
    """The flags of a run that its base run does not have."""
    return " ".join(f for f in flags if f not in base)


def home_base(run: dict, bases: list[dict]) -> dict | None:
    """The base run whose table `run` belongs in: the base of its own net, else (the recipe on
    another net, `--arch` among its changed flags) the base it differs from in the fewest flags."""
    same_net = [b for b in bases if b["arch"] == run["arch"]]
    if same_net:
        return same_net[0]
    changed = {b["run"]: changed_flags(run.get("flags", []), b.get("flags", [])).split() for b in bases}
    others = [b for b in bases if "--arch" in changed[b["run"]]]
    return min(others, key=lambda b: len(changed[b["run"]]), default=None)


def table(rows: list[dict], metrics: dict, base: dict) -> str:
    """The markdown table of one net: its base run first, then the other runs of the same net,
    then the recipe on other nets, each in the order compare.json has them."""
    if "flags" not in base:
        sys.exit(f"compare.json has no flags for {base['run']}: rerun compare.py on it")
    out = [f"`{base['arch']}`, the recipe: `train.py {' '.join(base['flags'])}`.", "",
           "| run | PublicTest (best) | PrivateTest | flip-averaged | macro-F1 | FER+ majority label | blur σ 1 px |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    others = [r for r in rows if r is not base]
    ordered = [r for r in others if r["arch"] == base["arch"]] + [r for r in others if r["arch"] != base["arch"]]
    for r in [base] + ordered:
        m = metrics.get(Path(r["onnx"]).name)
        if m is None or "flags" not in r:
            sys.exit(f"{r['run']}: no evaluate.py figures or flags; run compare.py and evaluate.py on it")
        diff = changed_flags(r["flags"], base["flags"])
        name = "the recipe" if r is base else f"`{diff}`" if diff else "the recipe again"
        out.append(f"| {name} | {pct(r['best_val_acc'])} | {pct(r['test_accuracy'])} | "
                   f"{pct(r['test_accuracy_flip_avg'])} | {r['test_macro_f1']:.3f} | "
                   f"{pct(m['ferplus_majority_accuracy'])} | {pct(m['robustness']['blur_sigma1'])} |")
    return "\n".join(out)


def tables(rows: list[dict], metrics: dict, bases: list[str]) -> str:
    """One table per base run; every other run goes in the table of its home base."""
    by_run = {r["run"]: r for r in rows}
    missing = [b for b in bases if b not in by_run]
    if missing:
        sys.exit(f"the base run {', '.join(missing)} is not in compare.json (runs: {', '.join(by_run)})")
    base_rows = [by_run[b] for b in bases]
    home = {r["run"]: home_base(r, base_rows) for r in rows}
    stray = [run for run, b in home.items() if b is None]
    if stray:
        sys.exit(f"no --base run for the net of {', '.join(stray)}")
    return "\n\n".join(table([r for r in rows if home[r["run"]] is b], metrics, b) for b in base_rows)


def replace_block(card: str, block: str) -> str:
    """The card with the text between its ablation markers replaced by `block`."""
    start, end = card.find(BEGIN), card.find(END)
    if start < 0 or end < start:
        sys.exit(f"the card has no {BEGIN} … {END} block to replace")
    return card[: start + len(BEGIN)] + "\n" + block + "\n" + card[end:]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, default=EVAL, help="compare.json and metrics.json of the runs")
    p.add_argument("--base", action="append", default=None,
                   help="a run that has the whole recipe, one per net (default: abl-tiny-base)")
    p.add_argument("--card", type=Path, default=None, help="EXPERIMENTS.md to update in place")
    args = p.parse_args(argv)
    rows = json.loads(Path(args.dir / "compare.json").read_text())
    metrics = json.loads(Path(args.dir / "metrics.json").read_text())
    block = tables(rows, metrics, args.base or ["abl-tiny-base"])
    if args.card is None:
        print(block)
        return
    args.card.write_text(replace_block(args.card.read_text(), block))
    print(f"wrote the ablation table of {args.card} ({len(rows)} runs)")


if __name__ == "__main__":
    main()
