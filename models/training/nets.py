"""The architectures compared in the model card.

Every net takes [N,1,48,48] pixels in [0,1] and returns [N,7] logits in FER order; the
input normalisation lives inside the graph so the exported ONNX keeps that contract.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

PIXEL_MEAN, PIXEL_STD = 0.5077, 0.2550  # FER2013 Training statistics of pixels/255


class Normalize(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - PIXEL_MEAN) / PIXEL_STD


def conv_bn(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def separable_bn(cin: int, cout: int) -> list[nn.Module]:
    """A depthwise 3x3 (one filter per channel) then a pointwise 1x1 that mixes channels: about
    1/9 of a full 3x3 convolution's multiply-accumulates at these widths."""
    return [nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
            nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class RepConvBN(nn.Module):
    """A 3x3 convolution that trains as three branches and runs as one (RepVGG, Ding et al.
    2021): a 3x3 conv, a 1x1 conv and, where the shape allows, the identity, each with its own
    batch norm, summed before the ReLU. The branches ease optimisation of a plain stack; being
    linear, they fold into one 3x3 kernel and a bias (`fuse`), so the exported net has exactly
    the plain net's convolutions and time.
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv3 = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
        self.conv1 = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.identity = nn.BatchNorm2d(cout) if cin == cout else None
        self.fused: nn.Conv2d | None = None
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return self.act(self.fused(x))
        y = self.conv3(x) + self.conv1(x)
        if self.identity is not None:
            y = y + self.identity(x)
        return self.act(y)

    @torch.no_grad()
    def fuse(self) -> None:
        """Folds the branches, with their batch norms' running statistics, into one 3x3 conv;
        the training branches are dropped. Idempotent."""
        if self.fused is not None:
            return
        conv = self.conv3[0]
        cout, cin = conv.out_channels, conv.in_channels
        k3 = conv.weight
        k1 = nn.functional.pad(self.conv1[0].weight, [1, 1, 1, 1])
        branches = [(k3, self.conv3[1]), (k1, self.conv1[1])]
        if self.identity is not None:
            eye = torch.zeros_like(k3)
            eye[torch.arange(cout), torch.arange(cin), 1, 1] = 1.0
            branches.append((eye, self.identity))
        kernel, bias = torch.zeros_like(k3), torch.zeros(cout, device=k3.device)
        for k, bn in branches:
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            kernel += k * scale.reshape(-1, 1, 1, 1)
            bias += bn.bias - bn.running_mean * scale
        self.fused = nn.Conv2d(cin, cout, 3, padding=1, bias=True).to(k3.device)
        self.fused.weight.copy_(kernel)
        self.fused.bias.copy_(bias)
        del self.conv3, self.conv1
        self.identity = None


def fuse(model: nn.Module) -> nn.Module:
    """The deployed form of `model`: every RepConvBN folded into a plain convolution. Exports,
    parameter counts and MACs use this form; call it on a net in eval mode.

    The folded net must compute what the branches did: it is checked on a random batch, and a
    mismatch raises instead of exporting a net that differs from the one evaluated in training.
    """
    reps = [m for m in model.modules() if isinstance(m, RepConvBN) and m.fused is None]
    if not reps:
        return model
    if model.training:
        raise ValueError("fuse needs a net in eval mode: the branches fold with their running statistics")
    device = next(model.parameters()).device
    x = torch.rand(4, 1, 48, 48, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        before = model(x)
        for m in reps:
            m.fuse()
        after = model(x)
    err = (after - before).abs().max().item()
    if err > 1e-3 * max(1.0, before.abs().max().item()):
        raise RuntimeError(f"folding the RepVGG branches changed the logits by up to {err:.2e}")
    return model


def vgg(widths: list[int], convs_per_stage: int, head: list[int], dropout: float, gap: bool,
        separable: bool = False, stem: int = 0, rep: bool = False) -> nn.Sequential:
    if rep and separable:
        raise ValueError("RepVGG branches fold into a full 3x3 convolution, not a separable one: pick one")
    layers: list[nn.Module] = [Normalize()]
    cin, side = 1, 48
    if stem:
        # One strided convolution halves the face before the first stage: every stage then
        # works on a quarter of the positions, and the time saved buys channels.
        layers += conv_bn(1, stem, stride=2)
        cin, side = stem, 24
    for w in widths:
        for _ in range(convs_per_stage):
            # A depthwise filter on the single grey channel would see nothing to mix: the first
            # convolution stays a full one.
            if rep:
                layers += [RepConvBN(cin, w)]
            else:
                layers += separable_bn(cin, w) if separable and cin > 1 else conv_bn(cin, w)
            cin = w
        layers.append(nn.MaxPool2d(2))
        layers.append(nn.Dropout2d(dropout / 4) if dropout else nn.Identity())
    side >>= len(widths)
    if gap:
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        feat = cin
    else:
        layers.append(nn.Flatten())
        feat = cin * side * side
    for h in head:
        layers += [nn.Dropout(dropout), nn.Linear(feat, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True)]
        feat = h
    layers += [nn.Dropout(dropout), nn.Linear(feat, 7)]
    return nn.Sequential(*layers)


class FlipAveraged(nn.Module):
    """Test-time flip: the mean of the logits of the face and its mirror. Exported, it puts the
    flip inside the graph (twice the compute, same contract); distillation scores with it.
    """

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.net(x) + self.net(torch.flip(x, dims=[3]))) * 0.5


class NetSpec(NamedTuple):
    """What sets one VGG-style net apart from another."""

    widths: list[int]  # filters per stage; each stage ends in a 2x2 max pool
    convs: int  # convolutions per stage
    head: list[int]  # hidden units of the fully connected head
    gap: bool  # global average pooling before the head (else the flattened map)
    separable: bool = False  # depthwise-separable convolutions after the first
    stem: int = 0  # filters of a stride-2 convolution before the first stage (0: none)
    rep: bool = False  # convolutions train as RepVGG branches and fold into one for export


ARCHS = {
    "edge": NetSpec([32, 64, 128, 256], 2, [256], True),
    "edge_wide": NetSpec([48, 96, 192, 384], 2, [256], True),
    "edge_slim": NetSpec([24, 48, 96, 192], 2, [192], True),
    "edge_tiny": NetSpec([16, 32, 64, 128], 2, [128], True),
    "edge_late": NetSpec([16, 32, 96, 192], 2, [192], True),
    "edge_sep": NetSpec([32, 96, 192, 384], 2, [256], True, separable=True),
    "edge_stride": NetSpec([32, 64, 128, 256], 2, [256], True, stem=32),
    "edge_stride_wide": NetSpec([40, 80, 160, 320], 2, [256], True, stem=32),
    "edge_tiny_rep": NetSpec([16, 32, 64, 128], 2, [128], True, rep=True),
    "edge_late_rep": NetSpec([16, 32, 96, 192], 2, [192], True, rep=True),
    "model_a": NetSpec([64, 128, 256, 512], 2, [512, 256], False),
    "model_b": NetSpec([32, 64, 128], 2, [256], False),
}


def build(arch: str, dropout: float = 0.4) -> nn.Module:
    """One of ARCHS: `edge` and its variants (ours), `model_a` (paper, deep) or `model_b`
    (paper, thin).

    `edge_wide` is `edge` with 1.5x the channels: `edge` underfits (70 % training accuracy),
    and on this CPU's bf16 units the wider net costs only ~30 % more time per epoch.
    `edge_slim` (0.75x) and `edge_tiny` (0.5x) are the candidates for the 2 ms-per-face
    budget: each stage of these nets costs the same, so MACs scale with the width squared.
    `edge_late` and `edge_sep` spend the rest of that budget (each ~1.8 ms in tract here, against
    edge_tiny's 1.35 ms) in two ways: `edge_late` keeps edge_tiny's first two stages and widens
    the last two (at 12x12 and 6x6 a channel costs 1/16 and 1/64 of what it costs at 48x48);
    `edge_sep` has nearly edge_wide's channels but every convolution after the first is a
    depthwise-separable one. `edge_stride` and `edge_stride_wide` halve the face with one
    strided convolution first, so each stage runs at a quarter of the positions: `edge_stride`
    has `edge`'s channels at `edge_tiny`'s time (1.29 ms), `edge_stride_wide` 1.25x them at
    `edge_late`'s (1.80 ms). `edge_tiny_rep` and `edge_late_rep` are those two nets trained with
    RepVGG branches (`RepConvBN`); `fuse` folds them, so they run in exactly their plain twins'
    time.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}: {', '.join(ARCHS)}")
    spec = ARCHS[arch]
    return vgg(spec.widths, spec.convs, spec.head, dropout, spec.gap, spec.separable, spec.stem, spec.rep)


def deployed(arch: str, dropout: float = 0.4) -> nn.Module:
    """An untrained `arch` in the form export writes (eval mode, RepVGG branches folded): what
    its parameter count, MACs and tract time are measured on."""
    return fuse(build(arch, dropout).eval())


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module) -> int:
    """Multiply-accumulates of one 48x48 image through convs and linears."""
    macs = 0

    def hook(mod: nn.Module, inp, out) -> None:
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            macs += out.numel() // out.shape[0] * k
        elif isinstance(mod, nn.Linear):
            macs += mod.in_features * mod.out_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, 48, 48))
    model.train(was)
    for h in hs:
        h.remove()
    return macs
