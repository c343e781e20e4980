"""Evaluate a trained run on a dataset split, and predict classes of image files."""

from __future__ import annotations

from pathlib import Path

from cnnkit.evaluate.metrics import classification_metrics, predict_logits, topk_errors
from cnnkit.evaluate.tta import predict_proba
from cnnkit.rundir import TrainedModel, load, load_split


def _trained(run) -> TrainedModel:
    return run if isinstance(run, TrainedModel) else load(run)


def evaluate(run, dataset: str | None = None, split: str = "test", data_dir=None, batch_size: int = 1000,
             device: str = "cpu", tta: str | None = None, compile: bool = False) -> dict:
    """Top-1/top-5 error, error count, per-class accuracy and confusion matrix of ``run`` on a split.

    With ``tta`` (e.g. ``"flip,crops"``) the result also holds ``tta``: the same
    errors with the softmax averaged over the transformed copies.
    """
    tm = _trained(run).to(device)
    ds, images, labels = load_split(tm, dataset, split, data_dir)
    task = tm.meta.get("task", "classify")
    if task == "heads":
        from cnnkit.errors import CnnkitError

        raise CnnkitError("a several-head run is scored when it trains (summary.json: test_<head>_<metric>); "
                          "evaluate on a named data set needs a one-head run")
    if task != "classify":  # regress, reconstruct, rotation: the task's own metrics
        from cnnkit.evaluate.tasks import make_task

        scorer = make_task(task).load_state(tm.meta.get("task_state"))
        scores = scorer.score(tm.model, tm.normalizer, images.to(device), labels.to(device), batch_size)
        return {"task": task, "dataset": ds.name, "split": split, "run": str(tm.path), "n": len(labels), **scores}
    if len(ds.classes) != len(tm.classes):
        from cnnkit.errors import CnnkitError

        raise CnnkitError(f"{ds.name} has {len(ds.classes)} classes but the model was trained on {len(tm.classes)}")
    images = images.to(device)
    logits = predict_logits(tm.model, tm.normalizer, images, batch_size, compile=compile)
    metrics = classification_metrics(logits, labels, tm.classes)
    metrics.update({"dataset": ds.name, "split": split, "run": str(tm.path)})
    if tta:
        warning = ds.flip_warning(f"--tta {tta}") if "flip" in tta else None
        if warning:
            import warnings

            warnings.warn(warning, stacklevel=2)
        probs = predict_proba(tm.model, tm.normalizer, images, tta, batch_size)
        errs = topk_errors(probs, labels)
        metrics["tta"] = {"transforms": tta, "top1_error": errs[1] / len(labels), "top5_error": errs[5] / len(labels),
                          "errors": errs[1], "warning": warning}
    return metrics


def predict(run, files, top: int = 5, device: str = "cpu", invert: str = "auto",
            digit_normalize: str = "auto", out_dir: str | Path | None = None) -> list[dict]:
    """Top-``top`` classes with probabilities for each image file, and what a reader must know about them.

    Each item: ``file``, ``top``, ``inverted`` (the picture's polarity was
    flipped to the training images'), ``digit_normalized``,
    ``low_confidence`` (True: far from the training data by the run's
    calibrated feature-distance criterion, see :mod:`cnnkit.evaluate.familiarity`;
    None: the run holds no calibration) and ``notes`` (the same in words).
    """
    from cnnkit.errors import CnnkitError
    from cnnkit.evaluate import familiarity

    for name, value in (("invert", invert), ("digit_normalize", digit_normalize)):
        if value not in ("auto", "yes", "no"):
            raise CnnkitError(f"{name.replace('_', '-')} must be auto, yes or no, got {value!r}")
    tm = _trained(run).to(device)
    files = [Path(f) for f in files]
    images, infos = tm.load_pictures(files, invert, digit_normalize)
    task = tm.meta.get("task", "classify")
    if task in ("regress", "reconstruct", "vae"):
        return _predict_values(tm, files, images.to(device), infos, task, out_dir)
    images = images.to(device)
    probs = tm.predict_proba(images)
    k = min(top, probs.shape[1])
    values, idx = probs.topk(k, dim=1)
    stats = familiarity.load_stats(tm.path)
    far = familiarity.assess(tm.model, tm.normalizer, images, stats) if stats is not None else [None] * len(files)
    out = []
    for f, pv, iv, info, fam in zip(files, values, idx, infos, far):
        notes = list(info["notes"])
        if fam is None:
            notes.append("no familiarity calibration in this run (imported or older weights): "
                         "how far the picture is from the training data is unknown")
        elif fam["far"]:
            notes.append(f"low confidence: far from the training data (feature distance {fam['distance']:.1f}, "
                         f"beyond the {fam['threshold']:.1f} that 99% of held-out images stay under); "
                         f"the answer is a guess")
        out.append({"file": str(f), "top": [{"class": tm.classes[int(i)], "prob": float(p)} for p, i in zip(pv, iv)],
                    "inverted": info["inverted"], "digit_normalized": info["digit_normalized"],
                    "low_confidence": None if fam is None else fam["far"],
                    "distance": None if fam is None else round(fam["distance"], 3), "notes": notes})
    return out


