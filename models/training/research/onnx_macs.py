"""Multiply-accumulates of an ONNX model at a given input shape: the per-frame work figure that
does not depend on the machine's speed or load (cross/README.md compares x86 and aarch64 by it).

    python models/training/research/onnx_macs.py models/face_detection_yunet_2026may.onnx 1,3,256,320
    python models/training/research/onnx_macs.py models/emotion-float.onnx 1,1,48,48

Counts Conv (dense, grouped and depthwise), ConvTranspose, Gemm and MatMul; element-wise ops,
pooling and activations are left out (they are a few per cent of a CNN's arithmetic).
"""

from __future__ import annotations

import argparse
import math
import sys

import onnx
from onnx import shape_inference


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            shapes[vi.name] = dims
    for init in inferred.graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def count(path: str, input_shape: list[int]) -> int:
    """MACs of one run of the model at `input_shape` (its first input)."""
    model = onnx.load(path)
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != len(input_shape):
        sys.exit(f"{path}: input has {len(dims)} dimensions, shape given has {len(input_shape)}")
    for d, v in zip(dims, input_shape):
        d.Clear()
        d.dim_value = v
    shapes = _shapes(model)
    macs = 0
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose", "QLinearConv"):
            w = node.input[3] if node.op_type == "QLinearConv" else node.input[1]
            out = node.output[0]
            if w not in shapes or out not in shapes:
                sys.exit(f"{path}: shape of {node.name or node.op_type} unknown")
            kernel = shapes[w]  # [out_ch, in_ch / groups, kh, kw] ([in, out/groups, ..] transposed)
            per_output = math.prod(kernel[1:])
            if node.op_type == "ConvTranspose":
                macs += math.prod(shapes[node.input[0]]) * kernel[1] * math.prod(kernel[2:])
            else:
                macs += math.prod(shapes[out]) * per_output
        elif node.op_type in ("Gemm", "MatMul"):
            a, out = node.input[0], node.output[0]
            if a in shapes and out in shapes:
                macs += math.prod(shapes[out]) * shapes[a][-1]
    return macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="ONNX file")
    parser.add_argument("shape", help="input shape, comma-separated, e.g. 1,3,256,320")
    args = parser.parse_args()
    shape = [int(v) for v in args.shape.split(",")]
    macs = count(args.model, shape)
    print(f"{args.model} at {'x'.join(map(str, shape))}: {macs / 1e6:.1f} M MACs")


if __name__ == "__main__":
    main()
