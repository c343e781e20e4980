"""Why did the network say that?  Visual explanations of one prediction (``cnnkit explain``), via Captum.

Every method returns an H x W map of non-negative numbers at the resolution the network received the
picture (after the same conversion as ``predict``), for one class (the predicted one unless asked):

* ``saliency``: |d score / d pixel|, the largest over the channels (Simonyan et al. 2014);
* ``gradcam``: Grad-CAM (Selvaraju et al. 2017) on a layer's post-activation maps (the last spatial
  layer by default): ReLU(sum_k mean(dscore/dA_k) A_k), bilinearly upsampled;
* ``occlusion``: Zeiler & Fergus 2014, Fig. 7: a square of the training mean (zero after the run's
  normalisation) slid over the picture - a quarter of its side, stride half of that - and the drop in
  the class's probability, averaged over the windows covering each pixel (rises count as 0);
* ``guided-backprop``: the gradient with negative gradients stopped at every ReLU (Springenberg et al.);
* ``deconvnet``: Zeiler & Fergus's projection: ReLUs pass the positive part of the signal coming back.

``--units LAYER``: for a sample of a layer's filters, the test patches where each fires most, cropped to
the unit's receptive field (Zeiler & Fergus 2014, Fig. 2), the box found by the receptive-field arithmetic.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cnnkit.errors import CnnkitError
from cnnkit.rundir import TrainedModel, load

METHODS = ("saliency", "gradcam", "occlusion", "guided-backprop", "deconvnet")


def _layers(model) -> dict[str, nn.Module]:
    """The spec's top-level layers by name (graphs: their nodes)."""
    if hasattr(model, "nodes"):
        return dict(model.nodes.items())
    return {**dict(model.features.named_children()), **dict(model.classifier.named_children())}


def default_layer(tm: TrainedModel) -> str:
    """The last layer whose output is still a map (H x W > 1): Grad-CAM's usual choice, the last conv block."""
    from cnnkit.inspect import summarize

    spatial = [row.name for row in summarize(tm.model.spec).layers if row.output[1] * row.output[2] > 1]
    names = set(_layers(tm.model))
    spatial = [n for n in spatial if n in names]
    if not spatial:
        raise CnnkitError(f"{tm.model.spec.name} has no layer with spatial maps for Grad-CAM")
    return spatial[-1]


def _scores(model, x, target: int) -> torch.Tensor:
    return model(x)[:, target]


def attribution(tm: TrainedModel, x: torch.Tensor, method: str, target: int, layer: str | None = None
                ) -> torch.Tensor:
    """The (N, H, W) map of ``method`` for normalised inputs ``x`` (N, C, H, W) and class index ``target``."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting backward hooks")  # captum's notice, not the user's
        return _attribution(tm, x, method, target, layer).detach()


def _attribution(tm: TrainedModel, x: torch.Tensor, method: str, target: int, layer: str | None) -> torch.Tensor:
    from captum.attr import Deconvolution, GuidedBackprop, LayerAttribution, LayerGradCam, Occlusion, Saliency

    model = tm.model.eval()
    x = x.detach().clone().requires_grad_(True)
    if method == "saliency":
        a = Saliency(model).attribute(x, target=target, abs=True)
        return a.amax(1)
    if method in ("guided-backprop", "deconvnet"):
        with _no_inplace_relu(model):
            kind = GuidedBackprop if method == "guided-backprop" else Deconvolution
            a = kind(model).attribute(x, target=target)
        return a.abs().amax(1)
    if method == "gradcam":
        name = layer or default_layer(tm)
        layers = _layers(model)
        if name not in layers:
            raise CnnkitError(f"--layer {name!r} is not a layer of {tm.model.spec.name}; its layers: "
                              f"{', '.join(layers)}")
        with _no_inplace_relu(model):
            cam = LayerGradCam(model, layers[name]).attribute(x, target=target, relu_attributions=True)
        if cam.ndim != 4 or cam.shape[2] * cam.shape[3] <= 1:
            raise CnnkitError(f"--layer {name}: Grad-CAM needs a layer with spatial maps; it outputs "
                              f"{tuple(cam.shape[1:])}")
        return LayerAttribution.interpolate(cam, tuple(x.shape[2:]), "bilinear").sum(1).clamp_min(0)
    if method == "occlusion":
        c, h, w = x.shape[1:]
        side = max(1, min(h, w) // 4)
        stride = max(1, side // 2)
        probs = lambda inp: torch.softmax(model(inp), 1)  # noqa: E731 - the drop in probability, not in the logit
        a = Occlusion(probs).attribute(x, target=target, sliding_window_shapes=(c, side, side),
                                       strides=(c, stride, stride), baselines=0.0)
        return a[:, 0].clamp_min(0)
    raise CnnkitError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")


class _no_inplace_relu:
    """Captum's hooks on ReLUs need out-of-place ones: switch ``inplace`` off for the duration."""

    def __init__(self, model):
        self.relus = [m for m in model.modules() if isinstance(m, nn.ReLU) and m.inplace]

    def __enter__(self):
        for m in self.relus:
            m.inplace = False

    def __exit__(self, *exc):
        for m in self.relus:
            m.inplace = True


