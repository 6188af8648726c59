"""FER2013 (+ FER+ votes) loading, splits and batched augmentation.

The data stays in ../shared; this module only reads it. Everything is held in memory as
uint8 tensors (35,887 x 48 x 48 = 83 MB) and augmented per batch with affine grids, which is
far cheaper on a 2-core machine than per-image PIL transforms in DataLoader workers.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
RECORD = 2306
USAGES = {"Training": 0, "PublicTest": 1, "PrivateTest": 2}
# FER+ vote columns (neutral,happiness,surprise,sadness,anger,disgust,fear) -> FER index.
FERPLUS_TO_FER = [6, 3, 5, 4, 0, 1, 2]


def default_data_dir() -> Path:
    """The shared data folder: $XPRESSIFY_DATA_DIR, else ../shared/data from the repo root."""
    env = os.environ.get("XPRESSIFY_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@dataclass
class Fer2013:
    """All 35,887 faces with their FER label, usage and FER+ vote distribution (7 classes)."""

    pixels: torch.Tensor  # uint8 [N,48,48]
    labels: torch.Tensor  # int64 [N]
    usage: torch.Tensor  # int64 [N] 0 Training, 1 PublicTest, 2 PrivateTest
    ferplus: torch.Tensor  # float32 [N,7], rows sum to 1, or all zero when no votes

    def indices(self, usage: str) -> torch.Tensor:
        return torch.nonzero(self.usage == USAGES[usage]).flatten()


def load_fer2013(data_dir: Path | None = None) -> Fer2013:
    """Reads fer2013.u8.gz, its meta file and the FER+ votes, with clear errors when missing."""
    data_dir = Path(data_dir or default_data_dir())
    raw_path = data_dir / "fer2013" / "fer2013.u8.gz"
    if not raw_path.exists():
        raise FileNotFoundError(
            f"{raw_path} not found: point --data-dir or XPRESSIFY_DATA_DIR at shared/data"
        )
    raw = np.frombuffer(gzip.decompress(Path(raw_path).read_bytes()), np.uint8)
    if raw.size % RECORD:
        raise ValueError(f"{raw_path}: size {raw.size} is not a multiple of {RECORD}")
    rec = raw.reshape(-1, RECORD)
    pixels = torch.from_numpy(rec[:, 2:].reshape(-1, 48, 48).copy())
    labels = torch.from_numpy(rec[:, 0].astype(np.int64))
    usage = torch.from_numpy(rec[:, 1].astype(np.int64))
    ferplus = torch.zeros(len(rec), 7)
    meta_path = data_dir / "fer2013" / "fer2013_meta.csv.gz"
    votes_path = data_dir / "ferplus" / "fer2013new.csv"
    if meta_path.exists() and votes_path.exists():
        with open(votes_path, newline="") as f:
            rows = list(csv.reader(f))[1:]
        with gzip.open(meta_path, "rt") as f:
            for m in csv.DictReader(f):
                orig = int(m["orig_row"])
                if orig < 0:
                    continue
                votes = [float(v) for v in rows[orig][2:9]]
                total = sum(votes)
                if total > 0:
                    i = int(m["index"])
                    for col, fer in enumerate(FERPLUS_TO_FER):
                        ferplus[i, fer] = votes[col] / total
    return Fer2013(pixels, labels, usage, ferplus)


def split(data: Fer2013, scheme: str, seed: int) -> dict[str, torch.Tensor]:
    """Index sets for train / val / test.

    `official`: Training / PublicTest / PrivateTest (choose on PublicTest, report PrivateTest).
    `random`: the paper's 80/10/10 random split of all 35,887 images, for comparison only.
    """
    if scheme == "official":
        return {
            "train": data.indices("Training"),
            "val": data.indices("PublicTest"),
            "test": data.indices("PrivateTest"),
        }
    if scheme == "random":
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(len(data.labels), generator=g)
        n = len(perm)
        a, b = int(n * 0.8), int(n * 0.9)
        return {"train": perm[:a], "val": perm[a:b], "test": perm[b:]}
    raise ValueError(f"unknown split {scheme!r}: use 'official' or 'random'")


def to_input(pixels_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [B,48,48] -> float [B,1,48,48] in [0,1]: the shipped model's input contract."""
    return pixels_u8.unsqueeze(1).float().div_(255.0)


@dataclass
class Augment:
    """Batched augmentation: rotation, zoom, shift, flip, brightness/contrast, random erasing,
    and (off by default, so older runs resume unchanged) Gaussian blur. `mirror=False` leaves
    the flip to the caller (a teacher bank mirrors its stored views when it hands them out); the
    random draws stay the same either way."""

    rotate_deg: float = 15.0
    zoom: float = 0.15
    shift: float = 0.1
    brightness: float = 0.25
    contrast: float = 0.25
    erase_p: float = 0.25
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    mirror: bool = True

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Augments [B,1,48,48] on whatever device `x` is on; the random draws come from the
        CPU generator `g`, so a run is reproducible on any device."""
        b, dev = x.shape[0], x.device

        def u(lo: float, hi: float) -> torch.Tensor:
            return (torch.rand(b, generator=g) * (hi - lo) + lo).to(dev)

        ang = u(-self.rotate_deg, self.rotate_deg) * math.pi / 180
        scale = u(1 - self.zoom, 1 + self.zoom)
        flip = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0).to(dev)
        if not self.mirror:
            flip = torch.ones_like(flip)
        tx, ty = u(-self.shift, self.shift) * 2, u(-self.shift, self.shift) * 2
        cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
        theta = torch.stack(
            [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        c = u(1 - self.contrast, 1 + self.contrast).view(b, 1, 1, 1)
        br = u(-self.brightness, self.brightness).view(b, 1, 1, 1) * 0.5
        x = ((x - mean) * c + mean + br).clamp_(0, 1)
        if self.erase_p > 0:
            # One rectangle of 8-19 px sides and a flat random grey on a share of the faces, as
            # masks over the whole batch (no per-face loop: cheap on a GPU too).
            hit = torch.rand(b, generator=g) < self.erase_p
            h, w = torch.randint(8, 20, (b,), generator=g), torch.randint(8, 20, (b,), generator=g)
            y0 = (torch.rand(b, generator=g) * (48 - h)).long()
            x0 = (torch.rand(b, generator=g) * (48 - w)).long()
            grey = torch.rand(b, generator=g)
            pos = torch.arange(48)
            rows = (pos >= y0[:, None]) & (pos < (y0 + h)[:, None])
            cols = (pos >= x0[:, None]) & (pos < (x0 + w)[:, None])
            mask = (rows[:, :, None] & cols[:, None, :] & hit[:, None, None]).unsqueeze(1).to(dev)
            x = torch.where(mask, grey.view(b, 1, 1, 1).to(dev), x)
        if self.blur_p > 0:
            hit = torch.nonzero(torch.rand(b, generator=g) < self.blur_p).flatten().to(dev)
            if len(hit):
                # One sigma per batch keeps it a single separable convolution.
                sigma = float(torch.rand(1, generator=g)) * (self.blur_sigma[1] - self.blur_sigma[0]) + self.blur_sigma[0]
                x[hit] = gaussian_blur(x[hit], sigma)
        return x


def gaussian_blur(x: torch.Tensor, sigma: float, radius: int | None = None) -> torch.Tensor:
    """Separable Gaussian blur of [B,1,H,W] with edge padding: a soft-focus or moving camera.

    The kernel spans `radius` pixels each side (default 2.5 sigma, at least 1)."""
    r = radius if radius is not None else max(1, math.ceil(2.5 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).to(x.device)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
