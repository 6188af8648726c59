"""A teacher bank: a teacher's logits on a fixed set of augmented views, scored once.

    python models/training/teacher_bank.py --teacher models/emotion-float.onnx --views 8
    python models/training/train.py --arch edge_late --epochs 60 --teacher-bank /var/cache/xpressify/banks/emotion-float-v8-s1

Online distillation (distill.py) runs the teacher on every augmented batch the student sees.
On a GPU that is cheap; on this project's 2-core CPU the shipped teacher costs more than the
student's whole step (an `edge_late` epoch: 166 s distilled, 54 s alone), so a long distilled
schedule would take most of a day. Scoring only the unaugmented faces once was tried and lost
(distill.py). A bank sits between the two, as in FKD (Shen & Xing 2022): every Training face is
augmented `--views` times (rotation, zoom, shift, brightness/contrast, erasing, as train.py does;
no mirror), the teacher scores each view once, and the views and logits are stored outside the
repo (uint8 faces, 2.3 KB a view). Training then draws one stored view per face and step and
mirrors it at random: the bank's logits are mirror-invariant (a teacher that averages the face
and its mirror inside its graph, as the shipped one does, is so already; any other teacher is
averaged over both here), so a mirrored view keeps its logits exactly. The bank costs `--views`
teacher epochs once; every student epoch after it costs what a plain one does.
On the CPU in fp32 an ONNX teacher is run by onnxruntime (`--engine auto`), about twice as fast
as torch's interpreter of the same graph, with the same logits.

Each view is written as soon as it is scored; rerunning the same command resumes at the first
view missing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import Augment, default_data_dir, load_fer2013, split, to_input
from distill import TEACHER_ENGINES, load_teacher

DEFAULT_BANKS = Path(os.environ.get("XPRESSIFY_BANKS_DIR", "/var/cache/xpressify/banks"))
META = "bank.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", type=Path, required=True,
                   help="a float ONNX model such as models/emotion-float.onnx, or a finished run's best.pt")
    p.add_argument("--views", type=int, default=8, help="augmented views of each Training face")
    p.add_argument("--split", default="official", choices=["official", "random"])
    p.add_argument("--erasing", type=float, default=Augment.erase_p, help="as train.py --erasing")
    p.add_argument("--blur", type=float, default=0.0, help="as train.py --blur")
    p.add_argument("--seed", type=int, default=1, help="seeds the views (and a random split)")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--threads", type=int, default=int(os.environ.get("XPRESSIFY_THREADS", os.cpu_count() or 1)))
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="as train.py --precision")
    p.add_argument("--engine", default="auto", choices=TEACHER_ENGINES,
                   help="what runs an ONNX teacher: auto picks onnxruntime on the CPU in fp32 (about twice as "
                        "fast there, the same logits) and torch otherwise")
    p.add_argument("--data-dir", type=Path, default=None, help="shared/data (default: $XPRESSIFY_DATA_DIR or ../shared/data)")
    p.add_argument("--out", type=Path, default=None,
                   help="bank directory (default: /var/cache/xpressify/banks/<teacher>-v<views>-s<seed>)")
    p.add_argument("--limit", type=int, default=0, help="use only N training images (smoke tests)")
    return p.parse_args(argv)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def view_path(bank: Path, view: int) -> Path:
    return bank / f"view-{view:03d}.pt"


def read_finished_meta(bank: Path) -> dict:
    """A bank's bank.json, refusing a directory that is no bank or whose teacher_bank.py run
    stopped before its last view: a student must never train on half a bank."""
    meta_path = bank / META
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} not found: build the bank with teacher_bank.py --out {bank}")
    meta = json.loads(meta_path.read_text())
    views = meta["views"]
    missing = [v for v in range(views) if not view_path(bank, v).exists()]
    if missing:
        raise ValueError(f"{bank} has {views - len(missing)} of its {views} views: "
                         "rerun its teacher_bank.py command to finish it")
    return meta


class TeacherBank:
    """A finished bank, held in memory, that hands out augmented faces with their teacher logits.

    It replaces both the augmentation and the teacher in train.py's step, so a run reads it
    through the same `teacher` argument an online teacher comes through."""

    def __init__(self, path: Path, train_idx: torch.Tensor):
        self.meta = read_finished_meta(path)
        self.path = path
        index = torch.load(path / "index.pt", weights_only=True)
        if len(index) != len(train_idx) or not torch.equal(index.sort().values, train_idx.sort().values):
            raise ValueError(f"{path} holds {len(index)} faces that are not this run's {len(train_idx)} "
                             f"Training faces: build a bank with the run's --split, --seed and --limit")
        views = [torch.load(view_path(path, v), weights_only=True) for v in range(self.meta["views"])]
        self.images = torch.stack([v["images"] for v in views])  # uint8 [V,N,48,48]
        self.logits = torch.stack([v["logits"] for v in views])  # float32 [V,N,7]
        self.row_of = torch.full((int(index.max()) + 1,), -1, dtype=torch.long)
        self.row_of[index] = torch.arange(len(index))

    def describe(self) -> str:
        m = self.meta
        return (f"teacher bank {self.path}: {m['views']} views of {m['faces']} faces scored by {m['teacher']} "
                f"(accuracy on its views {m['view_accuracy']:.4f}); augmentation {m['augment']}")

    def draw(self, faces: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One stored view of each face (dataset indices), mirrored at random: ([B,1,48,48] in
        [0,1], the teacher's [B,7] logits for exactly those pixels)."""
        rows = self.row_of[faces]
        view = torch.randint(len(self.images), (len(faces),), generator=g)
        x = to_input(self.images[view, rows])
        mirror = (torch.rand(len(faces), generator=g) < 0.5).view(-1, 1, 1, 1)
        return torch.where(mirror, x.flip(3), x), self.logits[view, rows]


