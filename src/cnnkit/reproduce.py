"""The lectures' claims as experiments (``cnnkit reproduce NAME``): run, measure, and say whether they hold.

Each claim is declared once (``@claim``) with its source, what the source says, and an experiment
scaled to a 2-core CPU (``--quick``: seconds, what the tests run).  An experiment trains ordinary run
directories (report, compare and resume work on them), averages its figures over seeds (mean and
standard deviation) and returns a verdict: ``holds``, ``does not hold at this scale`` or
``inconclusive`` (the difference is within the seeds' spread).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cnnkit.errors import CnnkitError

VERDICTS = ("holds", "does not hold at this scale", "inconclusive")


@dataclass(frozen=True)
class Claim:
    name: str
    source: str
    claimed: str
    scale: str  # how the experiment is scaled down, in words
    run: Callable[..., dict]


CLAIMS: dict[str, Claim] = {}


def claim(name: str, *, source: str, claimed: str, scale: str):
    def deco(fn):
        if name in CLAIMS:
            raise ValueError(f"claim {name!r} is already declared")
        CLAIMS[name] = Claim(name, source, claimed, scale, fn)
        return fn
    return deco


def _stats(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def _verdict(better: list[float], worse: list[float]) -> str:
    """``better`` should be lower than ``worse``; inconclusive when the gap is within the spread."""
    b, w = _stats(better), _stats(worse)
    spread = max(b["std"], w["std"])
    if b["mean"] < w["mean"] - spread:
        return "holds"
    if b["mean"] > w["mean"] + spread:
        return "does not hold at this scale"
    return "inconclusive"


def _spec_file(path: Path, spec: dict) -> Path:
    """The experiment's network as a spec file beside its runs (a run names its model by file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec))
    return path


def _train(out: Path, model: str, **options) -> dict:
    import cnnkit

    r = cnnkit.train(model, out=str(out), quiet=True, **options)
    return {"run": str(out), **{k: v for k, v in r.summary.items() if k.startswith(("test_", "params"))},
            "final_train_top1_error": r.history[-1]["train_top1_error"]}


@claim("cnn-vs-mlp", source="Dürr, 'Convolutional Neural Nets II, Hands On': the MLP 784-500-50-10 against LeNet-5",
       claimed="the CNN makes fewer test errors than the fully connected net while it has far fewer parameters "
               "(61,706 against 418,060)",
       scale="MNIST; quick: 5,000 training images, 2 epochs; full: the zoo recipes (15 and 12 epochs)")
def _cnn_vs_mlp(out: Path, seeds: int, quick: bool) -> dict:
    opts = {"dataset": "mnist", **({"limit_train": 5000, "epochs": 2} if quick else {})}
    runs = {m: [_train(out / f"{m}-seed{s}", m, seed=s, **opts) for s in range(seeds)] for m in ("mlp", "lenet5")}
    err = {m: [r["test_top1_error"] for r in rs] for m, rs in runs.items()}
    params = {m: rs[0]["params"] for m, rs in runs.items()}
    verdict = _verdict(err["lenet5"], err["mlp"]) if params["lenet5"] < params["mlp"] else "does not hold at this scale"
    return {"measured": {"test_top1_error": {m: _stats(v) for m, v in err.items()}, "params": params},
            "verdict": verdict, "runs": [r["run"] for rs in runs.values() for r in rs]}


@claim("dropout", source="Srivastava et al. 2014; the lecture notes' regularisation section",
       claimed="dropout (p = 0.5) reduces overfitting: a smaller gap between training and test error",
       scale="the MLP on few MNIST images so that it overfits; quick: 1,000 images, 15 epochs")
def _dropout(out: Path, seeds: int, quick: bool) -> dict:
    import cnnkit
    from cnnkit.data.tensors import sample_indices
    from cnnkit.layers.inference import predict_logits

    mnist = cnnkit.load_dataset("mnist")
    n, epochs = (1000, 15) if quick else (5000, 40)
    specs = {"plain": {"input": [1, 28, 28], "layers": ["FC-500", "FC-50", "FC-10"]},
             "dropout": {"input": [1, 28, 28], "layers": ["FC-500", "dropout0.5", "FC-50", "dropout0.5", "FC-10"]}}
    gaps, runs = {}, []
    for name, spec in specs.items():
        path = _spec_file(out / f"{name}.yaml", spec)
        gaps[name] = []
        for s in range(seeds):
            r = cnnkit.train(str(path), "mnist", out=str(out / f"{name}-seed{s}"), quiet=True, seed=s, limit_train=n,
                             limit_test=2000, epochs=epochs, lr=0.05, schedule="constant", augment="",
                             weight_decay=0.0)
            # the training error in eval mode (dropout off), on the very images it trained on: the running
            # error of the epoch is measured with dropout on and would flatter the dropout net
            tm = cnnkit.load(str(out / f"{name}-seed{s}"))
            picked = mnist["train"].subset(sample_indices(len(mnist["train"]), n))
            logits = predict_logits(tm.model, tm.normalizer, tm.prepare(picked.images))
            train_err = float((logits.argmax(1) != picked.labels).float().mean())
            gaps[name].append(r.summary["test_top1_error"] - train_err)
            runs.append(str(out / f"{name}-seed{s}"))
    return {"measured": {"test_minus_train_error": {k: _stats(v) for k, v in gaps.items()}},
            "verdict": _verdict(gaps["dropout"], gaps["plain"]), "runs": runs}


