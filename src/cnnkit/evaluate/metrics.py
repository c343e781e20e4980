"""Classification metrics of the notes: top-1 / top-5 error, errors counted, confusion matrix."""

from __future__ import annotations

import torch

from cnnkit.layers.inference import compiled_for_inference, predict_logits  # noqa: F401 - re-exported


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
