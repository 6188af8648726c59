"""Train an emotion CNN on FER2013, resumably, with progress and metrics.

    python models/training/train.py --arch edge --epochs 60

Checkpoints live outside the repo (default /var/cache/xpressify/runs/<name>): rerunning the
same command resumes from `last.pt`. Each epoch appends a line to `metrics.jsonl`; `best.pt`
keeps the weights (EMA or raw, whichever scored higher) with the best PublicTest accuracy.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import Augment, default_data_dir, load_fer2013, split, to_input
from distill import kd_loss, load_teacher
from nets import ARCHS, build, count_macs, count_params, deployed
from teacher_bank import TeacherBank

DEFAULT_RUNS = Path(os.environ.get("XPRESSIFY_RUNS_DIR", "/var/cache/xpressify/runs"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="edge", choices=list(ARCHS))
    p.add_argument("--split", default="official", choices=["official", "random"])
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate (OneCycle SGD)")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--dropout", type=float, default=0.4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--ferplus-weight", type=float, default=0.3,
                   help="share of the target taken from the FER+ vote distribution (0 = FER labels only)")
    p.add_argument("--mixup", type=float, default=0.0, help="probability of mixing a batch (alpha 0.4)")
    p.add_argument("--cutmix", type=float, default=0.0,
                   help="probability of pasting a rectangle of another face into each face of a batch (alpha 1)")
    p.add_argument("--blur", type=float, default=0.0, help="probability of blurring a face (sigma 0.5-1.5 px)")
    p.add_argument("--erasing", type=float, default=Augment.erase_p,
                   help="probability of erasing a rectangle of a face (0 = off)")
    p.add_argument("--teacher", type=Path, default=None,
                   help="a finished run's best.pt, or a float ONNX model such as models/emotion-float.onnx, "
                        "to distil from (see distill.py); off by default")
    p.add_argument("--teacher-bank", type=Path, default=None,
                   help="distil from a bank of stored augmented views and their teacher logits instead "
                        "(teacher_bank.py): a student epoch then costs what a plain one does; the bank's "
                        "augmentation replaces --erasing and --blur")
    p.add_argument("--kd-weight", type=float, default=0.7, help="share of the loss taken from the teacher")
    p.add_argument("--kd-temperature", type=float, default=4.0, help="softening of teacher and student logits")
    p.add_argument("--ema", type=float, default=0.999, help="decay of the weight EMA (0 = off)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=int(os.environ.get("XPRESSIFY_THREADS", os.cpu_count() or 1)))
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="bf16 autocast (auto: on CUDA, and on CPUs with AMX, where it trains about 4x "
                        "faster than fp32; AVX512-BF16 without AMX is slower than fp32)")
    p.add_argument("--data-dir", type=Path, default=None, help="shared/data (default: $XPRESSIFY_DATA_DIR or ../shared/data)")
    p.add_argument("--run-dir", type=Path, default=None, help="checkpoints and metrics (default: /var/cache/xpressify/runs/<arch>-<split>-s<seed>)")
    p.add_argument("--limit", type=int, default=0, help="use only N training images (smoke tests)")
    return p.parse_args(argv)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def soft_targets(labels: torch.Tensor, ferplus: torch.Tensor, fp_weight: float, smoothing: float) -> torch.Tensor:
    onehot = F.one_hot(labels, 7).float()
    has_votes = (ferplus.sum(1, keepdim=True) > 0).float()
    t = onehot * (1 - fp_weight * has_votes) + ferplus * fp_weight * has_votes
    return t * (1 - smoothing) + smoothing / 7


@torch.no_grad()
def predict(model: torch.nn.Module, pixels: torch.Tensor, device: torch.device, flip: bool, batch: int = 512,
            bf16: bool = False) -> torch.Tensor:
    """Softmax probabilities for uint8 faces, optionally averaged with the mirrored face."""
    model.eval()
    out = []
    for i in range(0, len(pixels), batch):
        x = to_input(pixels[i : i + batch]).to(device)
        if use_channels_last(device, bf16):
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            p = model(x).float().softmax(1)
            if flip:
                p = (p + model(x.flip(3)).float().softmax(1)) / 2
        out.append(p.cpu())
    return torch.cat(out)


def pick_device(name: str) -> torch.device:
    """`--device`: auto (CUDA when present, else the CPU), cpu or cuda."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def use_bf16(precision: str, device: torch.device) -> bool:
    """`--precision`: bf16 autocast when asked for, or on `auto` where it is fast (bf16_pays)."""
    return precision == "bf16" or (precision == "auto" and bf16_pays(device))