@claim("batch-norm", source="Ioffe & Szegedy 2015; the lecture notes' batch normalisation",
       claimed="a network with batch norm trains at learning rates where the same network without it diverges",
       scale="a 3-conv net on MNIST at a high learning rate; quick: 3,000 images, 2 epochs")
def _batch_norm(out: Path, seeds: int, quick: bool) -> dict:
    import cnnkit

    n, epochs, lr = (3000, 2, 2.0) if quick else (20000, 5, 2.0)
    results, runs = {}, []
    for bn in (False, True):
        conv = {"type": "conv", "size": 3, "pad": 1, "activation": "relu", "batchnorm": bn}
        spec = {"input": [1, 28, 28], "layers": [dict(conv, filters=16), "maxpool", dict(conv, filters=32), "maxpool",
                                                 dict(conv, filters=32), "gap", "FC-10"]}
        name = "bn" if bn else "plain"
        path = _spec_file(out / f"{name}.yaml", spec)
        results[name] = []
        for s in range(seeds):
            try:
                r = cnnkit.train(str(path), "mnist", out=str(out / f"{name}-seed{s}"), quiet=True, seed=s,
                                 limit_train=n, limit_test=1000, epochs=epochs, lr=lr, schedule="constant",
                                 momentum=0.9, augment="")
                results[name].append(r.summary["test_top1_error"])
            except CnnkitError:  # the loss became NaN: diverged (counted as chance-level error or worse)
                results[name].append(1.0)
            runs.append(str(out / f"{name}-seed{s}"))
    return {"measured": {"learning_rate": lr, "test_top1_error": {k: _stats(v) for k, v in results.items()},
                         "failed_to_train": {k: sum(v >= 0.8 for v in vals) for k, vals in results.items()}},
            "verdict": _verdict(results["bn"], results["plain"]), "runs": runs}


@claim("initialisation", source="the lecture notes on weight initialisation (CS231n; He et al. 2015)",
       claimed="all-zero weights never break symmetry; too-small random weights (std 0.01) make a deep plain "
               "network's activations vanish layer by layer; He initialisation trains it",
       scale="an 8-layer ReLU MLP (256 units) on MNIST; quick: 2,000 images, 3 epochs; full: 20,000, 5 epochs")
def _initialisation(out: Path, seeds: int, quick: bool) -> dict:
    import torch

    import cnnkit

    n, epochs = (2000, 3) if quick else (20000, 5)
    spec = {"input": [1, 28, 28], "layers": ["FC-256"] * 8 + ["FC-10"]}
    path = _spec_file(out / "deep-mlp.yaml", spec)
    images = cnnkit.load_dataset("mnist")["test"].images[:500]
    errors, act_std, runs = {}, {}, []
    symmetric = []
    for init in ("zeros", "small", "he"):
        errors[init] = []
        # the activations' spread layer by layer, at initialisation (the notes' histograms, as numbers)
        net = cnnkit.build(spec)
        from cnnkit.layers.init import initialize

        torch.manual_seed(0)
        initialize(net, init)
        stds = []
        hooks = [m.register_forward_hook(lambda mod, i, o, stds=stds: stds.append(float(o.std())))
                 for name, m in net.classifier.named_children() if name != list(net.classifier._modules)[-1]]
        with torch.no_grad():
            net(images.float() / 255)
        for h in hooks:
            h.remove()
        act_std[init] = [round(v, 6) for v in stds]
        for s in range(seeds):
            run = out / f"{init}-seed{s}"
            r = cnnkit.train(str(path), "mnist", out=str(run), quiet=True, seed=s, init=init, limit_train=n,
                             limit_test=2000, epochs=epochs, lr=0.05, schedule="constant", augment="")
            errors[init].append(r.summary["test_top1_error"])
            runs.append(str(run))
            if init == "zeros":  # every hidden unit of a layer still has the same incoming weights
                w = cnnkit.load(str(run)).model.classifier.fc2.fc.weight
                symmetric.append(bool((w - w[0]).abs().max() < 1e-6))
    small = act_std["small"]
    vanished = small[-1] < 0.01 * small[0]
    he_best = _verdict(errors["he"], errors["small"]) == "holds" and _verdict(errors["he"], errors["zeros"]) == "holds"
    parts_hold = [all(symmetric), vanished, he_best]
    verdict = "holds" if all(parts_hold) else ("inconclusive" if any(parts_hold) else "does not hold at this scale")
    return {"measured": {"zeros_symmetric_after_training": all(symmetric),
                         "activation_std_by_layer_at_init": act_std, "small_activations_vanish": vanished,
                         "test_top1_error": {k: _stats(v) for k, v in errors.items()}},
            "verdict": verdict, "runs": runs}


