"""Knowledge distillation: a small student learns from a big teacher's soft predictions.

The teacher (a finished run's `best.pt`) scores every Training face once, as the mean of its
logits on the face and its mirror image, and those logits are cached next to the student's
checkpoints. The student then trains on the usual augmented faces against a mix of the usual
targets and the teacher's temperature-softened distribution (Hinton et al. 2015). Scoring the
unaugmented face once, instead of every augmented view, makes distillation cost nothing per
epoch; the teacher's flip averaging already makes its targets mirror-invariant.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from data import to_input
from nets import build


@torch.no_grad()
def teacher_logits(checkpoint: Path, pixels: torch.Tensor, device: torch.device, bf16: bool, cache: Path,
                   batch: int = 512) -> torch.Tensor:
    """Flip-averaged logits [N,7] of the teacher for uint8 faces [N,48,48], cached in `cache`."""
    if cache.exists():
        cached = torch.load(cache, map_location="cpu", weights_only=False)
        if cached["checkpoint"] == str(checkpoint) and cached["logits"].shape[0] == len(pixels):
            return cached["logits"]
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = build(ck["arch"], ck.get("dropout", 0.4))
    model.load_state_dict(ck["model"])
    model.to(device).eval()
    print(f"teacher {checkpoint} ({ck['arch']}, PublicTest {ck['best']['val_acc']:.4f}): scoring {len(pixels)} faces",
          flush=True)
    out = []
    for i in range(0, len(pixels), batch):
        x = to_input(pixels[i : i + batch]).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            z = (model(x).float() + model(x.flip(3)).float()) / 2
        out.append(z.cpu())
    logits = torch.cat(out)
    tmp = cache.with_suffix(".tmp")
    torch.save({"checkpoint": str(checkpoint), "logits": logits}, tmp)
    tmp.replace(cache)
    return logits


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) at `temperature`, scaled by T^2 so its gradients keep their size."""
    t = temperature
    return F.kl_div(student.div(t).log_softmax(1), teacher.div(t).log_softmax(1), log_target=True,
                    reduction="batchmean") * t * t