@torch.no_grad()
def score(teacher: torch.nn.Module, x: torch.Tensor, mirror: bool, bf16: bool) -> torch.Tensor:
    """The teacher's logits, averaged with the mirror image's when the teacher is not
    mirror-invariant itself."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = teacher(x).float()
        if mirror:
            out = (out + teacher(x.flip(3)).float()) / 2
    return out


def mirror_invariant(teacher: torch.nn.Module, x: torch.Tensor, bf16: bool) -> bool:
    """Whether the teacher gives a face and its mirror the same logits (to 1e-4 of their size)."""
    a, b = score(teacher, x, False, bf16), score(teacher, x.flip(3), False, bf16)
    return bool((a - b).abs().max() <= 1e-4 * max(1.0, float(a.abs().max())))


def main(argv: list[str] | None = None) -> None:
    from train import (  # train.py imports this module: import it late
        pick_device,
        use_bf16,
    )

    args = parse_args(argv)
    if args.views < 1:
        sys.exit("--views must be at least 1")
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    bf16 = use_bf16(args.precision, device)
    try:
        teacher = load_teacher(args.teacher, device, bf16, engine=args.engine)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"teacher_bank: {e}")
    out = args.out or DEFAULT_BANKS / f"{args.teacher.stem}-v{args.views}-s{args.seed}"
    out.mkdir(parents=True, exist_ok=True)

    data = load_fer2013(args.data_dir or default_data_dir())
    train_idx = split(data, args.split, args.seed)["train"]
    train_idx = train_idx[: args.limit] if args.limit else train_idx
    aug = Augment(blur_p=args.blur, erase_p=args.erasing, mirror=False)
    recipe = {"teacher": str(args.teacher), "teacher_sha256": file_sha256(args.teacher), "views": args.views,
              "faces": len(train_idx), "split": args.split, "seed": args.seed, "augment": asdict(aug),
              "precision": "bf16" if bf16 else "fp32"}
    recipe = json.loads(json.dumps(recipe))  # as it reads back from bank.json (tuples become lists)
    meta_path = out / META
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        differs = sorted(k for k in recipe if old.get(k) != recipe[k])
        if differs:
            sys.exit(f"{out} was built with other settings ({', '.join(differs)}): use another --out")
        recipe = old
    else:
        first = to_input(data.pixels[train_idx[: args.batch_size]]).to(device)
        recipe["teacher_mirrored_by_bank"] = not mirror_invariant(teacher, first, bf16)
        recipe["view_accuracy"] = 0.0
        torch.save(train_idx.clone(), out / "index.pt")  # a slice would save the whole split
        meta_path.write_text(json.dumps(recipe, indent=1) + "\n")
    mirror = recipe["teacher_mirrored_by_bank"]
    print(f"bank {out}: {args.views} views of {len(train_idx)} faces, teacher {args.teacher}"
          f"{' (averaged with the mirror image here)' if mirror else ' (mirror-invariant)'}, device {device}, "
          f"{'bf16' if bf16 else 'fp32'}, threads {args.threads}", flush=True)

    labels = data.labels[train_idx]
    correct = round(recipe["view_accuracy"] * len(train_idx) * sum(view_path(out, v).exists() for v in range(args.views)))
    for view in range(args.views):
        if view_path(out, view).exists():
            continue
        t0 = time.time()
        g = torch.Generator().manual_seed(args.seed * 1000 + view)
        images, logits = [], []
        for i in tqdm(range(0, len(train_idx), args.batch_size), desc=f"view {view + 1}/{args.views}", unit="batch",
                      leave=False, mininterval=5, disable=None):
            x = aug(to_input(data.pixels[train_idx[i : i + args.batch_size]]).to(device), g)
            # Stored as the camera's uint8, and scored as stored: the logits belong to these pixels.
            q = x.mul(255).round_().to(torch.uint8).squeeze(1).cpu()
            images.append(q)
            logits.append(score(teacher, to_input(q).to(device), mirror, bf16).cpu())
        view_logits = torch.cat(logits)
        torch.save({"images": torch.cat(images), "logits": view_logits}, view_path(out, view).with_suffix(".tmp"))
        view_path(out, view).with_suffix(".tmp").replace(view_path(out, view))
        correct += int((view_logits.argmax(1) == labels).sum())
        done = sum(view_path(out, v).exists() for v in range(args.views))
        recipe["view_accuracy"] = correct / (len(train_idx) * done)
        meta_path.write_text(json.dumps(recipe, indent=1) + "\n")
        print(f"view {view + 1}/{args.views}: teacher accuracy on it "
              f"{(view_logits.argmax(1) == labels).float().mean():.4f}, {time.time() - t0:.0f} s", flush=True)
    print(f"done: {out} ({args.views} views, teacher accuracy on them {recipe['view_accuracy']:.4f})")


if __name__ == "__main__":
    main()
