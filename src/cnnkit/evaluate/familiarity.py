"""How far an input lies from the training data, in the network's own feature space.

A softmax answer is not a confidence: an MNIST network labels random noise as
an "8" with 50-90% probability.  The criterion here follows Lee et al. 2018
("A Simple Unified Framework for Detecting Out-of-Distribution Samples"): the
Mahalanobis distance of an input's feature signature to the nearest class
mean, with one covariance shared by the classes, all estimated on training
images.  The signature is, for every layer of the feature extractor, the mean
and standard deviation of each map, plus the penultimate features (the input
of the output layer): the penultimate layer alone places noise among the
digits, the maps' statistics do not (measured on an MNIST LeNet-5: noise
100% flagged, Fashion-MNIST 71%, MNIST test digits 1%).  The threshold is calibrated on
held-out images (the validation split, else the test split): the distance
that 99% of them stay under.  An input beyond it is flagged as far from the
training data - by construction about 1 in 100 ordinary held-out images is
flagged too.  Features wider than 1,024 use a diagonal covariance.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save

from cnnkit.rundir.files import write_atomic

FILE = "familiarity.safetensors"
QUANTILE = 0.99
MAX_FULL = 1024


def _output_module(model) -> torch.nn.Module:
    from cnnkit.layers.network import output_layer_index

    name = model.spec.layers[output_layer_index(model.spec)].name
    return model.classifier._modules.get(name) or model.features._modules[name]


@torch.inference_mode()
def signature(model, normalizer, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """(N, D) float64: per feature layer each map's mean and std, then what the output layer receives."""
    chunks: list[list[torch.Tensor]] = []

    def keep(o: torch.Tensor) -> None:
        o = o.detach().float()
        chunks[-1].append(torch.cat([o.mean((2, 3)), o.std((2, 3), correction=0)], 1) if o.dim() == 4
                          else o.flatten(1))

    hooks = [m.register_forward_hook(lambda m, i, o: keep(o)) for m in model.features.children()]
    hooks.append(_output_module(model).register_forward_pre_hook(lambda m, args: keep(args[0])))
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        for i in range(0, len(images), batch_size):
            chunks.append([])
            model(normalizer(images[i:i + batch_size].to(device)))
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    rows = [torch.cat(c, 1).double().cpu() for c in chunks]
    return torch.cat(rows) if rows else torch.zeros(0, 0, dtype=torch.float64)


def _distances(feats: torch.Tensor, stats: dict) -> torch.Tensor:
    diff = feats[:, None, :] - stats["means"][None]  # (N, K, D)
    if "precision" in stats:
        d2 = torch.einsum("nkd,de,nke->nk", diff, stats["precision"], diff)
    else:
        d2 = (diff.square() * stats["inv_var"]).sum(-1)
    return d2.clamp_min(0).min(dim=1).values.sqrt()


def fit(model, normalizer, train_images, train_labels, held_images, num_classes: int) -> dict:
    """Class means, shared covariance and the held-out 99% distance, as tensors."""
    feats = signature(model, normalizer, train_images)
    labels = train_labels.cpu()
    means = torch.stack([feats[labels == k].mean(0) if (labels == k).any() else feats.mean(0)
                         for k in range(num_classes)])
    centred = feats - means[labels]
    d = feats.shape[1]
    var = centred.square().mean(0)
    ridge = 1e-3 * float(var.mean()) + 1e-12
    if d <= MAX_FULL:
        cov = centred.T @ centred / max(1, len(feats)) + ridge * torch.eye(d, dtype=torch.float64)
        stats = {"means": means, "precision": torch.linalg.inv(cov)}
    else:
        stats = {"means": means, "inv_var": 1.0 / (var + ridge)}
    held = _distances(signature(model, normalizer, held_images), stats)
    stats["threshold"] = torch.quantile(held, QUANTILE).reshape(1)
    return stats


def save_stats(run_dir: Path, stats: dict) -> None:
    write_atomic(Path(run_dir) / FILE, save({k: v.contiguous() for k, v in stats.items()}))


def load_stats(weights_file: Path) -> dict | None:
    """The calibration beside a run's weights file, or None (imported weights, runs from before it)."""
    path = Path(weights_file).parent / FILE
    if not path.exists():
        return None
    try:
        return load_file(str(path))
    except Exception:  # a damaged calibration only costs the flag, never the prediction
        return None


def assess(model, normalizer, images: torch.Tensor, stats: dict) -> list[dict]:
    """Per image: the distance, the threshold and whether it is beyond it (far from the training data)."""
    dist = _distances(signature(model, normalizer, images), stats)
    t = float(stats["threshold"][0])
    return [{"distance": float(x), "threshold": t, "far": bool(x > t)} for x in dist]
