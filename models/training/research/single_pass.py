"""Cut the single pass out of a flip-averaged float model, as a model of its own.

    python models/training/research/single_pass.py models/emotion-float.onnx /var/cache/xpressify/teacher/single.onnx

It takes int8 graphs too (`emotion.onnx`): the cut keeps the calibrated quantisation as it was.

`export.py --flip-average` writes graphs that run the net on the face and on its mirror image
and average the two logits. The net itself (the first of the two passes, on the face as it
comes) is half the compute: as a distillation teacher on a CPU it halves the teacher's share
of an epoch, at the price of the flip's accuracy (for the shipped model 71.08 % instead of
71.72 % on PrivateTest). Checkpoints are never committed, so this is how the shipped weights
become a one-pass model again. Same contract: `input` [N,1,48,48] pixels in [0,1] -> [N,7].
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import onnx
import onnx.utils


def ops_behind(tensor: str, producer: dict) -> set[str]:
    """The operator types of every node that `tensor` depends on."""
    seen, ops, todo = set(), set(), [tensor]
    while todo:
        node = producer.get(todo.pop())
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        ops.add(node.op_type)
        todo.extend(node.input)
    return ops


def through_qdq(tensor: str, producer: dict) -> str:
    """The float tensor behind a QuantizeLinear -> DequantizeLinear pair (an int8 graph puts one
    after every operator); `tensor` itself in a float graph."""
    while True:
        dq = producer.get(tensor)
        q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        if q is None or q.op_type != "QuantizeLinear":
            return tensor
        tensor = q.input[0]


def plain_branch(model: onnx.ModelProto) -> str:
    """The logits tensor of the pass on the face as it comes: of the two inputs of the Add that
    feeds the output (through its Mul by 0.5), the one with no mirroring (Slice) behind it. In
    an int8 graph the quantise/dequantise pairs between them are stepped over, and the plain
    pass's logits are taken as dequantised, as the averaging saw them."""
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    out = producer.get(through_qdq(graph.output[0].name, producer))
    add = producer.get(through_qdq(out.input[0], producer)) if out is not None and out.op_type == "Mul" else None
    if add is None or add.op_type != "Add" or len(add.input) != 2:
        raise ValueError("not a flip-averaged graph: its output is not (a + b) * 0.5 "
                         "(export.py --flip-average writes such graphs)")
    plain = [t for t in add.input if "Slice" not in ops_behind(t, producer)]
    if len(plain) != 1:
        raise ValueError("not a flip-averaged graph: exactly one of the averaged passes should see a mirrored face")
    return plain[0]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="a flip-averaged float model, e.g. models/emotion-float.onnx")
    p.add_argument("out", type=Path, help="where the one-pass model goes")
    args = p.parse_args(argv)
    if not args.model.exists():
        sys.exit(f"{args.model} not found")
    model = onnx.load(str(args.model))
    try:
        plain = plain_branch(model)
    except ValueError as e:
        sys.exit(f"{args.model}: {e}")
    # The extractor needs every tensor's shape, as onnx.utils.extract_model infers them first.
    cut = onnx.utils.Extractor(onnx.shape_inference.infer_shapes(model)).extract_model(["input"], [plain])
    cut.graph.output[0].name = "logits"
    producer = next(n for n in cut.graph.node if plain in n.output)
    producer.output[list(producer.output).index(plain)] = "logits"
    onnx.checker.check_model(cut)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(cut, str(args.out))
    print(f"{args.out}: the first pass of {args.model} ({len(cut.graph.node)} nodes)")


if __name__ == "__main__":
    main()
