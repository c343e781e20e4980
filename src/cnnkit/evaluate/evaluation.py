"""Evaluate a trained run on a dataset split, and predict classes of image files."""

from __future__ import annotations

from pathlib import Path

from cnnkit.data import load_dataset
from cnnkit.evaluate.metrics import classification_metrics, predict_logits, topk_errors
from cnnkit.evaluate.tta import predict_proba
from cnnkit.train.artifacts import TrainedModel, load


def _trained(run) -> TrainedModel:
    return run if isinstance(run, TrainedModel) else load(run)


def evaluate(run, dataset: str | None = None, split: str = "test", data_dir=None, batch_size: int = 1000,
             device: str = "cpu", tta: str | None = None, compile: bool = False) -> dict:
    """Top-1/top-5 error, error count, per-class accuracy and confusion matrix of ``run`` on a split.

    With ``tta`` (e.g. ``"flip,crops"``) the result also holds ``tta``: the same
    errors with the softmax averaged over the transformed copies.
    """
    tm = _trained(run).to(device)
    name = dataset or tm.meta.get("dataset")
    if not name:
        from cnnkit.errors import CnnkitError

        raise CnnkitError("the run does not record its dataset: pass --dataset")
    ds = load_dataset(name, data_dir, input_shape=tm.input_shape)
    data = ds[split]
    if len(ds.classes) != len(tm.classes):
        from cnnkit.errors import CnnkitError

        raise CnnkitError(f"{name} has {len(ds.classes)} classes but the model was trained on {len(tm.classes)}")
    images = tm.prepare(data.images).to(device)
    logits = predict_logits(tm.model, tm.normalizer, images, batch_size, compile=compile)
    metrics = classification_metrics(logits, data.labels, tm.classes)
    metrics.update({"dataset": ds.name, "split": split, "run": str(tm.path)})
    if tta:
        probs = predict_proba(tm.model, tm.normalizer, images, tta, batch_size)
        errs = topk_errors(probs, data.labels)
        metrics["tta"] = {"transforms": tta, "top1_error": errs[1] / len(data), "top5_error": errs[5] / len(data),
                          "errors": errs[1]}
    return metrics


def predict(run, files, top: int = 5, device: str = "cpu") -> list[dict]:
    """Top-``top`` classes with probabilities for each image file."""
    tm = _trained(run).to(device)
    files = [Path(f) for f in files]
    probs = tm.predict_proba(tm.load_files(files).to(device))
    k = min(top, probs.shape[1])
    values, idx = probs.topk(k, dim=1)
    return [{"file": str(f), "top": [{"class": tm.classes[int(i)], "prob": float(p)} for p, i in zip(pv, iv)]}
            for f, pv, iv in zip(files, values, idx)]


__all__ = ["evaluate", "predict"]
