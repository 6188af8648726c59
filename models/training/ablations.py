"""Render the ablation table of MODEL.md ("Each part of the recipe turned off (or on) in turn")
from the figures in models/eval/ablations, so that the card states what the files hold.

    python models/training/compare.py --out models/eval/ablations --merge --run $R/abl-tiny-mixup-s1
    python models/training/evaluate.py --out /tmp/ablations --model ...   # every run's ONNX
    cp /tmp/ablations/metrics.json models/eval/ablations/
    python models/training/ablations.py --card models/MODEL.md --base abl-tiny-base --base abl-edge-base

Each row is a train.py run; it is named by the flags that set it apart from its net's base run
(the recipe), so the table says exactly what was turned off or on. One table per net (`--base`
names each net's base run); a run of another net whose only difference from a base is `--arch`
(the same recipe on a different net) joins that base's table. With --card the table between the
card's `<!-- ablations -->` and `<!-- /ablations -->` lines is replaced; without it, printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from card import pct  # noqa: E402

EVAL = Path(__file__).resolve().parents[1] / "eval" / "ablations"
BEGIN, END = "<!-- ablations -->", "<!-- /ablations -->"


def changed_flags(flags: list[str], base: list[str]) -> str:
    """The flags of a run that its base run does not have."""
    return " ".join(f for f in flags if f not in base)


def only_net_differs(run: dict, base: dict) -> bool:
    """Whether `run` is `base`'s recipe on another net: its one changed flag is `--arch`."""
    diff = changed_flags(run.get("flags", []), base.get("flags", [])).split(" ")
    return run["arch"] != base["arch"] and len(diff) == 2 and diff[0] == "--arch"


def table(rows: list[dict], metrics: dict, base_run: str) -> str:
    """The markdown table of one net: its base run first, then the runs of the same net in the
    order compare.json has them, then the same recipe on other nets."""
    by_run = {r["run"]: r for r in rows}
    if base_run not in by_run:
        sys.exit(f"the base run {base_run} is not in compare.json (runs: {', '.join(by_run)})")
    base = by_run[base_run]
    if "flags" not in base:
        sys.exit(f"compare.json has no flags for {base_run}: rerun compare.py on it")
    out = [f"`{base['arch']}`, the recipe: `train.py {' '.join(base['flags'])}`.", "",
           "| run | PublicTest (best) | PrivateTest | flip-averaged | macro-F1 | FER+ majority label | blur σ 1 px |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    same_net = [r for r in rows if r["arch"] == base["arch"] and r["run"] != base_run]
    for r in [base] + same_net + [r for r in rows if only_net_differs(r, base)]:
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
    """One table per base run; every run must share its net or its whole recipe with a base."""
    by_run = {r["run"]: r for r in rows}
    base_rows = [by_run[b] for b in bases if b in by_run]
    stray = [r["run"] for r in rows
             if not any(r["arch"] == b["arch"] or only_net_differs(r, b) for b in base_rows)]
    if stray:
        sys.exit(f"no --base run for the net of {', '.join(stray)}")
    return "\n\n".join(table(rows, metrics, b) for b in bases)


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
    p.add_argument("--card", type=Path, default=None, help="MODEL.md to update in place")
    args = p.parse_args(argv)
    rows = json.load(open(args.dir / "compare.json"))
    metrics = json.load(open(args.dir / "metrics.json"))
    block = tables(rows, metrics, args.base or ["abl-tiny-base"])
    if args.card is None:
        print(block)
        return
    args.card.write_text(replace_block(args.card.read_text(), block))
    print(f"wrote the ablation table of {args.card} ({len(rows)} runs)")


if __name__ == "__main__":
    main()