def bf16_pays(device: torch.device) -> bool:
    """Whether bf16 autocast is fast here: CUDA, or a CPU with AMX tiles (oneDNN uses them).

    AVX512-BF16 alone does not pay: on such a CPU (no AMX) an `edge_late` step took 0.254 s in
    bf16 and 0.188 s in fp32 (both channels-last, 2 threads; models/README.md)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags


def use_channels_last(device: torch.device, bf16: bool) -> bool:
    """Whether nets and batches go channels-last: always on the CPU (oneDNN's convolutions are
    quicker so in fp32 too: 0.188 s against 0.241 s an `edge_late` step), and with bf16 on CUDA."""
    return bf16 or device.type == "cpu"


class Ema:
    """Exponential moving average of every float tensor in the state dict (weights and BN stats)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        src = model.state_dict()
        mine = self.model.state_dict()
        floats = [k for k, v in mine.items() if v.dtype.is_floating_point]
        # One fused update of all float tensors (a kernel per tensor would dominate a GPU step):
        # ema = decay * ema + (1 - decay) * weights. Multiply-then-add rather than
        # `_foreach_lerp_`, which torch 1.13 (Debian's python3-torch, CI's smoke run) lacks.
        ema = [mine[k] for k in floats]
        torch._foreach_mul_(ema, self.decay)
        torch._foreach_add_(ema, [src[k] for k in floats], alpha=1 - self.decay)
        for k, v in mine.items():
            if not v.dtype.is_floating_point:
                v.copy_(src[k])


