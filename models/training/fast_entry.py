"""Write emotion.json's `fast` entry from evaluate.py's metrics of models/emotion-fast.onnx.

    python models/training/fast_entry.py --metrics /tmp/fast-eval/metrics.json \
        --name xpressify-edge-late --version 2026-11-28-late-bank150 --latency-ms 1.84 \
        --about "edge_late (47.5 M MACs, one pass), distilled ..."

The fast model is a different net from the shipped pair, so card.py (which rewrites the rest
of emotion.json) keeps this entry as it is. The device names the fast model in its MQTT
messages from `name` and `version`, and device/tests/model_accuracy.rs checks tract against
`privatetest_accuracy`, so these figures must come from the shipped file itself, not be copied
by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

MODELS = Path(__file__).resolve().parents[1]
FAST_FILE = "emotion-fast.onnx"


def fast_entry(metrics: dict, name: str, version: str, about: str, latency_ms: float) -> dict:
    """The entry for `emotion-fast.onnx` from its evaluate.py metrics (keyed by file name)."""
    m = metrics.get(FAST_FILE)
    if m is None:
        raise ValueError(
            f"the metrics hold no {FAST_FILE} (they have: {', '.join(sorted(metrics)) or 'nothing'}); "
            f"run evaluate.py --model models/{FAST_FILE}"
        )
    return {
        "file": FAST_FILE,
        "name": name,
        "version": version,
        "about": about,
        "privatetest_accuracy": m["accuracy"],
        "privatetest_macro_f1": m["macro_f1"],
        "ferplus_majority_accuracy": m["ferplus_majority_accuracy"],
        "latency_ms_tract_x86_1thread": latency_ms,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--metrics", type=Path, required=True, help="evaluate.py's metrics.json for models/emotion-fast.onnx")
    p.add_argument("--name", required=True, help="the name the device publishes, e.g. xpressify-edge-late")
    p.add_argument("--version", required=True)
    p.add_argument("--about", required=True, help="one line: the net and how it was trained")
    p.add_argument("--latency-ms", type=float, required=True,
                   help="per face in tract, one thread (cargo bench --bench classifier)")
    p.add_argument("--card", type=Path, default=MODELS / "emotion.json")
    args = p.parse_args()

    try:
        metrics = json.loads(args.metrics.read_text())
        card = json.loads(args.card.read_text())
        card["fast"] = fast_entry(metrics, args.name, args.version, args.about, args.latency_ms)
    except (OSError, json.JSONDecodeError, ValueError, KeyError) as e:
        sys.exit(f"fast_entry: {e}")
    args.card.write_text(json.dumps(card, indent=1) + "\n")
    print(f"wrote the fast entry of {args.card}: {args.name} {args.version}, "
          f"PrivateTest {card['fast']['privatetest_accuracy'] * 100:.2f} %")


if __name__ == "__main__":
    main()
