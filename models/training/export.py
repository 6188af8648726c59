"""Export a trained checkpoint to ONNX (float) and a static int8 QDQ model tract can run.

    python models/training/export.py --checkpoint /var/cache/xpressify/runs/edge-official-s1/best.pt

Writes (default into models/): emotion-float.onnx and emotion.onnx (int8). Contract of both:
input `input` [N,1,48,48] float32, pixels/255 in [0,1]; output `logits` [N,7] in FER order.
Quantisation is static, calibrated on Training images, in QDQ form (QuantizeLinear /
DequantizeLinear around float ops) with reduce_range, the form tract runs and matches
onnxruntime on; onnxruntime's QOperator form adds com.microsoft ops tract rejects.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import default_data_dir, load_fer2013, to_input
from nets import ARCHS, FlipAveraged, build, deployed, fuse

MODELS = Path(__file__).resolve().parents[1]


def load_checkpoint(path: Path) -> torch.nn.Module:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = build(ck["arch"], ck.get("dropout", 0.4))
    model.load_state_dict(ck["model"])
    return fuse(model.eval())


def export_float(model: torch.nn.Module, out: Path) -> None:
    torch.onnx.export(
        model,
        (torch.rand(1, 1, 48, 48),),
        str(out),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        opset_version=13,
        do_constant_folding=True,
        # The TorchScript exporter; torch 1.13 (CI's smoke run) has no `dynamo` argument.
        **({"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}),
    )
    m = onnx.load(str(out))
    onnx.checker.check_model(m)


def store_weights_as_fp16(path: Path, min_elements: int = 1024) -> None:
    """Halves the float model's file: large float32 weights are stored as float16 and widened
    back by a Cast node. The runtime folds the casts at load time, so inference still runs in
    float32 and only the weights' rounding (relative 5e-4) changes."""
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(path))
    g = m.graph
    casts = []
    for init in g.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        w = numpy_helper.to_array(init)
        if w.size < min_elements:
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(w.astype(np.float16), name + "_fp16"))
        casts.append(helper.make_node("Cast", [name + "_fp16"], [name], to=TensorProto.FLOAT,
                                      name=name + "_widen"))
    for node in reversed(casts):
        g.node.insert(0, node)
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


class Calibration:
    """Feeds onnxruntime's calibrator a class-balanced sample of Training faces."""

    def __init__(self, pixels: torch.Tensor, batch: int = 64):
        self.batches = [to_input(pixels[i : i + batch]).numpy() for i in range(0, len(pixels), batch)]
        self.i = 0

    def get_next(self):
        if self.i >= len(self.batches):
            return None
        self.i += 1
        return {"input": self.batches[self.i - 1]}

    def rewind(self):
        self.i = 0


def quantize(float_path: Path, out: Path, calib_pixels: torch.Tensor, per_channel: bool, method: str) -> None:
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(float_path), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(out),
            Calibration(calib_pixels),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            reduce_range=True,
            calibrate_method={"minmax": CalibrationMethod.MinMax,
                              "entropy": CalibrationMethod.Entropy,
                              "percentile": CalibrationMethod.Percentile}[method],
        )


def balanced_sample(data, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    train = data.indices("Training")
    per_class = n // 7
    picks = []
    for c in range(7):
        idx = train[data.labels[train] == c]
        picks.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return data.pixels[torch.cat(picks)]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path)
    src.add_argument("--untrained", metavar="ARCH", choices=list(ARCHS),
                     help="write only <name>-float.onnx of an untrained net: tract's time does not depend "
                          "on the weights, so a design's latency can be measured before it is trained")
    p.add_argument("--out-dir", type=Path, default=MODELS)
    p.add_argument("--name", default="emotion", help="file stem: <name>.onnx (int8), <name>-float.onnx")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--calibration-images", type=int, default=1400)
    p.add_argument("--per-channel", action="store_true", help="per-channel weight scales")
    p.add_argument("--calibration", default="minmax", choices=["minmax", "entropy", "percentile"])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--float-weights", default="fp16", choices=["fp16", "fp32"],
                   help="how the float model stores its weights (fp16 halves the file; it computes in fp32 either way)")
    p.add_argument("--flip-average", action="store_true",
                   help="put test-time flip averaging inside the graph (twice the compute per face)")
    args = p.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.untrained:
        model = deployed(args.untrained)
    elif args.checkpoint.exists():
        model = load_checkpoint(args.checkpoint)
    else:
        sys.exit(f"{args.checkpoint} not found: train first (models/training/train.py)")
    if args.flip_average:
        model = FlipAveraged(model).eval()
    float_path = args.out_dir / f"{args.name}-float.onnx"
    int8_path = args.out_dir / f"{args.name}.onnx"
    export_float(model, float_path)
    if args.untrained:
        print(f"{float_path}: {args.untrained}, untrained, for timing only")
        return
    data = load_fer2013(args.data_dir or default_data_dir())
    # Quantised from the float32 graph: the fp16 rounding must not reach the int8 model.
    quantize(float_path, int8_path, balanced_sample(data, args.calibration_images, args.seed),
             args.per_channel, args.calibration)
    if args.float_weights == "fp16":
        store_weights_as_fp16(float_path)
    for path in (float_path, int8_path):
        print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