def save_atomic(obj, path: Path) -> None:
    """torch.save through a temporary file, so a run killed mid-write keeps its last checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def recipe_augment(args: argparse.Namespace) -> Augment:
    """The run's augmentation; runs from before `--blur` or `--erasing` existed keep what they had
    (no blur, erasing on a quarter of the faces)."""
    return Augment(blur_p=getattr(args, "blur", 0.0), erase_p=getattr(args, "erasing", Augment.erase_p))


def recipe_teacher(args: argparse.Namespace, device: torch.device, train_idx: torch.Tensor,
                   bf16: bool) -> torch.nn.Module | TeacherBank | None:
    """What the run distils from: an online teacher module, a teacher bank for `train_idx`, or
    None. Runs from before `--teacher-bank` have no bank. An ONNX teacher on the CPU in fp32 is
    run by onnxruntime, about twice as fast there as torch (onnx_teacher.OrtTeacher)."""
    bank = getattr(args, "teacher_bank", None)
    online = getattr(args, "teacher", None)
    if online is not None and bank is not None:
        raise ValueError("give --teacher or --teacher-bank, not both")
    mixes = args.mixup or getattr(args, "cutmix", 0.0)
    if bank is not None:
        if mixes:
            raise ValueError("--teacher-bank cannot be combined with --mixup or --cutmix: "
                             "its logits belong to unmixed faces")
        teacher = TeacherBank(Path(bank), train_idx)
        print(teacher.describe(), flush=True)
        return teacher
    if online is None:
        return None
    return load_teacher(Path(online), device, bf16)


def train_epoch(model: torch.nn.Module, data, train_idx: torch.Tensor, args: argparse.Namespace,
                opt: torch.optim.Optimizer, aug: Augment, g: torch.Generator, device: torch.device, bf16: bool,
                desc: str, after_step, teacher: torch.nn.Module | TeacherBank | None = None) -> tuple[float, float]:
    """One pass over the Training faces in a fresh random order: augment, mix targets, step.

    `after_step` runs after every optimiser step (the schedule, the EMA); `teacher` (a module
    that scores each augmented batch, or a bank that hands out stored views with their
    logits in place of `aug`) adds the distillation term. Returns the mean training loss and accuracy on
    the augmented faces."""
    model.train()
    cutmix_p = getattr(args, "cutmix", 0.0)  # swa.py passes the recipe of runs from before --cutmix
    distillation = kd_loss(args.kd_temperature)
    perm = train_idx[torch.randperm(len(train_idx), generator=g)]
    steps = (len(train_idx) + args.batch_size - 1) // args.batch_size
    # Running sums stay on the device: reading them every step would stall a GPU.
    total_loss, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
    bar = tqdm(range(steps), desc=desc, unit="batch", leave=False, mininterval=5, disable=None)
    for step in bar:
        b = perm[step * args.batch_size : (step + 1) * args.batch_size]
        t_logits = None
        if isinstance(teacher, TeacherBank):
            x, t_logits = teacher.draw(b, g)
            x, t_logits = x.to(device, non_blocking=True), t_logits.to(device, non_blocking=True)
        else:
            x = aug(to_input(data.pixels[b]).to(device, non_blocking=True), g)
        if use_channels_last(device, bf16):
            x = x.contiguous(memory_format=torch.channels_last)
        y = data.labels[b].to(device)
        t = soft_targets(data.labels[b], data.ferplus[b], args.ferplus_weight, args.label_smoothing).to(device)
        roll = torch.rand(1, generator=g).item() if args.mixup or cutmix_p else 1.0
        if roll < cutmix_p:
            x, t = cutmix(x, t, g)
        elif roll < cutmix_p + args.mixup:
            lam = float(np.random.beta(0.4, 0.4))
            j = torch.randperm(len(b), generator=g).to(device)
            x = lam * x + (1 - lam) * x[j]
            t = lam * t + (1 - lam) * t[j]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x).float()
            if teacher is not None and t_logits is None:
                with torch.no_grad():
                    t_logits = teacher(x).float()
        loss = torch.sum(-t * logits.log_softmax(1), 1).mean()
        if t_logits is not None:
            kd = distillation(logits, t_logits, y)
            loss = (1 - args.kd_weight) * loss + args.kd_weight * kd
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        after_step()
        total_loss += loss.detach() * len(b)
        correct += (logits.argmax(1) == y).sum()
        seen += len(b)
        if step % 50 == 49:
            bar.set_postfix(loss=f"{total_loss.item() / seen:.3f}", acc=f"{correct.item() / seen:.3f}")
    bar.close()
    return total_loss.item() / seen, correct.item() / seen


def cutmix(x: torch.Tensor, t: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix (Yun et al. 2019): each face gets a rectangle of another face of the batch, and its
    target takes that face's target in the share of the area pasted. Unlike mixup, every pixel
    stays a real face's pixel. On edge_tiny it cost accuracy (MODEL.md), so it is off by default."""
    lam = float(np.random.beta(1.0, 1.0))
    h, w = x.shape[-2:]
    ch, cw = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
    cy, cx = int(torch.randint(h, (1,), generator=g)), int(torch.randint(w, (1,), generator=g))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    if y1 <= y0 or x1 <= x0:
        return x, t
    j = torch.randperm(len(x), generator=g).to(x.device)
    x = x.clone()
    x[..., y0:y1, x0:x1] = x[j][..., y0:y1, x0:x1]
    area = (y1 - y0) * (x1 - x0) / (h * w)
    return x, (1 - area) * t + area * t[j]