@claim("optimizers", source="the lecture notes' parameter updates (SGD, momentum, Nesterov, AdaGrad, RMSprop, Adam)",
       claimed="with the same network and budget, momentum and the adaptive methods reach a lower training loss "
               "than plain SGD; their paths on a 2-D function show why",
       scale="LeNet-5 on MNIST at each optimizer's usual learning rate; quick: 3,000 images, 2 epochs; "
             "full: 20,000 images, 5 epochs")
def _optimizers(out: Path, seeds: int, quick: bool) -> dict:
    import cnnkit

    n, epochs = (3000, 2) if quick else (20000, 5)
    settings = {"sgd": dict(optimizer="sgd", lr=0.01, momentum=0.0),
                "momentum": dict(optimizer="sgd", lr=0.01, momentum=0.9),
                "nesterov": dict(optimizer="sgd", lr=0.01, momentum=0.9, nesterov=True),
                "adagrad": dict(optimizer="adagrad", lr=0.01, momentum=0.0),
                "rmsprop": dict(optimizer="rmsprop", lr=0.001, momentum=0.0),
                "adam": dict(optimizer="adam", lr=0.001)}
    loss, curves, runs = {}, {}, []
    for name, opts in settings.items():
        loss[name] = []
        for s in range(seeds):
            run = out / f"{name}-seed{s}"
            r = cnnkit.train("lenet5", "mnist", out=str(run), quiet=True, seed=s, limit_train=n, limit_test=1000,
                             epochs=epochs, schedule="constant", augment="", **{"nesterov": False, **opts})
            loss[name].append(r.history[-1]["train_loss"])
            curves.setdefault(name, [h["train_loss"] for h in r.history])
            runs.append(str(run))
    each = {k: _verdict(v, loss["sgd"]) for k, v in loss.items() if k != "sgd"}  # every method against plain SGD
    verdict = ("holds" if all(v == "holds" for v in each.values()) else
               "does not hold at this scale" if any(v == "does not hold at this scale" for v in each.values())
               else "inconclusive")
    picture = out / "paths.png"
    _paths_picture(picture)
    return {"measured": {"final_train_loss": {k: _stats(v) for k, v in loss.items()}, "against_sgd": each,
                         "loss_curves": curves,
                         "paths_picture": str(picture)},
            "verdict": verdict, "runs": runs}


