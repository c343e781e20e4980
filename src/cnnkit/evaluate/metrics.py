"""Classification metrics of the notes: top-1 / top-5 error, errors counted, confusion matrix."""

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
                   device: torch.device | str | None = None, compile: bool = False) -> torch.Tensor:
    """Class scores (N, K) for uint8 images (N, C, H, W), in large batches, in eval mode."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    run = compiled_for_inference(model) if compile else model
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = normalizer(images[i:i + batch_size].to(device, non_blocking=True))
        out.append(run(x).float())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, 0)


def topk_errors(logits: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> dict[int, int]:
    """Number of samples whose label is not among the top-k scores, for each k."""
    labels = labels.to(logits.device)
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices  # (N, kmax)
    hit = top == labels.view(-1, 1)
    return {k: int((~hit[:, :min(k, kmax)].any(1)).sum()) for k in ks}


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> dict:
    n = int(labels.shape[0])
    errs = topk_errors(logits, labels)
    pred = logits.argmax(1).cpu()
    labels = labels.cpu()
    k = len(classes)
    cm = torch.bincount(labels * k + pred, minlength=k * k).view(k, k)  # rows: true, columns: predicted
    per_class = {}
    for i, name in enumerate(classes):
        total = int(cm[i].sum())
        per_class[name] = (int(cm[i, i]) / total) if total else None
    return {"n": n, "errors": errs[1], "top1_error": errs[1] / n if n else 0.0,
            "top5_error": errs[5] / n if n else 0.0, "per_class_accuracy": per_class,
            "confusion_matrix": cm.tolist(), "classes": list(classes)}
