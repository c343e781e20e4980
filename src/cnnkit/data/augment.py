"""Label-preserving augmentation as batched tensor ops on the training device.

Each transform takes a float batch (N, C, H, W) of normalised images and a
``torch.Generator`` and returns a batch of the same shape and dtype; no
per-sample Python.  Randomness comes only from the generator, so a seed (and a
saved generator state) reproduces every augmented batch exactly.

Selected by a comma list, each name optionally with one parameter:
``--augment crop:4,flip,rotate:10,cutout:8``.  ``default`` picks the model's
preset (its recipe, or by input size: translations for grey digits, crop and
flip for small colour images, resized crops, flips and PCA lighting above).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cnnkit.errors import CnnkitError
from cnnkit.spec.schema import suggest


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device) -> torch.Tensor:
    return (torch.rand(n, generator=g, device=g.device) * (hi - lo) + lo).to(device)


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


def random_flip(x: torch.Tensor, g: torch.Generator, p: float = 0.5) -> torch.Tensor:
    mask = _uniform(x.shape[0], 0, 1, g, x.device) < p
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample each image through its own 2x3 affine map (N, 2, 3); outside pixels are 0 (the mean)."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_rotate(x: torch.Tensor, g: torch.Generator, degrees: float = 10.0) -> torch.Tensor:
    a = _uniform(x.shape[0], -degrees, degrees, g, x.device) * (math.pi / 180)
    cos, sin, zero = a.cos(), a.sin(), torch.zeros_like(a)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    return _affine(x, theta)


def random_scale(x: torch.Tensor, g: torch.Generator, amount: float = 0.1) -> torch.Tensor:
    s = 1.0 / _uniform(x.shape[0], 1 - amount, 1 + amount, g, x.device)  # grid scale is the inverse zoom
    zero = torch.zeros_like(s)
    theta = torch.stack([torch.stack([s, zero, zero], 1), torch.stack([zero, s, zero], 1)], 1)
    return _affine(x, theta)


def random_distort(x: torch.Tensor, g: torch.Generator, amount: float = 0.1) -> torch.Tensor:
    """LeCun et al. 1998's distortions: a random combination of translation (up to ``amount`` of the side),
    scaling, squeezing (one axis compressed as the other stretches) and horizontal shearing (each up to
    ``amount``)."""
    n, dev = x.shape[0], x.device
    s = 1.0 / _uniform(n, 1 - amount, 1 + amount, g, dev)  # grid coordinates: the inverse of the zoom
    q = _uniform(n, 1 - amount, 1 + amount, g, dev)  # squeeze: x scaled by q, y by 1/q
    shear = _uniform(n, -amount, amount, g, dev)
    tx, ty = (_uniform(n, -2 * amount, 2 * amount, g, dev) for _ in range(2))  # grid units: the side is 2
    theta = torch.stack([torch.stack([s * q, s * shear, tx], 1), torch.stack([torch.zeros_like(s), s / q, ty], 1)], 1)
    return _affine(x, theta)


def random_resized_crop(x: torch.Tensor, g: torch.Generator, min_scale: float = 0.35) -> torch.Tensor:
    """Inception-style crop: a random area in [min_scale, 1] and aspect in [3/4, 4/3], resized back."""
    n = x.shape[0]
    area = _uniform(n, min_scale, 1.0, g, x.device)
    log_r = _uniform(n, math.log(3 / 4), math.log(4 / 3), g, x.device)
    r = log_r.exp()
    sw = (area * r).sqrt().clamp(max=1.0)  # crop width / image width
    sh = (area / r).sqrt().clamp(max=1.0)
    cx = _uniform(n, -1, 1, g, x.device) * (1 - sw)
    cy = _uniform(n, -1, 1, g, x.device) * (1 - sh)
    zero = torch.zeros_like(sw)
    theta = torch.stack([torch.stack([sw, zero, cx], 1), torch.stack([zero, sh, cy], 1)], 1)
    return _affine(x, theta)


def color_jitter(x: torch.Tensor, g: torch.Generator, strength: float = 0.2) -> torch.Tensor:
    """Brightness and contrast per image, and a colour balance per channel (in normalised units)."""
    n, c = x.shape[:2]
    contrast = _uniform(n, 1 - strength, 1 + strength, g, x.device).view(n, 1, 1, 1)
    bright = _uniform(n, -strength, strength, g, x.device).view(n, 1, 1, 1)
    balance = _uniform(n * c, 1 - strength / 2, 1 + strength / 2, g, x.device).view(n, c, 1, 1)
    return x * contrast * balance + bright


def cutout(x: torch.Tensor, g: torch.Generator, size: int = 0) -> torch.Tensor:
    """Zero (set to the mean) one random square of side ``size`` per image (DeVries & Taylor 2017)."""
    n, _, h, w = x.shape
    size = size or max(1, h // 4)
    cy = torch.randint(0, h, (n,), generator=g, device=g.device).to(x.device).view(n, 1, 1)
    cx = torch.randint(0, w, (n,), generator=g, device=g.device).to(x.device).view(n, 1, 1)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    hole = ((ys - cy).abs() <= size // 2) & ((xs - cx).abs() <= size // 2)  # (N, H, W)
    return x.masked_fill(hole.unsqueeze(1), 0.0)


@dataclass
class Lighting:
    """AlexNet's PCA lighting noise: add sum_i alpha_i * lambda_i * p_i, alpha_i ~ N(0, std^2).

    The eigen-pairs of the RGB covariance are computed once from the training pixels.
    """

    eigvals: torch.Tensor  # (3,)
    eigvecs: torch.Tensor  # (3, 3), columns are components

    @classmethod
    def fit(cls, x: torch.Tensor) -> Lighting:
        pixels = x.permute(1, 0, 2, 3).reshape(x.shape[1], -1).double()  # (C, pixels)
        cov = torch.cov(pixels)
        vals, vecs = torch.linalg.eigh(cov)
        return cls(vals.clamp_min(0).float(), vecs.float())

    def __call__(self, x: torch.Tensor, g: torch.Generator, std: float = 0.1) -> torch.Tensor:
        n = x.shape[0]
        alpha = torch.randn(n, 3, generator=g, device=g.device).to(x.device) * std  # (N, 3)
        shift = (alpha * self.eigvals.to(x.device)) @ self.eigvecs.to(x.device).t()  # (N, C)
        return x + shift.view(n, -1, 1, 1)


@dataclass(frozen=True)
class Augmentation:
    fn: Callable
    default: float | int | None
    doc: str
    rgb_only: bool = False


AUGMENTATIONS: dict[str, Augmentation] = {
    "translate": Augmentation(lambda x, g, p: random_shift(x, int(p or max(1, round(x.shape[-1] / 14))), g),
                              0, "shift by up to N px (default width/14: 2 px on 28x28)"),
    "crop": Augmentation(lambda x, g, p: random_shift(x, int(p or max(1, x.shape[-1] // 8)), g), 0,
                         "random crop after zero-padding N px (default width/8: 4 px on 32x32)"),
    "flip": Augmentation(lambda x, g, p: random_flip(x, g, p), 0.5, "horizontal flip with probability p"),
    "rotate": Augmentation(lambda x, g, p: random_rotate(x, g, p), 10.0, "rotate by up to N degrees"),
    "scale": Augmentation(lambda x, g, p: random_scale(x, g, p), 0.1, "zoom by a factor in [1-a, 1+a]"),
    "distort": Augmentation(lambda x, g, p: random_distort(x, g, p), 0.1,
                            "LeCun 1998: random translation, scaling, squeezing and shearing, each up to a"),
    "resized_crop": Augmentation(lambda x, g, p: random_resized_crop(x, g, p), 0.35,
                                 "crop a random area fraction >= a and aspect in [3/4, 4/3], resize back"),
    "jitter": Augmentation(lambda x, g, p: color_jitter(x, g, p), 0.2, "brightness, contrast and colour jitter"),
    "lighting": Augmentation(None, 0.1, "AlexNet's PCA lighting noise with std s", rgb_only=True),
    "cutout": Augmentation(lambda x, g, p: cutout(x, g, int(p)), 0, "blank a random square of N px (default H/4)"),
}


def parse_augment(text: str | None) -> list[tuple[str, float | None]]:
    """``"crop:4,flip"`` -> [("crop", 4.0), ("flip", 0.5)]; unknown names are errors."""
    out = []
    for item in (text or "").split(","):
        item = item.strip().lower()
        if not item or item == "none":
            continue
        name, _, param = item.partition(":")
        name = name.replace("-", "_")
        if name not in AUGMENTATIONS:
            raise CnnkitError(f"unknown augmentation {name!r}{suggest(name, AUGMENTATIONS)}; "
                              f"available: {', '.join(AUGMENTATIONS)}, or default")
        if param:
            try:
                value: float | None = float(param)
            except ValueError:
                raise CnnkitError(f"augmentation {name}: parameter {param!r} is not a number") from None
            if value < 0:
                raise CnnkitError(f"augmentation {name}: parameter must not be negative, got {param}")
        else:
            value = AUGMENTATIONS[name].default
        out.append((name, value))
    return out


def default_preset(input_shape: tuple[int, int, int]) -> str:
    c, h, _ = input_shape
    if (c, h) == (1, 1):  # token ids of text: no image augmentation applies
        return ""
    if c == 1:
        return "translate"
    if h <= 64:
        return "crop,flip"
    return "resized_crop,flip,lighting"


class Augmenter:
    """A fitted pipeline: the parsed transforms plus anything computed from the training data."""

    def __init__(self, steps: list[tuple[str, float | None]], lighting: Lighting | None = None):
        self.steps, self.lighting = steps, lighting

    @classmethod
    def build(cls, text: str | None, sample: torch.Tensor | None = None) -> Augmenter:
        """``sample``: normalised training images, needed only by ``lighting``."""
        steps = parse_augment(text)
        lighting = None
        if any(name == "lighting" for name, _ in steps):
            if sample is None or sample.shape[1] != 3:
                raise CnnkitError("augmentation 'lighting' (AlexNet's PCA noise) needs RGB training images")
            lighting = Lighting.fit(sample)
        return cls(steps, lighting)

    def __bool__(self) -> bool:
        return bool(self.steps)

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        for name, param in self.steps:
            if name == "lighting":
                x = self.lighting(x, g, param)  # type: ignore[misc]
            else:
                x = AUGMENTATIONS[name].fn(x, g, param)
        return x

    def describe(self) -> str:
        return ",".join(f"{n}:{p:g}" if p is not None else n for n, p in self.steps)
