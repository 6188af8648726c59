#!/usr/bin/env bash
# The training pipeline end to end on a few faces, as CI runs it (.ci/run): train.py for one
# epoch on 64 Training faces, a rerun that must resume and find the run finished, then ship.py
# rebuilding every shipped file from that checkpoint into a scratch folder (evaluated on 256
# PrivateTest faces). It checks what came out and that models/ was left alone.
#
#   PY=/var/cache/xpressify/venv/bin/python bash models/training/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python3}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
before=$(git status --porcelain -- models 2>/dev/null || true)

train=("$PY" models/training/train.py --arch edge_tiny --epochs 1 --limit 64 --threads 2
       --run-dir "$scratch/run")
"${train[@]}"
"${train[@]}"  # resumes from last.pt: the run is finished, so no second epoch is added
[ "$(wc -l < "$scratch/run/metrics.jsonl")" = 1 ] || {
  echo "smoke: the rerun did not resume ($(wc -l < "$scratch/run/metrics.jsonl") epochs logged)" >&2; exit 1; }

"$PY" models/training/ship.py --main "$scratch/run" --fast "$scratch/run" --version smoke \
  --fast-version smoke-fast --out-dir "$scratch/models" --limit 256 \
  --latency-int8-ms 1 --latency-float-ms 1 --latency-fast-ms 1

"$PY" - "$scratch" <<'PY'
"""What ship.py must have written: every shipped file, figures from the 256 evaluated faces."""
import json
import math
import sys
from pathlib import Path

out = Path(sys.argv[1]) / "models"
for name in ("emotion.onnx", "emotion-float.onnx", "emotion-fast.onnx", "MODEL.md", "EXPERIMENTS.md",
             "emotion.json", "eval/metrics.json", "eval/fast/metrics.json"):
    if not (out / name).is_file() or (out / name).stat().st_size == 0:
        sys.exit(f"smoke: ship.py wrote no {name}")
card = json.loads((out / "emotion.json").read_text())
metrics = json.loads((out / "eval/metrics.json").read_text())
assert card["version"] == "smoke" and card["fast"]["version"] == "smoke-fast", card
assert metrics["emotion.onnx"]["n"] == 256, metrics["emotion.onnx"]["n"]
for acc in (card["evaluation"]["privatetest_accuracy_int8"], card["fast"]["privatetest_accuracy"]):
    assert math.isfinite(acc) and 0 <= acc <= 1, acc
assert "(version smoke)" in (out / "MODEL.md").read_text().splitlines()[0]
print(f"smoke: ship.py rebuilt all shipped files; int8 {card['evaluation']['privatetest_accuracy_int8']:.3f} "
      "on 256 faces after one epoch on 64")
PY

after=$(git status --porcelain -- models 2>/dev/null || true)
[ "$before" = "$after" ] || { echo "smoke: models/ changed:"; git status --porcelain -- models; exit 1; } >&2
echo "smoke: the training pipeline ran end to end"
