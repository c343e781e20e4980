"""Reports a person would rather look at than read: one self-contained HTML page per run.

The page embeds (as PNG data URIs, no network) the model summary, learning
curves, the confusion matrix, a gallery of misclassified test images, per-class
accuracy, the first layer's filters and every conv layer's feature maps for one
test image.  The same figures are written as PNGs beside it.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import torch

from cnnkit.errors import CnnkitError
from cnnkit.evaluate.metrics import classification_metrics
from cnnkit.evaluate.tta import predict_proba
from cnnkit.inspect import summarize
from cnnkit.layers.inference import predict_logits
from cnnkit.rundir import TrainedModel, load, load_split

SECTIONS = ("summary", "curves", "confusion", "misclassified", "per-class", "filters", "feature-maps")


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CnnkitError("reports need matplotlib: pip install 'cnnkit[report]'") from None
    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def read_history(run: Path) -> list[dict]:
    path = Path(run) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def learning_curves(histories: dict[str, list[dict]]) -> bytes:
    """Loss, top-1 error (train / validation / test) and LR per epoch, one line style per run."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    titles = ["training loss", "top1 error", "learning rate"]
    for i, (name, rows) in enumerate(histories.items()):
        color = f"C{i}"
        ep = [r["epoch"] for r in rows]
        label = f"{name} " if len(histories) > 1 else ""
        mark = "o" if len(rows) < 30 else None  # a run of one or a few epochs still shows
        axes[0].plot(ep, [r["train_loss"] for r in rows], color=color, marker=mark, label=f"{label}train loss")
        metric = _metric_of(rows)
        scale = 100 if metric.endswith("top1_error") else 1
        axes[1].plot(ep, [scale * r.get(f"train_{metric}", float("nan")) for r in rows], color=color, ls="--",
                     marker=mark, label=f"{label}train")
        for key, ls, what in ((f"val_{metric}", "-", "validation"), (f"test_{metric}", ":", "test")):
            if any(key in r for r in rows):
                axes[1].plot([r["epoch"] for r in rows if key in r], [scale * r[key] for r in rows if key in r],
                             color=color, ls=ls, label=f"{label}{what}")
        titles[1] = metric.replace("_", " ")
        axes[2].plot(ep, [r["lr"] for r in rows], color=color, marker=mark, label=name)
    for ax, title, ylabel in zip(axes, titles, ("loss", "%" if titles[1] == "top1 error" else titles[1], "LR")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # "30", not "3x10^1": a student reads these as percent
    for ax in axes[:2]:
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain if ax.get_ylim()[1] / max(ax.get_ylim()[0], 1e-12) < 20
                                     else FuncFormatter(lambda v, _: ""))
    last = max((r["epoch"] for rows in histories.values() for r in rows), default=1)
    for ax in axes:  # whole epochs, also for a run of one epoch
        ax.set_xlim(0.5, last + 0.5)
        if last <= 15:
            ax.set_xticks(range(1, last + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(fig)


def _metric_of(rows: list[dict]) -> str:
    """The per-epoch metric a run's history tracks: top1_error, mse, or a head's (digit_top1_error)."""
    for key in rows[0]:
        if key.startswith("train_") and key != "train_loss":
            return key[len("train_"):]
    return "top1_error"


def confusion_figure(cm: np.ndarray, classes: list[str]) -> bytes:
    plt = _plt()
    k = len(classes)
    size = min(14, 3 + 0.5 * k)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(cm, cmap="Blues")
    if k <= 30:
        ax.set_xticks(range(k), classes, rotation=90, fontsize=8)
        ax.set_yticks(range(k), classes, fontsize=8)
    if k <= 20:
        top = cm.max() or 1
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > top / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _png(fig)


def _show(ax, img: np.ndarray) -> None:
    """img: (C, H, W) uint8 or float in [0, 1]."""
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray", vmin=0, vmax=255 if img.dtype == np.uint8 else 1)
    else:
        ax.imshow(np.transpose(img[:3], (1, 2, 0)))
    ax.set_xticks([])
    ax.set_yticks([])


def _tile_grid(k: int, cols: int, cell: tuple[float, float]):
    """A figure of ceil(k / cols) x cols empty axes (the caller switches on the ones it uses)."""
    plt = _plt()
    cols = max(1, min(cols, k))
    rows = max(1, -(-k // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell[0], rows * cell[1]), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def gallery(images: torch.Tensor, labels, preds, conf, classes, limit: int = 40) -> bytes:
    """The misclassified test images with true and predicted labels and the prediction's confidence."""
    n = min(limit, len(images))
    fig, axes = _tile_grid(n, 10, (1.4, 1.7))
    for i in range(n):
        ax = axes.flat[i]
        ax.axis("on")
        _show(ax, images[i].numpy())
        ax.set_title(f"{classes[labels[i]]}→{classes[preds[i]]}\n{100 * conf[i]:.0f}%", fontsize=7)
    fig.suptitle(f"misclassified test images (true→predicted, confidence); {len(images)} in all", y=1.0,
                 va="bottom")
    return _png(fig)


def per_class_figure(per_class: dict) -> bytes:
    plt = _plt()
    names = list(per_class)
    values = [100 * (v or 0) for v in per_class.values()]
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(names)), 3.5))
    ax.bar(range(len(names)), values, color="C0")
    ax.set_xticks(range(len(names)), names, rotation=90 if len(names) > 12 else 0, fontsize=8)
    ax.set_ylim(max(0, min(values) - 5), 100)
    ax.set_ylabel("accuracy %")
    ax.set_title("per-class accuracy")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _first_weight(model) -> torch.Tensor | None:
    for m in model.features.modules():
        w = getattr(m, "weight", None)
        if isinstance(m, torch.nn.Conv2d):
            return w.detach()
        if w is not None and hasattr(m, "dense_weight"):
            return m.dense_weight().detach()
    return None


def filters_figure(model) -> bytes | None:
    w = _first_weight(model)
    if w is None:
        return None
    w = w.float().cpu()  # (K, C, F, F)
    k = w.shape[0]
    fig, axes = _tile_grid(k, 12, (1.0, 1.0))  # 100 px cells at 100 dpi: each filter tile is >= 64 px
    for i in range(k):
        f = w[i] if w.shape[1] in (1, 3) else w[i, :1]
        f = (f - f.min()) / (f.max() - f.min() + 1e-8)
        _show(axes.flat[i], f.numpy())
        axes.flat[i].axis("on")
        axes.flat[i].set_title(str(i + 1), fontsize=7)
    fig.suptitle(f"first-layer filters ({k} of {w.shape[2]}x{w.shape[3]})", y=1.0, va="bottom")
    return _png(fig)


@torch.inference_mode()
def feature_maps(tm: TrainedModel, image: torch.Tensor, limit: int = 32, caption: str = "input"
                 ) -> list[tuple[str, bytes]]:
    """Outputs of every conv-like layer of ``features`` for one uint8 image (C, H, W), the image beside them.

    A named layer's output is what its definition says (post-activation):
    hooks see it so, whatever order the network runs its layers in.
    """
    kinds = {layer.name: layer.type for layer in tm.model.spec.layers}
    captured: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: captured.__setitem__(n, o.detach()))
             for n, m in tm.model.features.named_children()
             if kinds.get(n) in ("conv", "locally_connected", "tiled_conv", "inception", "residual")]
    tm.model.eval()
    try:
        tm.model(tm.normalizer(image.unsqueeze(0).to(next(tm.model.parameters()).device)))
    finally:
        for h in hooks:
            h.remove()
    out = []
    for name, act in captured.items():
        maps = act[0].float().cpu()  # (K, H, W)
        k = min(limit, maps.shape[0])
        cols = min(16, k) + 1
        fig, axes = _tile_grid(-(-k // (cols - 1)) * cols, cols, (1.0, 1.0))
        first = axes.flat[0]
        first.axis("on")
        _show(first, image.cpu().numpy())
        first.set_title(caption, fontsize=7)
        slots = [ax for j, ax in enumerate(axes.flat) if j % cols != 0]  # column 0: the input, once
        for i in range(k):
            slots[i].imshow(maps[i].numpy(), cmap="viridis")
            slots[i].set_title(str(i + 1), fontsize=7)
        fig.suptitle(f"{name}: {k} of {maps.shape[0]} feature maps ({maps.shape[1]}x{maps.shape[2]}), "
                     f"after the layer's activation", y=1.0, va="bottom")
        out.append((name, _png(fig)))
    return out


def _task_section(tm: TrainedModel, task: str, images, labels, figures: list) -> tuple[list, list[str]]:
    """The figures and facts of the run's task: what its predictions look like, and its scores."""
    from cnnkit.evaluate.tasks import make_task, rotate

    notes: list[str] = []
    if task in ("classify", "rotation"):
        shown_images, targets, digits = images, labels, labels
        if task == "rotation":  # the test images as the pretext task saw them, seeded as in training's scoring
            g = torch.Generator().manual_seed(1234)
            targets = torch.randint(0, 4, (len(images),), generator=g)
            shown_images = rotate(images, targets)
        probs = predict_proba(tm.model, tm.normalizer, shown_images)
        m = classification_metrics(probs, targets, tm.classes)
        conf, pred = probs.max(1)
        wrong = (pred != targets).nonzero().flatten()
        wrong = wrong[conf[wrong].argsort(descending=True)]
        figures.append(("confusion", "confusion matrix",
                        confusion_figure(np.array(m["confusion_matrix"]), tm.classes)))
        if len(wrong):
            figures.append(("misclassified", "misclassified images",
                            gallery(shown_images[wrong], targets[wrong].tolist(), pred[wrong].tolist(),
                                    conf[wrong].tolist(), tm.classes)))
            cams = _gradcam_gallery(tm, shown_images[wrong[:8]], targets[wrong[:8]], pred[wrong[:8]])
            if cams is not None:
                figures.append(("misclassified", "where the network looked: Grad-CAM", cams))
        figures.append(("per-class", "per-class accuracy", per_class_figure(m["per_class_accuracy"])))
        facts = [("top-1 error", f"{100 * m['top1_error']:.2f}% ({m['errors']:,} misclassified)")]
        if len(tm.classes) > 5:
            facts.append(("top-5 error", f"{100 * m['top5_error']:.2f}%"))
        if task == "rotation":
            ds_classes = sorted({int(v) for v in digits.tolist()})
            ok = (pred == targets)
            by_class = {str(c): float(ok[digits == c].float().mean()) for c in ds_classes}
            figures.append(("per-class", "rotation accuracy by the image's own class", per_class_figure(by_class)))
            worst = sorted(by_class, key=by_class.get)[:3]
            notes.append(f"Rotation is ambiguous for some shapes: a 0, 1 or 8 looks alike upside down and a 6 "
                         f"turned 180 degrees is a 9, so part of this error cannot be learnt. Here the hardest "
                         f"classes are {', '.join(worst)} ({', '.join(f'{100 * by_class[c]:.0f}%' for c in worst)} "
                         f"of their rotations recognised).")
        return facts, notes
    out = predict_logits(tm.model, tm.normalizer, images).cpu()
    if task == "vae":  # reconstructions through the mean code, and samples from the prior
        from cnnkit.evaluate.generate import decode_images

        rec = out.sigmoid().reshape(images.shape)
        figures.append(("reconstructions", "inputs above their reconstructions",
                        _pairs(images[:10], rec[:10], "the first 10 test images, rebuilt from the mean code")))
        z = torch.randn(10, tm.model.latent_size(), generator=torch.Generator().manual_seed(0))
        samples = decode_images(tm, z)
        figures.append(("samples", "samples from the prior", _pairs(samples[:5], samples[5:],
                                                                     "10 decoded codes z ~ N(0, I), seed 0")))
        sc = make_task("vae").score(tm.model, tm.normalizer, images, labels)
        return [("test negative ELBO", f"{sc['nelbo']:.2f} nats per image (reconstruction {sc['recon']:.2f} + "
                                       f"KL {sc['kl']:.2f})")], notes
    if task == "reconstruct":
        rec = out.reshape(images.shape).clamp(0, 1)
        err = (rec - images.float() / 255).square().mean(dim=(1, 2, 3))
        figures.append(("reconstructions", "inputs above their reconstructions",
                        _pairs(images[:10], rec[:10], "the first 10 test images")))
        worst = err.argsort(descending=True)[:10]
        figures.append(("reconstructions", "the 10 worst reconstructed",
                        _pairs(images[worst], rec[worst], "the 10 test images rebuilt worst")))
        return [("test MSE per pixel", f"{float(err.mean()):.4f} (on the [0, 1] scale)")], notes
    if task == "regress":
        scorer = make_task("regress").load_state(tm.meta.get("task_state"))
        pred = scorer.values(out)
        y = labels.reshape(len(labels), -1).float()
        figures.append(("predictions", "predicted against true values", _scatter(pred, y, tm.classes)))
        sc = scorer.score_outputs(out, labels)
        return [("MAE", f"{sc['mae']:.4g}"), ("RMSE", f"{sc['rmse']:.4g}"), ("R²", f"{sc['r2']:.3f}")], notes
    return [], [f"task {task}: see summary.json for its test figures"]


def _gradcam_gallery(tm: TrainedModel, images, truth, pred) -> bytes | None:
    """Grad-CAM of the predicted class over each picture (the most confident mistakes); None without Captum
    or without a layer of spatial maps."""
    try:
        from cnnkit.evaluate.explain import attribution
    except ImportError:
        return None
    try:
        x = tm.normalizer(images).float()
        heats = [attribution(tm, x[i:i + 1], "gradcam", int(pred[i]))[0] for i in range(len(images))]
    except (ImportError, CnnkitError):
        return None
    plt = _plt()
    fig, axes = _tile_grid(len(images), min(8, len(images)), (1.4, 1.6))
    for ax, img, heat, t, p in zip(axes.flat, images, heats, truth.tolist(), pred.tolist()):
        ax.axis("on")
        _show(ax, img.cpu().numpy())
        ax.imshow(heat.cpu().numpy(), cmap="jet", alpha=0.45)
        ax.set_title(f"{tm.classes[t]} -> {tm.classes[p]}", fontsize=7)
    plt.tight_layout()
    return _png(fig)


def _text_section(tm: TrainedModel, texts: list[str] | None, ids: torch.Tensor, labels, figures: list,
                  limit: int = 30) -> tuple[list, list[str]]:
    """A text run: the confusion matrix and per-class accuracy as for images; instead of pictures, the most
    confidently misclassified sentences, and the n-grams that excite a sample of the first convolution's
    filters most (Kim-style interpretation).  Returns (facts, HTML parts)."""
    probs = predict_proba(tm.model, tm.normalizer, ids)
    m = classification_metrics(probs, labels, tm.classes)
    conf, pred = probs.max(1)
    figures.append(("confusion", "confusion matrix", confusion_figure(np.array(m["confusion_matrix"]), tm.classes)))
    figures.append(("per-class", "per-class accuracy", per_class_figure(m["per_class_accuracy"])))
    vocab = tm.vocabulary
    wrong = (pred != labels).nonzero().flatten()
    wrong = wrong[conf[wrong].argsort(descending=True)][:limit]
    rows = "".join(f"<tr><td>{html.escape(texts[i] if texts else vocab.decode(ids[i].flatten()))}</td>"
                   f"<td>{html.escape(tm.classes[int(labels[i])])}</td><td>{html.escape(tm.classes[int(pred[i])])}</td>"
                   f"<td>{100 * float(conf[i]):.1f}%</td></tr>" for i in wrong.tolist())
    parts = [f"<section id='misclassified'><h2>Misclassified sentences</h2><p class='k'>The {len(wrong)} most "
             f"confident mistakes of {m['errors']:,}.</p><table><tr><th>sentence</th><th>true</th><th>predicted</th>"
             f"<th>confidence</th></tr>{rows}</table></section>"]
    parts += _ngram_parts(tm, ids)
    return [("top-1 error", f"{100 * m['top1_error']:.2f}% ({m['errors']:,} misclassified)")], parts


def _gan_section(tm: TrainedModel, run: Path, figures: list) -> list:
    """A GAN: 20 pictures the generator draws from seeded codes; its test figures from summary.json."""
    from cnnkit.evaluate.generate import decode_images

    z = torch.randn(20, tm.input_shape[0], generator=torch.Generator().manual_seed(0))
    drawn = decode_images(tm, z)
    figures.append(("samples", "samples from the generator", _pairs(drawn[:10], drawn[10:],
                                                                    "20 codes z ~ N(0, I), seed 0")))
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
    if "test_d_loss" not in summary:
        return []
    return [("discriminator on the test set", f"loss {summary['test_d_loss']:.3f}; says real to "
                                              f"{100 * summary['test_d_real']:.1f}% of real images (mean probability) "
                                              f"and to {100 * summary['test_d_fake']:.1f}% of fakes")]


def _ngram_parts(tm: TrainedModel, ids: torch.Tensor, per_width: int = 4, top: int = 5) -> list[str]:
    """For the first filters of each convolution that reads the word vectors: the n-grams of the data that
    give each its highest activation (the window at the position where it peaks)."""
    convs = [(name, m) for name, m in tm.model.named_modules()
             if isinstance(m, torch.nn.Conv2d) and m.kernel_size[0] == 1 and m.in_channels == _embedding_width(tm)]
    if not convs:
        return []
    seen: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=name: seen.__setitem__(n, o.detach()))
             for name, m in convs]
    acts: dict[str, list[torch.Tensor]] = {name: [] for name, _ in convs}
    with torch.no_grad():
        for start in range(0, len(ids), 500):
            tm.model(tm.normalizer(ids[start:start + 500]))
            for name in acts:
                acts[name].append(seen[name][:, :per_width, 0, :])  # (n, filters, positions)
    for h in hooks:
        h.remove()
    vocab = tm.vocabulary
    rows = []
    for (name, m), chunks in zip(convs, acts.values()):
        a = torch.cat(chunks)  # (N, F, P)
        width = m.kernel_size[1]
        for f in range(a.shape[1]):
            flat = a[:, f, :].flatten()
            best = flat.topk(min(top * 4, len(flat))).indices
            grams = []
            for k in best.tolist():
                sample, pos = divmod(k, a.shape[2])
                words = [vocab.words[int(t)] for t in ids[sample].flatten()[pos:pos + width].tolist() if int(t)]
                gram = " ".join(words)
                if gram and gram not in grams:
                    grams.append(gram)
                if len(grams) == top:
                    break
            rows.append(f"<tr><td>{html.escape(name.removeprefix('features.'))} #{f}</td><td>{width}</td>"
                        f"<td>{html.escape(' | '.join(grams))}</td></tr>")
    return ["<section id='ngrams'><h2>What filters respond to</h2><p class='k'>For the first filters of each "
            "convolution over the word vectors: the n-grams of the test sentences where each reaches its highest "
            "activations (Kim 2014's reading of filters as n-gram detectors).</p><table><tr><th>filter</th>"
            f"<th>width</th><th>top n-grams</th></tr>{''.join(rows)}</table></section>"]