def _class_index(tm: TrainedModel, cls: str | None, probs: torch.Tensor) -> int:
    if cls is None:
        return int(probs.argmax())
    if cls in tm.classes:
        return tm.classes.index(cls)
    if cls.isdigit() and int(cls) < len(tm.classes):
        return int(cls)
    raise CnnkitError(f"--class {cls!r} is not a class of this run ({', '.join(tm.classes[:12])}"
                      f"{', ...' if len(tm.classes) > 12 else ''})")


def explain(run, files, method: str = "gradcam", cls: str | None = None, layer: str | None = None,
            out_dir: str | Path | None = "explanations") -> list[dict]:
    """One item per file: ``file``, ``method``, ``class``, ``prob``, ``map`` (H x W lists) and ``overlay``
    (the PNG written to ``out_dir``)."""
    if method not in METHODS:
        from cnnkit.spec.schema import suggest

        raise CnnkitError(f"--method must be one of {', '.join(METHODS)}, got {method!r}{suggest(method, METHODS)}")
    tm = run if isinstance(run, TrainedModel) else load(run)
    if tm.meta.get("task", "classify") != "classify" or tm.vocabulary is not None:
        raise CnnkitError("explain shows why an image classifier chose a class; this run is a "
                          f"{'text' if tm.vocabulary is not None else tm.meta.get('task')} run")
    files = [Path(f) for f in files]
    images, infos = tm.load_pictures(files)
    x = tm.normalizer(tm.prepare(images)).float()
    with torch.no_grad():
        probs = torch.softmax(tm.model.eval()(x), 1)
    out = []
    for i, f in enumerate(files):
        target = _class_index(tm, cls, probs[i])
        heat = attribution(tm, x[i:i + 1], method, target, layer)[0].detach()
        item = {"file": str(f), "method": method, "class": tm.classes[target], "prob": float(probs[i, target]),
                "map": heat.tolist(), "notes": infos[i]["notes"]}
        if out_dir is not None:
            item["overlay"] = str(overlay(tm.prepare(images[i:i + 1])[0], heat, Path(out_dir) /
                                          f"{f.stem}.{method}.png",
                                          f"{method}: {tm.classes[target]} {100 * float(probs[i, target]):.1f}%"))
        out.append(item)
    return out


