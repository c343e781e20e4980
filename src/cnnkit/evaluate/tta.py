"""Test-time augmentation: average the softmax over transformed copies of each test image.

``flip`` adds the mirror image; ``crops`` adds four copies shifted towards the
corners (the in-memory analogue of AlexNet's corner crops); ``translate`` adds
two copies shifted one pixel up-left and down-right (airbench's cheap TTA).  The untransformed
image is always one of the copies, so ``tta=""`` is plain evaluation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.errors import CnnkitError
from cnnkit.spec.schema import suggest


def _shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Shift content by (dy, dx) pixels, filling with zeros (the normalised mean)."""
    p = max(abs(dy), abs(dx))
    h, w = x.shape[-2:]
    xp = F.pad(x, (p, p, p, p))
    return xp[..., p - dy:p - dy + h, p - dx:p - dx + w]


def _corner_crops(x: torch.Tensor) -> list[torch.Tensor]:
    s = max(1, x.shape[-1] // 16)
    return [_shifted(x, dy, dx) for dy in (-s, s) for dx in (-s, s)]


TTA: dict[str, Callable[[torch.Tensor], list[torch.Tensor]]] = {
    "flip": lambda x: [x.flip(-1)],
    "crops": _corner_crops,
    "translate": lambda x: [_shifted(x, 1, 1), _shifted(x, -1, -1)],
}


def parse_tta(text: str | None) -> list[str]:
    names = [t.strip().lower() for t in (text or "").split(",") if t.strip() and t.strip().lower() != "none"]
    for n in names:
        if n not in TTA:
            raise CnnkitError(f"unknown test-time augmentation {n!r}{suggest(n, TTA)}; available: {', '.join(TTA)}")
    return names


def views(x: torch.Tensor, names: list[str]) -> list[torch.Tensor]:
    """The identity plus each named transform; ``flip`` also mirrors the other views."""
    out = [x]
    for n in names:
        if n != "flip":
            out += TTA[n](x)
    if "flip" in names:
        out += [v.flip(-1) for v in out]
    return out


@torch.inference_mode()
def predict_proba(model: nn.Module, normalizer: nn.Module, images: torch.Tensor, tta: str | None = None,
                  batch_size: int = 1000) -> torch.Tensor:
    """Softmax (N, K) for uint8 images, averaged over the TTA views."""
    names = parse_tta(tta)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = normalizer(images[i:i + batch_size].to(device))
        vs = views(x, names)
        out.append(sum(torch.softmax(model(v).float(), dim=1) for v in vs) / len(vs))
    model.train(was_training)
    return torch.cat(out).cpu()
