"""Label-preserving augmentation as batched tensor ops on the training device.

Each transform takes a float batch (N, C, H, W) and a ``torch.Generator`` and
returns a batch of the same shape; no per-sample Python.  Randomness comes
only from the generator, so a seed (and a saved generator state) reproduces
every augmented batch exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from cnnkit.errors import CnnkitError
from cnnkit.spec.schema import suggest


def random_shift(x: torch.Tensor, pad: int, g: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``pad`` and crop back at a random offset per image (random crop / translation)."""
    if pad <= 0:
        return x
    n, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=g, device=g.device).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=g, device=g.device).to(x.device)
    rows = (oy.view(n, 1, 1, 1) + torch.arange(h, device=x.device).view(1, 1, h, 1)).expand(n, c, h, w + 2 * pad)
    xp = xp.gather(2, rows)  # (N, C, H, W + 2p)
    cols = (ox.view(n, 1, 1, 1) + torch.arange(w, device=x.device).view(1, 1, 1, w)).expand(n, c, h, w)
    return xp.gather(3, cols)  # (N, C, H, W)


def random_flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    mask = torch.rand(x.shape[0], generator=g, device=g.device).to(x.device) < 0.5
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)


AUGMENTATIONS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    # small translations for digits: 2 px on 28x28
    "translate": lambda x, g: random_shift(x, max(1, round(x.shape[-1] / 14)), g),
    # CIFAR-style random crop: pad 4 on 32x32
    "crop": lambda x, g: random_shift(x, max(1, x.shape[-1] // 8), g),
    "flip": random_flip,
}


def parse_augment(text: str) -> list[str]:
    names = [t.strip().lower() for t in (text or "").split(",") if t.strip()]
    for name in names:
        if name not in AUGMENTATIONS:
            raise CnnkitError(f"unknown augmentation {name!r}{suggest(name, AUGMENTATIONS)}; "
                              f"available: {', '.join(AUGMENTATIONS)}")
    return names


def augment(x: torch.Tensor, names: list[str], g: torch.Generator) -> torch.Tensor:
    for name in names:
        x = AUGMENTATIONS[name](x, g)
    return x
