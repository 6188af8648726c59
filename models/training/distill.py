"""Knowledge distillation: a student learns from a finished model's soft predictions.

The teacher is either a finished run's `best.pt` or an exported float ONNX model (the shipped
`emotion-float.onnx`, run by onnx_teacher.py), and it scores every augmented batch the student
sees (online distillation): a `best.pt` as the mean of its logits on the face and its mirror
image, an ONNX graph as it computes (the shipped one averages the two inside the graph;
single_pass.py cuts out one pass, to halve the teacher's time on a CPU). The
student trains against a mix of the usual targets and the teacher's temperature-softened
distribution (Hinton et al. 2015).

An earlier version scored only the unaugmented faces, once, to save CPU time; the student then
learnt the teacher's view of a face it never saw (edge: 67.8 % against 69.0 % trained alone).
Online scoring costs a teacher forward pass per batch: cheap on a GPU, about tripling an epoch
on this project's 2-core CPU. teacher_bank.py scores a fixed number of augmented views of each
face once instead, so that long distilled schedules fit on the CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nets import FlipAveraged, build, fuse
from onnx_teacher import OnnxModule, OrtTeacher

# What can run an ONNX teacher (load_teacher's `engine`, teacher_bank.py's --engine).
TEACHER_ENGINES = ("auto", "torch", "onnxruntime")


def load_teacher(path: Path, device: torch.device, bf16: bool, engine: str = "auto") -> nn.Module:
    """The teacher at `path` (a `best.pt` or a float `.onnx`), in eval mode on `device`.

    `engine` says what runs an ONNX teacher: onnxruntime (OrtTeacher) is about twice as fast as
    torch on the CPU but runs only there and only in fp32, so `auto` picks it exactly then and
    asking for it elsewhere is an error rather than a silent fallback. A `best.pt` always runs in
    torch."""
    if engine not in TEACHER_ENGINES:
        raise ValueError(f"unknown teacher engine {engine!r}: use {', '.join(TEACHER_ENGINES)}")
    ort_fits = device.type == "cpu" and not bf16
    if engine == "onnxruntime" and not ort_fits:
        raise ValueError("onnxruntime scores the teacher on the CPU in fp32: use --device cpu --precision fp32, "
                         "or leave the engine on auto")
    if not path.exists():
        raise FileNotFoundError(f"teacher {path} not found: give a run's best.pt or models/emotion-float.onnx")
    if path.suffix == ".onnx" and engine != "torch" and ort_fits:
        teacher: nn.Module = OrtTeacher(path)
        what = "ONNX graph in onnxruntime"
    elif path.suffix == ".onnx":
        teacher = OnnxModule(path)
        what = "ONNX graph"
    else:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        net = build(ck["arch"], ck.get("dropout", 0.4))
        net.load_state_dict(ck["model"])
        teacher = FlipAveraged(fuse(net.eval()))
        what = f"{ck['arch']}, PublicTest {ck['best']['val_acc']:.4f}"
    print(f"teacher {path} ({what}), scoring each augmented batch", flush=True)
    return teacher.to(device).eval()


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) at `temperature`, scaled by T^2 so its gradients keep their size."""
    t = temperature
    return F.kl_div(student.div(t).log_softmax(1), teacher.div(t).log_softmax(1), log_target=True,
                    reduction="batchmean") * t * t


def kd_loss(temperature: float):
    """The run's distillation term as `loss(student, teacher, labels)`: the KL divergence at
    `temperature`. (Decoupled KD, tried as `--dkd-beta`, lost to it: EXPERIMENTS.md.)"""
    return lambda s, t, y: distillation_loss(s, t, temperature)
