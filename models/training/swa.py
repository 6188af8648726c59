"""Stochastic weight averaging (SWA) on top of a finished training run.

    python models/training/swa.py --from /var/cache/xpressify/runs/edge_wide-official-s1 --epochs 12

A one-cycle run ends in one sharp point of the loss surface. SWA goes on training from there
at a constant learning rate, which keeps the weights moving around the minimum, and averages
the weights at the end of every epoch: the average sits in a wider, flatter region and
generalises better (Izmailov et al. 2018). Batch-norm statistics are then recomputed for the
averaged weights on the (unaugmented) Training faces.

Same data, augmentation and loss as `train.py` (the recipe is read from the source run's
checkpoint). After each epoch the average so far is scored on PublicTest; `best.pt` in the run
directory (default: `<source>-swa`) keeps the best one, in the format `export.py` reads.
Rerunning the same command resumes from `last.pt`; rerunning it with a larger `--epochs` goes on
averaging.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import default_data_dir, load_fer2013, split, to_input
from nets import build
from train import (
    pick_device,
    predict,
    recipe_augment,
    recipe_teacher,
    save_atomic,
    seed_everything,
    train_epoch,
    use_bf16,
    use_channels_last,
)

BN_FACES = 8192


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from", dest="source", type=Path, required=True,
                   help="run directory of a finished train.py run (its best.pt is the start)")
    p.add_argument("--epochs", type=int, default=12, help="epochs of averaging")
    p.add_argument("--lr", type=float, default=0.01, help="constant learning rate while averaging")
    p.add_argument("--threads", type=int, default=None, help="default: the source run's")
    p.add_argument("--data-dir", type=Path, default=None, help="shared/data (default: $XPRESSIFY_DATA_DIR or ../shared/data)")
    p.add_argument("--run-dir", type=Path, default=None, help="default: <source>-swa")
    return p.parse_args(argv)


class WeightAverage:
    """The running mean of a model's float parameters over the epochs seen so far."""

    def __init__(self, model: torch.nn.Module):
        self.n = 0
        self.mean = {k: torch.zeros_like(v) for k, v in model.state_dict().items() if v.dtype.is_floating_point}

    @torch.no_grad()
    def add(self, model: torch.nn.Module) -> None:
        self.n += 1
        for k, v in model.state_dict().items():
            if k in self.mean:
                self.mean[k] += (v.float() - self.mean[k]) / self.n

    def state(self) -> dict:
        return {"n": self.n, "mean": self.mean}

    def load(self, state: dict) -> None:
        self.n, self.mean = state["n"], state["mean"]


