"""Preprocessing as the notes describe it, computed once on the training split.

* ``standardize``: subtract the per-channel mean, divide by the per-channel std.
* ``channel-mean``: subtract the per-channel mean (VGG).
* ``mean-image``: subtract the mean image, a C x H x W array (AlexNet).
* ``none``: pixels scaled to [0, 1].
* ``tokens`` (chosen for text): token ids pass through unchanged.

A :class:`Normalizer` is a module with buffers, so it travels with the model's
weights and ``predict`` normalises exactly as training did.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnkit.data.tensors import ImageData


class Normalizer(nn.Module):
    """uint8 (N, C, H, W) -> float (N, C, H, W): ``(x / 255 - mean) / std``."""

    def __init__(self, method: str, mean: torch.Tensor, std: torch.Tensor, scale: float = 1 / 255):
        super().__init__()
        self.method = method
        self.register_buffer("mean", mean.float())  # (C, 1, 1) or (C, H, W)
        self.register_buffer("std", std.float())  # (C, 1, 1)
        self.register_buffer("scale", torch.tensor(float(scale)))  # 1/255 for uint8 pixels, 1 for float data

    @classmethod
    def fit(cls, method: str, data: ImageData, chunk: int = 8192) -> Normalizer:
        c = data.images.shape[1]
        if data.images.dtype == torch.long:  # token ids pass through to the embedding unchanged
            return cls("tokens", torch.zeros(1, 1, 1), torch.ones(1, 1, 1), 1.0)
        scale = 1 / 255 if data.images.dtype == torch.uint8 else 1.0
        ones, zeros = torch.ones(c, 1, 1), torch.zeros(c, 1, 1)
        if method == "none":
            return cls(method, zeros, ones, scale)
        if method == "mean-image":
            total = torch.zeros(data.images.shape[1:], dtype=torch.float64)
            for i in range(0, len(data), chunk):
                total += data.images[i:i + chunk].to(torch.float64).sum(0)
            return cls(method, (total / len(data) * scale).float().cpu(), ones, scale)
        mean, std = data.channel_stats()
        mean_t = torch.tensor(mean).view(c, 1, 1)
        if method == "channel-mean":
            return cls(method, mean_t, ones, scale)
        return cls(method, mean_t, torch.tensor(std).clamp_min(1e-6).view(c, 1, 1), scale)

    @classmethod
    def from_state(cls, method: str, tensors: dict[str, torch.Tensor]) -> Normalizer:
        scale = tensors.get("normalizer.scale")
        return cls(method, tensors["normalizer.mean"], tensors["normalizer.std"],
                   1 / 255 if scale is None else float(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.method == "tokens":
            return x
        # one fused multiply-add per pixel: x * (scale / std) + (-mean / std)
        gain = self.scale / self.std
        return torch.addcmul(-self.mean / self.std, x.float(), gain)

    def describe(self) -> dict:
        d = {"method": self.method}
        if self.mean.shape[1:] == (1, 1):
            d["mean"] = self.mean.flatten().tolist()
        d["std"] = self.std.flatten().tolist()
        return d