def _embedding_width(tm: TrainedModel) -> int:
    first = tm.model.spec.layers[0]
    return first["dim"] * int(first["channels"])


def _pairs(top, bottom, title: str) -> bytes:
    n = len(top)
    fig, axes = _tile_grid(2 * n, n, (1.0, 1.0))
    for i in range(n):
        for row, img in ((0, top[i].numpy()), (1, bottom[i].numpy())):
            ax = axes.flat[row * n + i]
            ax.axis("on")
            _show(ax, img)
    fig.suptitle(title, y=1.0, va="bottom")
    return _png(fig)


def _scatter(pred, y, names) -> bytes:
    plt = _plt()
    k = y.shape[1]
    fig, axes = plt.subplots(1, k, figsize=(4 * k, 4), squeeze=False)
    for j in range(k):
        ax = axes[0, j]
        ax.scatter(y[:, j].numpy(), pred[:, j].numpy(), s=4, alpha=0.5)
        lo, hi = float(y[:, j].min()), float(y[:, j].max())
        ax.plot([lo, hi], [lo, hi], color="C1", lw=1)
        ax.set_xlabel(f"true {names[j] if j < len(names) else j}")
        ax.set_ylabel("predicted")
        ax.grid(alpha=0.3)
    return _png(fig)


def _hyperparameters(run: Path) -> str:
    """The resolved training options, each with where its value came from (recipe, config file, flags)."""
    cfg_path = run / "config.json"
    if not cfg_path.exists():
        return ""
    cfg = json.loads(cfg_path.read_text())
    sources_path = run / "config_sources.json"
    sources = json.loads(sources_path.read_text()) if sources_path.exists() else {}
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td>"
                   f"<td>{html.escape(sources.get(k, 'not recorded'))}</td></tr>"
                   for k, v in cfg.items() if k not in ("out", "data_dir"))
    return ("<h3>Hyper-parameters</h3><table><tr><th>option</th><th>value</th><th>from</th></tr>"
            f"{rows}</table>")


