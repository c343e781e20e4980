"""Ensembles: average the softmax of several trained networks (AlexNet's 5 and 7 CNNs)."""

from __future__ import annotations

from pathlib import Path

from cnnkit.errors import CnnkitError
from cnnkit.evaluate.metrics import topk_errors
from cnnkit.evaluate.tta import predict_proba
from cnnkit.rundir import load, load_split


def expand_runs(runs) -> list[Path]:
    """Run directories; a directory of ``member-*`` runs (``train --ensemble N``) stands for its members."""
    out = []
    for r in runs:
        p = Path(r)
        members = sorted(p.glob("member-*")) if p.is_dir() else []
        out += [m for m in members if m.is_dir()] or [p]
    if not out:
        raise CnnkitError("an ensemble needs at least one run")
    return out


def ensemble(runs, dataset: str | None = None, split: str = "test", data_dir=None, tta: str | None = None,
             device: str = "cpu") -> dict:
    paths = expand_runs(runs)
    members = [load(p).to(device) for p in paths]
    for m, p in zip(members, paths):
        if m.meta.get("task", "classify") != "classify":
            raise CnnkitError(f"{p} was trained to {m.meta['task']}: an ensemble averages class probabilities of "
                              f"classify runs")
    classes = members[0].classes
    for m, p in zip(members[1:], paths[1:]):
        if m.classes != classes:
            raise CnnkitError(f"{p} predicts other classes than {paths[0]}; ensemble members must share classes")
    name = dataset or members[0].meta.get("dataset")
    if not name:
        raise CnnkitError("the runs do not record their dataset: pass --dataset")
    loaded = {}
    rows, total = [], None
    for m, p in zip(members, paths):
        key = tuple(m.input_shape)
        if key not in loaded:
            loaded[key] = load_split(m, name, split, data_dir)[1:]
        images, labels = loaded[key]
        probs = predict_proba(m.model, m.normalizer, images, tta)
        errs = topk_errors(probs, labels)
        n = len(labels)
        rows.append({"run": str(p), "top1_error": errs[1] / n, "top5_error": errs[5] / n})
        total = probs if total is None else total + probs
    labels = next(iter(loaded.values()))[1]
    errs = topk_errors(total / len(members), labels)
    n = len(labels)
    return {"members": rows, "mean_member_top1_error": sum(r["top1_error"] for r in rows) / len(rows),
            "mean_member_top5_error": sum(r["top5_error"] for r in rows) / len(rows),
            "ensemble": {"top1_error": errs[1] / n, "top5_error": errs[5] / n, "errors": errs[1], "n": n},
            "dataset": name, "split": split, "tta": tta or ""}


__all__ = ["ensemble", "expand_runs"]