def recipe(args: argparse.Namespace) -> dict:
    """The settings a checkpoint keeps: everything but this machine's paths (the teacher's
    path stays: swa.py needs it to go on distilling)."""
    return vars(args) | {"data_dir": None, "run_dir": None,
                         "teacher": str(args.teacher) if args.teacher else None,
                         "teacher_bank": str(args.teacher_bank) if args.teacher_bank else None}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    run_dir = args.run_dir or DEFAULT_RUNS / f"{args.arch}-{args.split}-s{args.seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(args.seed)

    data = load_fer2013(args.data_dir or default_data_dir())
    idx = split(data, args.split, args.seed)
    train_idx = idx["train"][: args.limit] if args.limit else idx["train"]
    val_idx = idx["val"]

    bf16 = use_bf16(args.precision, device)
    model = build(args.arch, args.dropout).to(device)
    net = deployed(args.arch, args.dropout)  # what export writes: RepVGG branches folded away
    print(f"{args.arch}: {count_params(model):,} params in training, {count_params(net):,} deployed, "
          f"{count_macs(net) / 1e6:.1f} M MACs; "
          f"train {len(train_idx)}, val {len(val_idx)}; device {device}, threads {args.threads}, "
          f"{'bf16 autocast' if bf16 else 'fp32'}{', channels-last' if use_channels_last(device, bf16) else ''}; run dir {run_dir}")
    model.to(device)
    if use_channels_last(device, bf16):
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay)
    steps_per_epoch = (len(train_idx) + args.batch_size - 1) // args.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch, pct_start=0.2)
    ema = Ema(model, args.ema) if args.ema else None
    start_epoch, best = 0, {"val_acc": -1.0}
    last = run_dir / "last.pt"
    if last.exists():
        ck = torch.load(last, map_location=device, weights_only=False)
        if ck["args"]["arch"] != args.arch or ck["args"]["epochs"] != args.epochs:
            sys.exit(f"{last} was made with arch={ck['args']['arch']} epochs={ck['args']['epochs']}; "
                     "use another --run-dir or the same settings")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        if ema and ck.get("ema"):
            ema.model.load_state_dict(ck["ema"])
        start_epoch, best = ck["epoch"], ck["best"]
        torch.set_rng_state(ck["rng"].cpu())
        print(f"resumed from {last} at epoch {start_epoch}/{args.epochs} (best val {best['val_acc']:.4f})")
    with open(run_dir / "args.json", "w") as f:
        json.dump({k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, f, indent=1)

    aug = recipe_augment(args)
    try:
        teacher = recipe_teacher(args, device, train_idx, bf16)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    g = torch.Generator().manual_seed(args.seed * 1000 + start_epoch)
    val_pixels, val_labels = data.pixels[val_idx], data.labels[val_idx]

    def after_step() -> None:
        sched.step()
        if ema:
            ema.update(model)

    for epoch in range(start_epoch, args.epochs):
        t0 = time.time()
        train_loss, train_acc = train_epoch(model, data, train_idx, args, opt, aug, g, device, bf16,
                                            desc=f"epoch {epoch + 1}/{args.epochs}", after_step=after_step, teacher=teacher)
        row = {"epoch": epoch + 1, "lr": sched.get_last_lr()[0], "train_loss": train_loss,
               "train_acc": train_acc, "seconds": round(time.time() - t0, 1)}
        candidates = {"raw": model} | ({"ema": ema.model} if ema else {})
        for name, m in candidates.items():
            p = predict(m, val_pixels, device, flip=False, bf16=bf16)
            row[f"val_loss_{name}"] = F.nll_loss(p.clamp_min(1e-8).log(), val_labels).item()
            row[f"val_acc_{name}"] = (p.argmax(1) == val_labels).float().mean().item()
            if row[f"val_acc_{name}"] > best["val_acc"]:
                # Flip averaging is measured only for a new best: it costs a second pass.
                pf = predict(m, val_pixels, device, flip=True, bf16=bf16)
                row[f"val_acc_flip_{name}"] = (pf.argmax(1) == val_labels).float().mean().item()
                best = {"val_acc": row[f"val_acc_{name}"], "val_acc_flip": row[f"val_acc_flip_{name}"],
                        "epoch": epoch + 1, "weights": name}
                save_atomic({"arch": args.arch, "dropout": args.dropout, "model": m.state_dict(), "best": best,
                             "args": recipe(args)}, run_dir / "best.pt")
        row["best_val_acc"] = best["val_acc"]
        with open(run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
        save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                     "ema": ema.model.state_dict() if ema else None, "epoch": epoch + 1, "best": best,
                     "rng": torch.get_rng_state(), "args": recipe(args)}, last)
    print(f"done: best PublicTest accuracy {best['val_acc']:.4f} ({best['weights']} weights, epoch {best['epoch']}); "
          f"{run_dir / 'best.pt'}")


if __name__ == "__main__":
    main()