def _summary_table(tm: TrainedModel) -> str:
    s = summarize(tm.model.spec)
    head = ["#", "name", "layer", "output", "params", "neurons", "connections", "MACs", "RF"]
    rows = []
    for i, layer in enumerate(s.layers, 1):
        rf = layer.receptive_field
        rows.append([i, layer.name, layer.description, "×".join(map(str, layer.output)), f"{layer.params:,}",
                     f"{layer.neurons:,}", f"{layer.connections:,}", f"{layer.macs:,}",
                     rf if isinstance(rf, int) else "×".join(map(str, rf))])
    t = s.totals
    rows.append(["", "total", "", "", f"{t['params']:,}", f"{t['neurons']:,}", f"{t['connections']:,}",
                 f"{t['macs']:,}", ""])
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{cells}</table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:nth-child(2),td:nth-child(3){text-align:left}img{max-width:100%;margin:0.5em 0}
section{margin-bottom:2em}h2{border-bottom:1px solid #ddd}.k{color:#666}"""


def write_report(run: str | Path, out: str | Path | None = None, *, dataset: str | None = None, data_dir=None,
                 image_index: int = 0, split: str = "test", image: str | Path | None = None) -> Path:
    """Write ``report.html`` (and PNGs in ``report/``) for a run directory; returns the HTML path.

    ``image``: a picture file of the user's whose feature maps are shown (converted as ``predict``
    converts it), in place of test image ``image_index``.
    """
    run = Path(run)
    tm = load(run)
    ds, images, labels = load_split(tm, dataset, split, data_dir)
    name = ds.name
    if not 0 <= image_index < len(images):
        raise CnnkitError(f"--image-index must be in 0..{len(images) - 1}, got {image_index}")
    task = tm.meta.get("task", "classify")
    figures: list[tuple[str, str, bytes]] = []  # (section, title, png)
    history = read_history(run)
    if history:
        figures.append(("curves", "learning curves", learning_curves({run.name: history})))
    metric = _metric_of(history) if history else "top1_error"
    measured = any(f"val_{metric}" in r or f"test_{metric}" in r for r in history)
    text_parts: list[str] = []
    if tm.vocabulary is not None:  # sentences: tables of words instead of pictures
        facts_task, text_parts = _text_section(tm, ds[split].texts, images, labels, figures)
        notes, about = [], ""
    elif task == "gan":  # what the generator draws; the curves show both networks' losses
        facts_task, notes, about = _gan_section(tm, run, figures), [], ""
    else:
        facts_task, notes = _task_section(tm, task, images, labels, figures)
        f = filters_figure(tm.model)
        if f is not None:
            figures.append(("filters", "first-layer filters", f))
    if tm.vocabulary is not None or task == "gan":
        pass
    elif image is not None:
        picture, infos = tm.load_pictures([image])
        shown, caption = picture[0], Path(image).name
        about = f"Feature maps are of {html.escape(str(image))}" + (
            f" ({'; '.join(infos[0]['notes'])})" if infos[0]["notes"] else "") + "."
    else:
        shown, caption = images[image_index], f"test image {image_index}"
        about = (f"Feature maps are of test image {image_index}; --image FILE shows your own picture.")
    if tm.vocabulary is None and task != "gan":
        for layer, png in feature_maps(tm, shown, caption=caption):
            figures.append(("feature-maps", f"feature maps of {layer}", png))

    html_path = Path(out) if out else run / "report.html"
    png_dir = html_path.parent / "report"
    png_dir.mkdir(parents=True, exist_ok=True)
    for old in png_dir.glob("[0-9][0-9]-*.png"):  # an earlier report's figures would mix with these
        old.unlink()
    for i, (section, title, png) in enumerate(figures):
        (png_dir / f"{i:02d}-{section}-{title.split()[-1]}.png").write_bytes(png)
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
    facts = [("model", tm.model.spec.name), ("task", task),
             ("dataset", f"{name} ({split}, {len(labels):,} {'sentences' if tm.vocabulary else 'images'})"),
             *facts_task]
    if "train_seconds" in summary:
        facts.append(("training", f"{summary.get('epochs')} epochs, {summary['train_seconds']:.1f} s"))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>cnnkit report: {html.escape(run.name)}"
             f"</title><style>{CSS}</style></head><body><h1>cnnkit report: {html.escape(run.name)}</h1>",
             "<section id='summary'><h2>Summary</h2><p>" +
             "<br>".join(f"<span class='k'>{k}:</span> {html.escape(str(v))}" for k, v in facts) + "</p>" +
             _summary_table(tm) + _hyperparameters(run) + "</section>"]
    current = None
    for section, title, png in figures:
        if section != current:
            if current is not None:
                parts.append("</section>")
            parts.append(f"<section id='{section}'><h2>{html.escape(title.capitalize())}</h2>")
            current = section
            if section == "curves" and not measured:
                parts.append("<p class='k'>This run measured only training figures per epoch. Train with "
                             "<code>--val-split 0.1</code> (a validation curve) or <code>--eval-test-every-epoch"
                             "</code> (a test curve) to see them beside the training curve.</p>")
        elif section == "feature-maps":
            parts.append(f"<h3>{html.escape(title)}</h3>")
        parts.append(_img(png, title))
    if current is not None:
        parts.append("</section>")
    parts += text_parts
    if about:
        parts.append(f"<p class='k'>{about}</p>")
    parts += [f"<p class='k'>{html.escape(n)}</p>" for n in notes]
    parts.append("</body></html>")
    html_path.write_text("".join(parts))
    return html_path