def _paths_picture(path: Path) -> None:
    """Each optimizer's path on f(x, y) = 0.1 x^2 + 2 y^2 from (-4, 2), 60 steps: the hands-on deck's picture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    fig, ax = plt.subplots(figsize=(7, 4))
    xs, ys = torch.meshgrid(torch.linspace(-4.5, 1, 200), torch.linspace(-2.5, 2.5, 200), indexing="xy")
    ax.contour(xs, ys, 0.1 * xs ** 2 + 2 * ys ** 2, levels=20, cmap="Greys", linewidths=0.5)
    makers = {"sgd": lambda p: torch.optim.SGD(p, lr=0.4),
              "momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8),
              "nesterov": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, nesterov=True),
              "adagrad": lambda p: torch.optim.Adagrad(p, lr=1.0),
              "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.1),
              "adam": lambda p: torch.optim.Adam(p, lr=0.3)}
    for name, make in makers.items():
        point = torch.tensor([-4.0, 2.0], requires_grad=True)
        opt = make([point])
        trace = [point.detach().clone()]
        for _ in range(60):
            opt.zero_grad()
            (0.1 * point[0] ** 2 + 2 * point[1] ** 2).backward()
            opt.step()
            trace.append(point.detach().clone())
        t = torch.stack(trace)
        ax.plot(t[:, 0], t[:, 1], marker=".", ms=3, lw=1, label=name)
    ax.plot([0], [0], "k*", ms=10)
    ax.legend(fontsize=8)
    ax.set_title("60 steps on f(x, y) = 0.1x² + 2y² from (-4, 2)")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


@claim("relu-vs-tanh", source="Krizhevsky, Sutskever & Hinton 2012, Fig. 1",
       claimed="a 4-layer CNN with ReLUs reaches 25% training error on CIFAR-10 six times faster than an "
               "equivalent network with tanh neurons (no regularisation; each network's learning rate chosen to "
               "train as fast as possible)",
       scale="cifar10-net (3 conv + fc) with relu or tanh, plain SGD, no weight decay, augmentation or dropout, "
             "the learning rate picked from a sweep; quick: 5,000 images, 4 epochs, target 75% training error; "
             "full (about 40 minutes): 20,000 images, 20 epochs, target 25%; the full run also shows momentum, "
             "input standardisation and He initialisation")
def _relu_vs_tanh(out: Path, seeds: int, quick: bool) -> dict:
    import cnnkit
    from cnnkit.evaluate.report import first_reach
    from cnnkit.spec import spec_to_data

    n, epochs, target, lrs = (5000, 4, 0.75, (0.05, 0.1)) if quick else (20000, 20, 0.25, (0.01, 0.03, 0.1))
    base = spec_to_data(cnnkit.resolve_spec("cifar10-net"))
    variants = {"plain SGD, raw inputs": dict(momentum=0.0, preprocess="none", init="default")}
    if not quick:
        variants.update({"+ momentum 0.9": dict(momentum=0.9, preprocess="none", init="default"),
                         "+ standardised inputs": dict(momentum=0.0, preprocess="standardize", init="default"),
                         "+ He initialisation": dict(momentum=0.0, preprocess="none", init="he")})
    measured, runs, ratios = {"target_train_error": target, "epochs": epochs, "variants": {}}, [], {}
    for vname, options in variants.items():
        row = {}
        for act in ("relu", "tanh"):
            spec = {**base, "name": f"cifar10-net-{act}",
                    "layers": [{**layer, "activation": {"type": act}} if layer.get("activation") else layer
                               for layer in base["layers"]]}
            path = _spec_file(out / f"{act}.yaml", spec)
            sweep = {}
            for lr in lrs:  # the learning rate that reaches the target in the fewest epochs (seed 0)
                tag = f"{vname.split()[0].strip('+')}-{act}-lr{lr:g}".replace(" ", "")
                r = cnnkit.train(str(path), "cifar10", out=str(out / tag / "seed0"), quiet=True, lr=lr, epochs=epochs,
                                 limit_train=n, limit_test=1000, weight_decay=0.0, augment="", schedule="constant",
                                 **options)
                reach = first_reach(r.history, "train_top1_error", target)
                sweep[lr] = reach["epoch"] if reach else epochs + 1
                runs.append(str(out / tag / "seed0"))
            best = min(sweep, key=lambda lr: (sweep[lr], -lr))
            reached = [sweep[best]]
            for s in range(1, seeds):
                tag = f"{vname.split()[0].strip('+')}-{act}-lr{best:g}".replace(" ", "")
                r = cnnkit.train(str(path), "cifar10", out=str(out / tag / f"seed{s}"), quiet=True, lr=best, seed=s,
                                 epochs=epochs, limit_train=n, limit_test=1000, weight_decay=0.0, augment="",
                                 schedule="constant", **options)
                reach = first_reach(r.history, "train_top1_error", target)
                reached.append(reach["epoch"] if reach else epochs + 1)
                runs.append(str(out / tag / f"seed{s}"))
            row[act] = {"learning_rate": best, "sweep_epochs_to_target": {f"{k:g}": v for k, v in sweep.items()},
                        "epochs_to_target": _stats([float(e) for e in reached]),
                        "never_reached": sum(e > epochs for e in reached)}
        ratio = row["tanh"]["epochs_to_target"]["mean"] / row["relu"]["epochs_to_target"]["mean"]
        row["tanh_over_relu"] = round(ratio, 2)
        measured["variants"][vname] = row
        ratios[vname] = ratio
    first_name, first = next(iter(ratios.items()))
    plain = measured["variants"][first_name]
    if plain["relu"]["never_reached"]:  # no time to the target was measured for relu: no ratio either
        verdict = "inconclusive"
    else:  # a tanh net that never reached the target makes the ratio a lower bound, which still counts
        verdict = "holds" if first >= 5 else "does not hold at this scale" if first < 2 else "inconclusive"
    measured["note"] = ("an epoch count above the budget means the target was never reached (a lower bound); "
                        "ratios are epochs-to-target of tanh over relu")
    return {"measured": measured, "verdict": verdict, "runs": runs}


@claim("ensembles", source="Krizhevsky et al. 2012: averaging 5 CNNs took top-1 error from 18.2% to 16.4%",
       claimed="averaging the predictions of several separately trained networks lowers the error, more members "
               "lowering it further",
       scale="LeNet-5 on Fashion-MNIST; quick: 3 members on 5,000 images, 3 epochs; full: 5 members, 20,000 "
             "images, 5 epochs")
def _ensembles(out: Path, seeds: int, quick: bool) -> dict:
    import cnnkit
    from cnnkit.evaluate.ensemble import ensemble

    k, n, epochs = (3, 5000, 3) if quick else (5, 20000, 5)
    curves, member_errors, runs = [], [], []
    for s in range(seeds):
        run = out / f"ensemble-seed{s}"
        cnnkit.train("lenet5", "fashion-mnist", out=str(run), quiet=True, seed=100 * s, ensemble=k, limit_train=n,
                     limit_test=2000, epochs=epochs, augment="")
        members = sorted(run.glob("member-*"))
        curve = [ensemble(members[:size])["ensemble"]["top1_error"] for size in range(1, k + 1)]
        curves.append(curve)
        member_errors.append(ensemble(members)["mean_member_top1_error"])
        runs += [str(m) for m in members]
    full = [c[-1] for c in curves]
    return {"measured": {"members": k, "error_by_ensemble_size": {str(i + 1): _stats([c[i] for c in curves])
                                                                  for i in range(k)},
                         "mean_member_top1_error": _stats(member_errors)},
            "verdict": _verdict(full, member_errors), "runs": runs}


@claim("augmentation", source="the lecture notes' data augmentation (LeCun 1998; AlexNet's crops and flips)",
       claimed="training on augmented images (here small translations) lowers the test error",
       scale="LeNet-5 on MNIST; quick: 3,000 images, 4 epochs; full: 10,000 images, 12 epochs")
def _augmentation(out: Path, seeds: int, quick: bool) -> dict:
    import cnnkit

    n, epochs = (3000, 4) if quick else (10000, 12)
    errors, runs = {}, []
    for name, augment in (("none", ""), ("translate", "translate")):
        errors[name] = []
        for s in range(seeds):
            run = out / f"{name}-seed{s}"
            r = cnnkit.train("lenet5", "mnist", out=str(run), quiet=True, seed=s, augment=augment, limit_train=n,
                             epochs=epochs)
            errors[name].append(r.summary["test_top1_error"])
            runs.append(str(run))
    return {"measured": {"test_top1_error": {k: _stats(v) for k, v in errors.items()}},
            "verdict": _verdict(errors["translate"], errors["none"]), "runs": runs}


@claim("tta", source="the lecture notes' test-time augmentation (AlexNet: ten patches, their softmax averaged)",
       claimed="averaging the softmax over transformed copies of each test image lowers the test error",
       scale="LeNet-5 on Fashion-MNIST (mirror-safe classes), flip + translate at test time; quick: 5,000 images, "
             "3 epochs; full: 60,000 images, 12 epochs")
def _tta(out: Path, seeds: int, quick: bool) -> dict:
    import cnnkit

    n, epochs = (5000, 3) if quick else (0, 12)
    plain, tta, runs = [], [], []
    for s in range(seeds):
        run = out / f"lenet5-seed{s}"
        r = cnnkit.train("lenet5", "fashion-mnist", out=str(run), quiet=True, seed=s, augment="translate,flip",
                         limit_train=n, epochs=epochs, tta="flip,translate")
        plain.append(r.summary["test_top1_error"])
        tta.append(r.summary["test_top1_error_tta"])
        runs.append(str(run))
    return {"measured": {"test_top1_error": _stats(plain), "test_top1_error_with_tta": _stats(tta)},
            "verdict": _verdict(tta, plain), "runs": runs}


@claim("lenet5-1998", source="LeCun, Bottou, Bengio & Haffner 1998, section III.C and Fig. 2",
       claimed="LeNet-5 misclassified 82 of the 10,000 MNIST test digits (0.82%) when trained on distorted "
               "images, 0.95% without distortions (stochastic diagonal Levenberg-Marquardt, 20 passes)",
       scale="the published network (lenet5-1998) with the published training (recipe lecun1998: SDLM, the "
             "paper's rates and init, 20 passes; batches of 16 instead of single patterns), with and without "
             "the distortions, beside the modern lenet5 recipe; quick: 5,000 images, 2 passes; full: all 60,000 "
             "(about 4 minutes a run)")
def _lenet5_1998(out: Path, seeds: int, quick: bool) -> dict:
    import cnnkit

    opts = {"limit_train": 5000, "epochs": 2} if quick else {}
    arms = {"published, no distortions": ("lenet5-1998", {"recipe": "lecun1998", "augment": ""}),
            "published, distortions": ("lenet5-1998", {"recipe": "lecun1998", "augment": "distort"}),
            "modern lenet5 recipe": ("lenet5", {})}
    claimed = {"published, no distortions": 0.0095, "published, distortions": 0.0082}
    run_names = {"published, no distortions": "published", "published, distortions": "published-distorted",
                 "modern lenet5 recipe": "modern-lenet5"}
    errors, runs = {}, []
    for arm, (model, options) in arms.items():
        errors[arm] = []
        for s in range(seeds):
            run = out / f"{run_names[arm]}-seed{s}"
            r = cnnkit.train(model, "mnist", out=str(run), quiet=True, seed=s, **options, **opts)
            errors[arm].append(r.summary["test_top1_error"])
            runs.append(str(run))
    verdicts = {}
    for arm, target in claimed.items():  # within the seeds' spread, or 10 test digits, of the paper's figure
        m = _stats(errors[arm])
        verdicts[arm] = "holds" if m["mean"] <= target + max(2 * m["std"], 0.001) else "does not hold at this scale"
    verdict = ("holds" if all(v == "holds" for v in verdicts.values()) else
               "does not hold at this scale" if all(v != "holds" for v in verdicts.values()) else "inconclusive")
    return {"measured": {"test_top1_error": {k: _stats(v) for k, v in errors.items()},
                         "test_errors_of_10000": {k: round(statistics.fmean(v) * 10000, 1)
                                                  for k, v in errors.items()},
                         "claimed_test_top1_error": claimed, "against_the_paper": verdicts},
            "verdict": verdict, "runs": runs}


def _cifar_variants(out: Path, specs: dict[str, dict], seeds: int, n: int, epochs: int, limit_test: int,
                    **options) -> tuple[dict, list]:
    """Train each spec on CIFAR-10 with ``seeds`` seeds; returns ({name: {top1: [...], top5: [...]}}, runs)."""
    import cnnkit

    errors, runs = {}, []
    for name, spec in specs.items():
        path = _spec_file(out / f"{name}.yaml", spec)
        errors[name] = {"top1": [], "top5": []}
        for s in range(seeds):
            run = out / f"{name}-seed{s}"
            r = cnnkit.train(str(path), "cifar10", out=str(run), quiet=True, seed=s, limit_train=n, epochs=epochs,
                             limit_test=limit_test, **options)
            errors[name]["top1"].append(r.summary["test_top1_error"])
            errors[name]["top5"].append(r.summary["test_top5_error"])
            runs.append(str(run))
    return errors, runs


def _alexnet_style(pool: dict, lrn: bool) -> dict:
    """cifar10-net's three conv groups with AlexNet's habits: ReLU, then LRN (optional), then pooling."""
    layers = []
    for i, filters in enumerate((32, 32, 64)):
        layers.append({"type": "conv", "filters": filters, "size": 5, "pad": 2, "activation": "relu"})
        if lrn and i < 2:  # AlexNet normalises after its first two convolutions
            layers.append({"type": "lrn", "size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0})
        layers.append(dict(pool))
    return {"input": [3, 32, 32], "layers": [*layers, {"type": "fc", "units": 10}, {"type": "softmax"}]}


_CIFAR_RECIPE = dict(lr=0.05, momentum=0.9, weight_decay=5e-4, schedule="onecycle", augment="flip",
                     preprocess="standardize")


@claim("overlapping-pooling", source="Krizhevsky et al. 2012, section 3.4",
       claimed="pooling with overlap (3x3 windows, stride 2) lowers the error against non-overlapping 2x2 "
               "stride 2 pooling (AlexNet: -0.4% top-1, -0.3% top-5) and makes overfitting slightly harder",
       scale="a 3-conv AlexNet-style net (32-32-64 filters, ReLU) on CIFAR-10, the two poolings; quick: 3,000 "
             "images, 3 epochs; full: 20,000 images, 10 epochs")
def _overlapping_pooling(out: Path, seeds: int, quick: bool) -> dict:
    n, epochs = (3000, 3) if quick else (20000, 10)
    specs = {"pool3s2": _alexnet_style({"type": "maxpool", "size": 3, "stride": 2, "floor": True}, lrn=False),
             "pool2s2": _alexnet_style({"type": "maxpool", "size": 2, "stride": 2}, lrn=False)}
    errors, runs = _cifar_variants(out, specs, seeds, n, epochs, 2000 if quick else 0, **_CIFAR_RECIPE)
    return {"measured": {"test_top1_error": {k: _stats(v["top1"]) for k, v in errors.items()},
                         "test_top5_error": {k: _stats(v["top5"]) for k, v in errors.items()},
                         "top1_difference": statistics.fmean(errors["pool3s2"]["top1"])
                         - statistics.fmean(errors["pool2s2"]["top1"])},
            "verdict": _verdict(errors["pool3s2"]["top1"], errors["pool2s2"]["top1"]), "runs": runs}


@claim("lrn", source="Krizhevsky et al. 2012, section 3.3 (LRN: -1.4% top-1); Simonyan & Zisserman 2014, "
       "Table 3 (A-LRN is no better than A)",
       claimed="AlexNet: local response normalisation lowers the error; VGG: on a deeper net it does not help, "
               "and costs memory and time",
       scale="both sides on CIFAR-10: the AlexNet side a 3-conv net (5x5, ReLU, LRN after conv1 and conv2, "
             "overlapping pooling), the VGG side a 3x3-conv stack (A's pattern, LRN after the first layer only); "
             "quick: 2,000 images, 2 epochs; full: 20,000 images, 10 epochs. The verdict is AlexNet's claim; "
             "VGG's side holds unless LRN clearly helps there")
def _lrn(out: Path, seeds: int, quick: bool) -> dict:
    n, epochs = (2000, 2) if quick else (20000, 10)
    pool = {"type": "maxpool", "size": 3, "stride": 2, "floor": True}

    def vgg_style(lrn: bool) -> dict:
        layers = ["conv3-32", *(["LRN"] if lrn else []), "maxpool", "conv3-64", "maxpool", "conv3-64",
                  "conv3-64", "maxpool"]
        return {"input": [3, 32, 32], "layers": [*layers, "FC-256", "dropout", "FC-10", "softmax"]}

    specs = {"alexnet-lrn": _alexnet_style(pool, lrn=True), "alexnet-plain": _alexnet_style(pool, lrn=False),
             "vgg-a-lrn": vgg_style(True), "vgg-a": vgg_style(False)}
    errors, runs = _cifar_variants(out, specs, seeds, n, epochs, 2000 if quick else 0, **_CIFAR_RECIPE)
    alexnet = _verdict(errors["alexnet-lrn"]["top1"], errors["alexnet-plain"]["top1"])
    vgg_helps = _verdict(errors["vgg-a-lrn"]["top1"], errors["vgg-a"]["top1"])
    vgg = "does not hold at this scale" if vgg_helps == "holds" else "holds"
    return {"measured": {"test_top1_error": {k: _stats(v["top1"]) for k, v in errors.items()},
                         "alexnet_claim_lrn_lowers_error": alexnet, "vgg_claim_lrn_does_not_help": vgg},
            "verdict": alexnet, "runs": runs}


@claim("transfer", source="the lecture notes' transfer learning (Yosinski et al. 2014; CS231n 'Transfer Learning')",
       claimed="with few labels, reusing a trained network's features (a softmax/SVM on top) or fine-tuning it "
               "beats training the same network from scratch; the gap closes as labels grow",
       scale="LeNet-5 trained on MNIST digits 0-4 is reused for digits 5-9 with 10, 100 and 1,000 labels per "
             "class: softmax on its penultimate features, fine-tuning (new head, then the top layers), and "
             "training from scratch with the same number of steps; quick: source on 5,000 images, 2 epochs, 10 "
             "and 100 labels per class, 60 steps; full: the whole source split, 6 epochs, 500 steps")
def _transfer(out: Path, seeds: int, quick: bool) -> dict:
    import cnnkit
    from cnnkit.data import Dataset
    from cnnkit.transfer import finetune, transfer_classify

    mnist = cnnkit.load_dataset("mnist")
    source = Dataset("mnist-0-4", {s: mnist[s].select_classes([0, 1, 2, 3, 4]) for s in ("train", "test")},
                     [str(d) for d in range(5)], digits=True, mirror_safe=False)
    sizes, steps = ((10, 100), 60) if quick else ((10, 100, 1000), 500)
    target_test = mnist["test"].select_classes([5, 6, 7, 8, 9])
    if quick:
        target_test = target_test.subset(range(0, len(target_test), 5))
    errors = {m: {k: [] for k in sizes} for m in ("scratch", "features", "finetune")}
    runs = []
    for s in range(seeds):
        src_run = out / f"source-seed{s}"
        cnnkit.train("lenet5", data=source, out=str(src_run), quiet=True, seed=s, epochs=2 if quick else 6,
                     limit_train=5000 if quick else 0)
        runs.append(str(src_run))
        tm = cnnkit.load(str(src_run))
        for k in sizes:
            train = mnist["train"].select_classes([5, 6, 7, 8, 9], per_class=k, seed=s)
            target = Dataset(f"mnist-5-9-{k}", {"train": train, "test": target_test}, [str(d) for d in range(5, 10)],
                             digits=True, mirror_safe=False)
            # the same number of optimizer steps for every method that trains a network
            batch = min(64, 5 * k)
            epochs = max(2, math.ceil(steps * batch / (5 * k)))
            r = cnnkit.train("lenet5", data=target, out=str(out / f"scratch-{k}-seed{s}"), quiet=True, seed=s,
                             epochs=epochs, batch_size=batch)
            errors["scratch"][k].append(r.summary["test_top1_error"])
            runs.append(str(out / f"scratch-{k}-seed{s}"))
            feats = transfer_classify(tm, train.images, train.labels, target_test.images, target_test.labels,
                                      classifier="logreg")
            errors["features"][k].append(feats["top1_error"])
            third = max(1, epochs // 3)
            ft = finetune(str(src_run), target, stages=f"head:{third}:0.05,top2:{epochs - third}:0.01",
                          out=str(out / f"finetune-{k}-seed{s}"), quiet=True, seed=s, batch_size=batch)
            errors["finetune"][k].append(ft["test_top1_error"])
            runs.append(str(out / f"finetune-{k}-seed{s}"))
    few = sizes[0]
    best = min(("features", "finetune"), key=lambda m: statistics.fmean(errors[m][few]))
    return {"measured": {"labels_per_class": list(sizes),
                         "test_top1_error": {m: {str(k): _stats(v) for k, v in per.items()}
                                             for m, per in errors.items()},
                         "best_transfer_at_fewest_labels": best},
            "verdict": _verdict(errors[best][few], errors["scratch"][few]), "runs": runs}



@claim("kim-cnn", source="Kim 2014, 'Convolutional Neural Networks for Sentence Classification', Table 2",
       claimed="CNN-rand (word vectors learnt from scratch) classifies MR's movie-review sentences with 76.1% "
               "accuracy (10-fold cross-validation)",
       scale="the zoo's kim-cnn with its recipe (Kim's architecture, Adadelta, dropout 0.5, max-norm 3; 12 epochs "
             "instead of 25 with early stopping); quick: a 2-fold split of 1,000 sentences, 2 epochs; full: 10-fold "
             "cross-validation on all 10,662 (about 25 minutes)")
def _kim_cnn(out: Path, seeds: int, quick: bool) -> dict:
    import cnnkit

    accuracy, runs = [], []
    for s in range(seeds):
        run = out / f"kim-cnn-seed{s}"
        opts = {"folds": 2, "limit_train": 1000, "epochs": 2} if quick else {"folds": 10}
        r = cnnkit.train("kim-cnn", "mr", out=str(run), quiet=True, seed=s, **opts)
        accuracy.append(1 - r.summary["cv_top1_error_mean"])
        runs += [str(run / f"fold-{k:02d}") for k in range(1, opts["folds"] + 1)]
    m = _stats(accuracy)
    spread = max(m["std"], 0.005)  # a fold-averaged accuracy still moves by about half a point between seeds
    verdict = ("holds" if m["mean"] >= 0.761 - spread else
               "does not hold at this scale" if m["mean"] < 0.761 - 2 * spread else "inconclusive")
    return {"measured": {"cv_accuracy": m, "claimed_accuracy": 0.761, "folds": 2 if quick else 10},
            "verdict": verdict, "runs": runs}


def reproduce(name: str, seeds: int = 3, quick: bool = False, out: str | Path | None = None) -> dict:
    """Run claim ``name``; returns ``{"claim", "source", "claimed", "measured", "verdict", "seeds", "runs"}``."""
    from cnnkit.spec.schema import suggest

    if name not in CLAIMS:
        raise CnnkitError(f"unknown claim {name!r}{suggest(name, CLAIMS)}; claims: {', '.join(CLAIMS)} "
                          f"(see 'cnnkit reproduce list')")
    if seeds < 1:
        raise CnnkitError("--seeds must be at least 1")
    c = CLAIMS[name]
    folder = Path(out or f"runs/reproduce-{name}{'-quick' if quick else ''}")
    if folder.exists() and any(folder.iterdir()):
        raise CnnkitError(f"{folder} is not empty; choose another --out")
    result = c.run(folder, seeds, quick)
    report = {"claim": c.name, "source": c.source, "claimed": c.claimed, "scale": c.scale, "quick": quick,
              "measured": result["measured"], "verdict": result["verdict"], "seeds": seeds, "runs": result["runs"]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def describe(measured: dict, indent: str = "  ") -> list[str]:
    """The measured figures in words: 'mean ± std (values)' for every averaged figure."""
    lines = []
    for key, value in measured.items():
        if isinstance(value, dict) and "mean" in value:
            vals = ", ".join(f"{v:.4g}" for v in value["values"])
            lines.append(f"{indent}{key}: {value['mean']:.4g} ± {value['std']:.2g}  ({vals})")
        elif isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines += describe(value, indent + "  ")
        elif isinstance(value, bool):
            lines.append(f"{indent}{key}: {'yes' if value else 'no'}")
        else:
            lines.append(f"{indent}{key}: {value:,}" if isinstance(value, int) else f"{indent}{key}: {value}")
    return lines