def overlay(image: torch.Tensor, heat: torch.Tensor, path: Path, caption: str) -> Path:
    """The picture in grey with the map as a translucent heat map over it, and the caption above."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img = image.float().cpu() / (255 if image.dtype == torch.uint8 else 1)
    fig, ax = plt.subplots(figsize=(3, 3.2))
    ax.imshow(img.permute(1, 2, 0).numpy() if img.shape[0] == 3 else img[0].numpy(), cmap="gray")
    ax.imshow(heat.cpu().numpy(), cmap="jet", alpha=0.45)
    ax.set_title(caption, fontsize=9)
    ax.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- what a unit responds to
def receptive_box(tm: TrainedModel, layer: str, y: int, x: int) -> tuple[int, int, int, int]:
    """The input rows and columns [y0, y1) x [x0, x1) that unit (y, x) of ``layer`` sees, clipped to the image:
    the receptive-field arithmetic (jump, size, start) walked layer by layer along the spec's chain."""
    from cnnkit.spec.parse import as_2d

    jump, size, start = [1, 1], [1, 1], [0.5, 0.5]  # start: the centre of output 0, in input pixel units
    for spec_layer in tm.model.spec.layers:
        la = as_2d(spec_layer)
        if la.type in ("conv", "maxpool", "avgpool", "subsample", "locally_connected", "tiled_conv"):
            a = la.args
            k, s = a["size"], a["stride"] or a["size"]
            p = a.get("pad", (0, 0))
            if isinstance(p, str):
                raise CnnkitError(f"--units: layer {la.name} pads by name ({p}); write its pad as a number")
            if a.get("global"):
                raise CnnkitError(f"--units: {la.name} pools the whole map; choose a layer before it")
            for d in (0, 1):
                start[d] += ((k[d] - 1) / 2 - p[d]) * jump[d]
                size[d] += (k[d] - 1) * jump[d]
                jump[d] *= s[d]
        elif la.type in ("inception", "residual", "conv_transpose", "upsample", "reshape", "fc", "flatten"):
            raise CnnkitError(f"--units follows a chain of conv and pooling layers; {la.name} is a {la.type}")
        if la.name == layer:
            break
    else:
        raise CnnkitError(f"--units: no layer {layer!r} in {tm.model.spec.name}")
    _, h, w = tm.input_shape
    cy, cx = start[0] + y * jump[0], start[1] + x * jump[1]
    y0, x0 = int(round(cy - size[0] / 2)), int(round(cx - size[1] / 2))
    return max(0, y0), max(0, x0), min(h, y0 + size[0]), min(w, x0 + size[1])


def units(run, layer: str, top: int = 9, filters: int = 8, out: str | Path = "units.png",
          limit: int = 5000) -> dict:
    """For the first ``filters`` maps of ``layer``: the ``top`` test-image patches (one per image) where the
    unit fires most, each cropped to the unit's receptive field (Zeiler & Fergus 2014, Fig. 2)."""
    from cnnkit.rundir import load_split

    tm = run if isinstance(run, TrainedModel) else load(run)
    layers = _layers(tm.model)
    if layer not in layers:
        raise CnnkitError(f"--units {layer!r} is not a layer of {tm.model.spec.name}; its layers: "
                          f"{', '.join(layers)}")
    _, images, _ = load_split(tm)
    images = images[:limit]
    store = {}
    hook = layers[layer].register_forward_hook(lambda m, i, o: store.__setitem__("a", o.detach()))
    acts = []
    with torch.no_grad():
        for i in range(0, len(images), 500):
            tm.model.eval()(tm.normalizer(images[i:i + 500]))
            acts.append(store["a"][:, :filters])
    hook.remove()
    a = torch.cat(acts)  # (N, F, H', W')
    if a.ndim != 4:
        raise CnnkitError(f"--units {layer}: its output has no spatial maps ({tuple(a.shape[1:])})")
    rows = []
    for f in range(a.shape[1]):
        best, where = a[:, f].flatten(1).max(1)  # each image's strongest position
        order = best.argsort(descending=True)[:top]
        patches = []
        for i in order.tolist():
            y, x = divmod(int(where[i]), a.shape[3])
            patches.append({"image": i, "y": y, "x": x, "activation": float(best[i]),
                            "box": list(receptive_box(tm, layer, y, x))})
        rows.append({"filter": f, "patches": patches})
    picture = _units_picture(images, rows, layer, Path(out))
    return {"layer": layer, "filters": rows, "out": str(picture)}


def _units_picture(images: torch.Tensor, rows: list[dict], layer: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max(len(r["patches"]) for r in rows)
    fig, axes = plt.subplots(len(rows), top, figsize=(top * 0.9, len(rows) * 0.95), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(top):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(row["patches"]):
                ax.axis("off")
                continue
            p = row["patches"][c]
            y0, x0, y1, x1 = p["box"]
            crop = images[p["image"], :, y0:y1, x0:x1].float().cpu() / 255  # (C, h, w) on [0, 1]
            ax.imshow((crop[0] if crop.shape[0] == 1 else crop.permute(1, 2, 0)).numpy(), cmap="gray", vmin=0, vmax=1)
            if c == 0:
                ax.set_ylabel(f"#{row['filter']}", fontsize=7)
    fig.suptitle(f"{layer}: the test patches each filter responds to most (receptive field crops)", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
