"""Weight initialisation as the notes teach it: one function, a method name per scheme."""

from __future__ import annotations

import torch
from torch import nn

BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


@torch.no_grad()
def initialize(model: nn.Module, method: str) -> None:
    """``he``: Gaussian with std sqrt(2 / fan) as in the notes (He et al. 2015); ``xavier``: Glorot;
    ``lecun1998``: uniform in ±2.4 / fan-in, as LeNet-5 was published;
    ``zeros`` and ``small`` (Gaussian, std 0.01) are the notes' cautionary examples.

    ``dirac``: PyTorch's default, then the first ``in_channels`` filters of every
    odd-sized convolution with at least as many outputs as inputs pass their
    input through unchanged (identity init), so a deep stack starts close to
    the identity and trains fast; airbench uses it for its 3×3 convolutions.
    """
    if method == "default":
        return
    if method in ("zeros", "small"):  # the notes' two mistakes: no symmetry breaking; signals that vanish
        for m in model.modules():
            weight = getattr(m, "weight", None)
            if isinstance(m, (*BATCHNORMS, nn.Embedding)) or not isinstance(weight, torch.Tensor) or weight.ndim < 2:
                continue
            with torch.no_grad():
                weight.zero_() if method == "zeros" else weight.normal_(0.0, 0.01)
                bias = getattr(m, "bias", None)
                if isinstance(bias, torch.Tensor):
                    bias.zero_()
        return
    if method == "dcgan":  # Radford et al. 2016: every weight N(0, 0.02); batch-norm scales N(1, 0.02)
        for m in model.modules():
            if isinstance(m, BATCHNORMS):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        return
    if method == "dirac":
        for m in model.modules():
            if (isinstance(m, nn.Conv2d) and m.groups == 1 and m.out_channels >= m.in_channels
                    and all(k % 2 == 1 for k in m.kernel_size)):
                nn.init.dirac_(m.weight[:m.in_channels])
        return
    for m in model.modules():
        weight = getattr(m, "weight", None)
        if isinstance(m, (*BATCHNORMS, nn.Embedding)) or weight is None or weight.ndim < 2:
            continue
        if method == "lecun1998":  # LeCun et al. 1998, Appendix C: uniform in +-2.4 / fan-in
            if hasattr(m, "out_index"):  # a connection table: each output map has its own fan-in
                links = torch.bincount(m.out_index, minlength=m.out_channels)[m.out_index]
                bound = (2.4 / (links * weight[0].numel())).view(-1, *[1] * (weight.ndim - 1))
                weight.copy_((torch.rand_like(weight) * 2 - 1) * bound)
            else:
                fan_in = weight[0].numel()
                nn.init.uniform_(weight, -2.4 / fan_in, 2.4 / fan_in)
        elif method == "he":
            nn.init.kaiming_normal_(weight, mode="fan_out" if isinstance(m, nn.Conv2d) else "fan_in",
                                    nonlinearity="relu")
        else:
            nn.init.xavier_uniform_(weight)
        bias = getattr(m, "bias", None)
        if isinstance(bias, torch.Tensor):
            bias.zero_()
