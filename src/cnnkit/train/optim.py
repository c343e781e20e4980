"""Optimizers of the notes (SGD, momentum, Nesterov, AdaGrad, RMSprop, Adam) and weight init."""

from __future__ import annotations

import torch
from torch import nn

from cnnkit.train.config import TrainConfig


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Weight decay (L2) applies to conv/fc weights, not to biases or batch-norm scales."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.optimizer == "adagrad":
        return torch.optim.Adagrad(groups, lr=cfg.lr)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr


@torch.no_grad()
def initialize(model: nn.Module, method: str) -> None:
    """``he``: Gaussian with std sqrt(2 / fan) as in the notes (He et al. 2015); ``xavier``: Glorot."""
    if method == "default":
        return
    for m in model.modules():
        weight = getattr(m, "weight", None)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) or weight is None or weight.ndim < 2:
            continue
        if method == "he":
            nn.init.kaiming_normal_(weight, mode="fan_out" if isinstance(m, nn.Conv2d) else "fan_in",
                                    nonlinearity="relu")
        else:
            nn.init.xavier_uniform_(weight)
        bias = getattr(m, "bias", None)
        if isinstance(bias, torch.Tensor):
            bias.zero_()