def first_reach(rows: list[dict], key: str, target: float) -> dict | None:
    """The first epoch (and cumulative seconds) at which ``key`` is at or below ``target``, or None."""
    seconds = 0.0
    for r in rows:
        seconds += r.get("seconds", 0.0)
        if key in r and r[key] <= target:
            return {"epoch": r["epoch"], "seconds": round(seconds, 3)}
    return None


def compare(runs, out: str | Path, reach: float | None = None, reach_metric: str = "train_top1_error"
            ) -> tuple[Path, list[dict]]:
    """Overlay the learning curves of several runs in one figure; return it and a table of final figures.

    With ``reach`` (a fraction, 0.25 for 25%), each row also holds the epoch
    and seconds at which ``reach_metric`` first got there: Krizhevsky et al.'s
    ReLU-vs-tanh figure is stated as epochs to 25% training error.
    """
    histories, table = {}, []
    for r in runs:
        p = Path(r)
        h = read_history(p)
        if not h:
            raise CnnkitError(f"{p} has no metrics.jsonl: is it a cnnkit run directory?")
        label = p.name
        while label in histories:
            label += "'"
        histories[label] = h
        s = json.loads((p / "summary.json").read_text()) if (p / "summary.json").exists() else {}
        row = {"run": str(p), "epochs": len(h), "final_train_loss": h[-1]["train_loss"],
               "final_val_top1_error": h[-1].get("val_top1_error"),
               "test_top1_error": s.get("test_top1_error"), "train_seconds": s.get("train_seconds")}
        if reach is not None:
            if not any(reach_metric in x for x in h):
                raise CnnkitError(f"{p} did not measure {reach_metric} (validation needs --val-split, test curves "
                                  f"--eval-test-every-epoch)")
            row["reach"] = {"metric": reach_metric, "target": reach, **(first_reach(h, reach_metric, reach) or
                                                                       {"epoch": None, "seconds": None})}
        table.append(row)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(learning_curves(histories))
    return out, table