@torch.no_grad()
def recompute_batch_norm(model: torch.nn.Module, pixels: torch.Tensor, device: torch.device, bf16: bool,
                         batch: int = 512) -> None:
    """Batch-norm running statistics as the exact mean over `pixels` (the averaged weights'
    own statistics; the averaged running stats of the epochs would not match them).

    Only the BN layers are in training mode: dropout stays off, so the statistics are those
    the net sees at inference."""
    model.eval()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
        m.train()
    for i in range(0, len(pixels), batch):
        x = to_input(pixels[i : i + batch]).to(device)
        if use_channels_last(device, bf16):
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            model(x)
    for m in norms:
        m.momentum = 0.1
    model.eval()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    source = torch.load(args.source / "best.pt", map_location="cpu", weights_only=False)
    recipe = argparse.Namespace(**source["args"])
    recipe.lr = args.lr
    threads = args.threads or recipe.threads
    torch.set_num_threads(threads)
    device = pick_device(recipe.device)
    run_dir = args.run_dir or args.source.with_name(args.source.name + "-swa")
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(recipe.seed)

    data = load_fer2013(args.data_dir or default_data_dir())
    idx = split(data, recipe.split, recipe.seed)
    train_idx, val_idx = idx["train"], idx["val"]
    bf16 = use_bf16(recipe.precision, device)

    model = build(source["arch"], source["dropout"])
    model.load_state_dict(source["model"])
    model.to(device)
    if use_channels_last(device, bf16):
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                          weight_decay=recipe.weight_decay)
    average = WeightAverage(model)
    # A constant rate makes --epochs only a stopping point: a finished run can be extended.
    settings = {"source": str(args.source), "lr": args.lr}
    start_epoch, best = 0, {"val_acc": -1.0}
    last = run_dir / "last.pt"
    if last.exists():
        ck = torch.load(last, map_location=device, weights_only=False)
        if {k: ck["settings"].get(k) for k in settings} != settings:
            sys.exit(f"{last} was made with {ck['settings']}; use another --run-dir or the same settings")
        if ck["epoch"] > args.epochs:
            sys.exit(f"{last} already averages {ck['epoch']} epochs, more than --epochs {args.epochs}")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        average.load(ck["average"])
        start_epoch, best = ck["epoch"], ck["best"]
        torch.set_rng_state(ck["rng"].cpu())
        print(f"resumed from {last} at epoch {start_epoch}/{args.epochs} (best val {best['val_acc']:.4f})")
    with open(run_dir / "args.json", "w") as f:
        json.dump({"from": str(args.source), "lr": args.lr, "epochs": args.epochs, "bn_faces": BN_FACES}, f, indent=1)
    print(f"SWA of {args.source / 'best.pt'} (PublicTest {source['best']['val_acc']:.4f}): {args.epochs} epochs "
          f"at lr {args.lr}; device {device}, threads {threads}, {'bf16' if bf16 else 'fp32'}; run dir {run_dir}")

    aug = recipe_augment(recipe)
    try:
        teacher = recipe_teacher(recipe, device, train_idx, bf16)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    g = torch.Generator().manual_seed(recipe.seed * 1000 + 500 + start_epoch)
    val_pixels, val_labels = data.pixels[val_idx], data.labels[val_idx]
    # 8,192 fixed random Training faces pin BN means and variances down well, at under a third of the cost.
    bn_idx = train_idx[torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(recipe.seed))[:BN_FACES]]
    averaged = build(source["arch"], source["dropout"]).to(device)
    if use_channels_last(device, bf16):
        averaged = averaged.to(memory_format=torch.channels_last)
    for epoch in range(start_epoch, args.epochs):
        t0 = time.time()
        train_loss, train_acc = train_epoch(model, data, train_idx, recipe, opt, aug, g, device, bf16,
                                            desc=f"swa epoch {epoch + 1}/{args.epochs}", after_step=lambda: None, teacher=teacher)
        average.add(model)
        row = {"epoch": epoch + 1, "lr": args.lr, "train_loss": train_loss, "train_acc": train_acc}
        p = predict(model, val_pixels, device, flip=False, bf16=bf16)
        row["val_acc_single"] = (p.argmax(1) == val_labels).float().mean().item()

        state = averaged.state_dict()
        state.update({k: v.to(state[k].dtype) for k, v in average.mean.items()})
        averaged.load_state_dict(state)
        recompute_batch_norm(averaged, data.pixels[bn_idx], device, bf16)
        p = predict(averaged, val_pixels, device, flip=False, bf16=bf16)
        pf = predict(averaged, val_pixels, device, flip=True, bf16=bf16)
        row["val_loss_swa"] = F.nll_loss(p.clamp_min(1e-8).log(), val_labels).item()
        row["val_acc_swa"] = (p.argmax(1) == val_labels).float().mean().item()
        row["val_acc_flip_swa"] = (pf.argmax(1) == val_labels).float().mean().item()
        row["seconds"] = round(time.time() - t0, 1)
        if row["val_acc_swa"] > best["val_acc"]:
            best = {"val_acc": row["val_acc_swa"], "val_acc_flip": row["val_acc_flip_swa"],
                    "epoch": epoch + 1, "weights": f"swa of {average.n} epochs"}
            save_atomic({"arch": source["arch"], "dropout": source["dropout"],
                         "model": {k: v.cpu() for k, v in averaged.state_dict().items()}, "best": best,
                         "args": vars(recipe) | {"swa_from": str(args.source), "swa_lr": args.lr,
                                                 "swa_epochs": args.epochs}}, run_dir / "best.pt")
        row["best_val_acc"] = best["val_acc"]
        with open(run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
        save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "average": average.state(),
                     "epoch": epoch + 1, "best": best, "rng": torch.get_rng_state(), "settings": settings}, last)
    print(f"done: best PublicTest accuracy {best['val_acc']:.4f} ({best['weights']}, epoch {best['epoch']}); "
          f"{run_dir / 'best.pt'}")


if __name__ == "__main__":
    main()