def predict_text(run, texts: list[str], top: int = 5, device: str = "cpu") -> list[dict]:
    """Top-``top`` classes for each sentence of a text run, tokenised and encoded as training did; each item:
    ``text``, ``top``, ``unknown_words`` (tokens outside the run's vocabulary), ``notes``."""
    from cnnkit.data.text import tokenize
    from cnnkit.errors import CnnkitError

    tm = _trained(run).to(device)
    vocab = tm.vocabulary
    if vocab is None:
        raise CnnkitError(f"{run} is not a text run (no vocabulary); give it image files")
    ids, _, _ = vocab.encode_texts(texts)
    probs = tm.predict_proba(ids.to(device))
    k = min(top, probs.shape[1])
    values, idx = probs.topk(k, dim=1)
    out = []
    for text, pv, iv in zip(texts, values, idx):
        tokens = tokenize(text)
        unknown = [t for t in tokens[:vocab.length] if t not in vocab.index]
        notes = []
        if len(tokens) > vocab.length:
            notes.append(f"only the first {vocab.length} of its {len(tokens)} words were read")
        if unknown:
            notes.append(f"{len(unknown)} of {min(len(tokens), vocab.length)} words unknown to the run: "
                         f"{', '.join(unknown[:8])}{' ...' if len(unknown) > 8 else ''}")
        if not tokens:
            notes.append("no words left after tokenising: the answer reflects the network's bias only")
        out.append({"text": text, "top": [{"class": tm.classes[int(i)], "prob": float(p)} for p, i in zip(pv, iv)],
                    "unknown_words": len(unknown), "notes": notes})
    return out


def _predict_values(tm: TrainedModel, files, images, infos, task: str, out_dir) -> list[dict]:
    """Regression: the predicted values by name; reconstruction: the rebuilt picture, written as a PNG (a VAE's:
    the decoder's pixel probabilities for the mean code of q(z|x))."""
    import numpy as np
    from PIL import Image

    from cnnkit.layers.inference import predict_logits

    out = predict_logits(tm.model, tm.normalizer, images).cpu()
    rows = []
    if task == "regress":
        from cnnkit.evaluate.tasks import make_task

        out = make_task("regress").load_state(tm.meta.get("task_state")).values(out)
        for f, values, info in zip(files, out, infos):
            rows.append({"file": str(f), "values": {n: float(v) for n, v in zip(tm.classes, values)},
                         "notes": info["notes"]})
        return rows
    folder = Path(out_dir or "reconstructions")
    folder.mkdir(parents=True, exist_ok=True)
    recon = (out.sigmoid() if task == "vae" else out).reshape(images.shape).clamp(0, 1)
    for f, r, x, info in zip(files, recon, images.cpu(), infos):
        arr = (r.numpy() * 255 + 0.5).astype(np.uint8)
        target = folder / f"{f.stem}.reconstruction.png"
        Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)).save(target)
        mse = float((r - x.float() / 255).square().mean())
        rows.append({"file": str(f), "reconstruction": str(target), "mse": mse, "notes": info["notes"]})
    return rows


__all__ = ["evaluate", "predict"]
