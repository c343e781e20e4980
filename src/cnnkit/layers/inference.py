"""Running a built network over many images: batched, in eval mode, optionally compiled.

Below the run directory and evaluation alike: a trained run predicts with it,
the trainer measures validation error with it, evaluation scores with it.
"""

from __future__ import annotations

import torch
from torch import nn


def compiled_for_inference(model: nn.Module) -> nn.Module:
    """``torch.compile`` for inference, or the model itself where compiling is not possible.

    Measured on a 2-core CPU: before cnnkit's native kernels, LeNet-5 inference
    went from 25k to 60k images/s once compiled (0.7 s to compile); with them
    it runs ~100k eagerly and compiling (which leaves them out) drops it to
    ~69k, while AlexNet still gains (57 -> 82).  Training ran 2x slower
    compiled, so the trainer stays eager.  Worth trying for large prediction
    jobs with models the native kernels do not cover, not for one batch.
    """
    try:
        return torch.compile(model, dynamic=False)
    except Exception:  # noqa: BLE001 - no compiler toolchain: eager is always correct
        return model


@torch.inference_mode()
def predict_logits(model: nn.Module, normalizer: nn.Module, images: torch.Tensor, batch_size: int = 1000,
                   device: torch.device | str | None = None, compile: bool = False,
                   extras: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Class scores (N, K) for uint8 images (N, C, H, W), in large batches, in eval mode.

    ``extras``: the other inputs of a multi-input network, (N, F) each, passed beside the images.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    run = compiled_for_inference(model) if compile else model
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = normalizer(images[i:i + batch_size].to(device, non_blocking=True))
        if extras:
            x = {model.image_input: x, **{k: v[i:i + batch_size].to(device) for k, v in extras.items()}}
        out.append(run(x))
    model.train(was_training)
    if out and isinstance(out[0], dict):  # a several-head network: {head: (N, D)}
        return {k: torch.cat([o[k].float() for o in out]) for k in out[0]}
    return torch.cat([o.float() for o in out]) if out else torch.zeros(0, 0)
