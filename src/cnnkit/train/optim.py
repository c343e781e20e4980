"""Optimizers of the notes (SGD, momentum, Nesterov, AdaGrad, RMSprop, Adam) and weight init."""

from __future__ import annotations

import torch
from torch import nn

from cnnkit.errors import CnnkitError
from cnnkit.layers.init import BATCHNORMS
from cnnkit.train.config import TrainConfig


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Weight decay (L2) applies to conv/fc weights, not to biases or batch-norm scales.

    With ``lr_bn_scale`` != 1 the batch-norm parameters get a group of their own
    whose learning rate is that multiple of the schedule's (``lr_scale``, read by
    :func:`set_lr`): they only shift and scale normalised activations, and
    airbench trains them 64x faster than the weights.
    """
    bn = {id(p) for m in model.modules() if isinstance(m, BATCHNORMS) for p in m.parameters(recurse=False)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    own_group = cfg.lr_bn_scale != 1.0
    decay = [p for p in trainable if p.ndim > 1]
    no_decay = [p for p in trainable if p.ndim <= 1 and not (own_group and id(p) in bn)]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if own_group:
        groups.append({"params": [p for p in trainable if id(p) in bn], "weight_decay": 0.0,
                       "lr_scale": cfg.lr_bn_scale})
    groups = [g for g in groups if g["params"]]
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "sdlm":
        return SDLM(groups, lr=cfg.lr)
    if cfg.optimizer == "adadelta":  # Zeiler 2012 as Kim 2014 used it: rho 0.95, eps 1e-6, lr 1.0
        return torch.optim.Adadelta(groups, lr=cfg.lr, rho=0.95, eps=1e-6)
    kind, kwargs = {"sgd": (torch.optim.SGD, {"momentum": cfg.momentum, "nesterov": cfg.nesterov}),
                    "adagrad": (torch.optim.Adagrad, {}),
                    "adam": (torch.optim.Adam, {"betas": (cfg.momentum, 0.999)}),  # momentum is Adam's beta1
                    "adamw": (torch.optim.AdamW, {"betas": (cfg.momentum, 0.999)})}[cfg.optimizer]
    # One fused kernel for all parameters instead of a few ops per tensor: LeNet-5's SGD step on a 2-core CPU
    # 0.21 -> 0.10 ms (3% of a training step).  Same update rule; older PyTorch or other devices: per-tensor ops.
    if all(p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float64) for p in trainable):
        try:
            return kind(groups, lr=cfg.lr, fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):
            pass
    return kind(groups, lr=cfg.lr, **kwargs)


#: patterns SDLM estimates its curvature on before each pass (LeCun et al. 1998: 500)
CURVATURE_PATTERNS = 500


class SDLM(torch.optim.Optimizer):
    """Stochastic diagonal Levenberg-Marquardt (LeCun et al. 1998, Appendix C; LeCun et al. 1998b).

    Each parameter w_k moves by ``lr / (mu + h_kk)`` times its gradient, h_kk being a running estimate
    of the diagonal of the Gauss-Newton matrix, re-estimated on a few hundred training patterns before
    each pass (:func:`estimate_curvature`); ``mu`` (0.02 in the paper) keeps the step bounded where the
    curvature is small.  Weight decay, when asked for, is added to the gradient as in SGD.
    """

    def __init__(self, params, lr: float = 5e-4, mu: float = 0.02):
        super().__init__(params, {"lr": lr, "mu": mu, "weight_decay": 0.0})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad if not group["weight_decay"] else p.grad + group["weight_decay"] * p
                h = self.state[p].get("curvature")
                if h is None:
                    h = self.state[p]["curvature"] = torch.zeros_like(p)
                p.addcdiv_(grad, h + group["mu"], value=-group["lr"])
        return loss

    def set_curvature(self, diagonal: dict[torch.nn.Parameter, torch.Tensor]) -> None:
        for p, h in diagonal.items():
            self.state[p]["curvature"] = h


def estimate_curvature(model: nn.Module, inputs: torch.Tensor, generator: torch.Generator,
                       ) -> dict[torch.nn.Parameter, torch.Tensor]:
    """The Gauss-Newton diagonal of the cross-entropy loss, averaged over ``inputs`` (normalised, one row each).

    For a softmax output the Gauss-Newton matrix equals the Fisher information, whose diagonal is the
    expected squared gradient of the loss of a label drawn from the network's own prediction: one backward
    pass per pattern gives an unbiased estimate (the paper back-propagates second derivatives instead; both
    estimate the same diagonal).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    was_training = model.training
    model.eval()  # the curvature of the network as it predicts: no dropout noise in the estimate
    for x in inputs:
        logits = model(x.unsqueeze(0))
        with torch.no_grad():
            y = torch.multinomial(torch.softmax(logits.float(), 1), 1, generator=generator).flatten()
        grads = torch.autograd.grad(nn.functional.cross_entropy(logits, y), params, allow_unused=True)
        for t, g in zip(total, grads):
            if g is not None:
                t.add_(g * g)
    model.train(was_training)
    return {p: t / len(inputs) for p, t in zip(params, total)}


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)


def freeze_bn_scales(model: nn.Module) -> None:
    """Keep every batch-norm scale at its value (1 when fresh); only the biases learn (airbench)."""
    for m in model.modules():
        if isinstance(m, BATCHNORMS) and m.weight is not None:
            m.weight.requires_grad_(False)


@torch.no_grad()
def whiten_stem(model: nn.Module, images: torch.Tensor, eps: float = 5e-4) -> nn.Conv2d:
    """Make the first convolution a frozen patch-whitening filter bank (Jordan 2024, airbench).

    The eigenvectors of the covariance of the training images' F×F patches,
    each divided by the square root of its eigenvalue, decorrelate the input
    the way PCA whitening does for a whole image; they come in ± pairs so a
    following ReLU/GELU keeps both signs.  The layer therefore needs exactly
    ``2 × C × F × F`` filters; its weights are frozen, its bias still learns.
    ``images``: normalised training images (N, C, H, W); a few thousand suffice.
    """
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise CnnkitError("whiten_stem needs a model whose first layer is a convolution")
    c, (fh, fw) = conv.in_channels, conv.kernel_size
    dims = c * fh * fw
    if conv.groups != 1 or conv.out_channels != 2 * dims:
        raise CnnkitError(f"whiten_stem needs a first convolution with 2 x C x F x F = {2 * dims} filters "
                          f"(one ± pair per patch dimension); this one has {conv.out_channels}")
    x = images.float().to(conv.weight.device)
    patches = x.unfold(2, fh, 1).unfold(3, fw, 1)  # (N, C, H', W', fh, fw)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, dims).double()
    cov = patches.T @ patches / patches.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)  # ascending
    filters = (eigenvectors.T / torch.sqrt(eigenvalues.clamp_min(0) + eps).unsqueeze(1)).flip(0)
    filters = filters.reshape(dims, c, fh, fw).to(conv.weight.dtype)
    conv.weight.copy_(torch.cat([filters, -filters]))
    conv.weight.requires_grad_(False)
    return conv
