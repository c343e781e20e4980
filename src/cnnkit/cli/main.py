"""Entry point: ``cnnkit COMMAND ...``.

Each command is a small function over the public API.  Any
:class:`~cnnkit.errors.CnnkitError` becomes one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cnnkit.errors import CnnkitError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise CnnkitError(f"{message} (see '{self.prog} --help')")


def _configure_summary(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="zoo name (see 'cnnkit models') or a spec file (.yaml/.json)")
    p.add_argument("--input", metavar="C,H,W", help="input volume, overriding the spec's")
    p.add_argument("--num-classes", type=int, help="resize the output layer")
    p.add_argument("--diagram", metavar="FILE", help="also draw the network (layers, inputs, output volumes) "
                                                   "to FILE: .svg, .png or .pdf")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def _run_summary(args: argparse.Namespace) -> int:
    import cnnkit
    from cnnkit.layers import with_num_classes

    spec = cnnkit.resolve_spec(args.model, args.input)
    if args.num_classes is not None:
        spec = with_num_classes(spec, args.num_classes)
    s = cnnkit.summarize(spec)
    if spec.discriminator is not None:  # a GAN: both networks
        d = cnnkit.summarize(spec.discriminator)
        if args.json:
            print(json.dumps({"generator": s.to_dict(), "discriminator": d.to_dict()}))
        else:
            print(f"generator (latent code of {spec.input[0]} -> image)\n{s}\n\ndiscriminator (image -> real or "
                  f"fake)\n{d}")
    else:
        print(json.dumps(s.to_dict()) if args.json else s)
    if args.diagram:
        from cnnkit.evaluate.diagram import draw

        print(f"diagram written to {draw(spec, args.diagram)}", file=sys.stderr)
    return 0


def _configure_spec(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="zoo name (see 'cnnkit models') or a spec file")
    p.add_argument("--out", help="write the YAML spec to this file instead of stdout")


def _run_spec(args: argparse.Namespace) -> int:
    import yaml

    import cnnkit
    from cnnkit.spec import spec_to_data

    spec = cnnkit.resolve_spec(args.model)
    s = cnnkit.summarize(spec)
    head = (f"# {spec.name}: {s.totals['params']:,} parameters, input {'x'.join(map(str, spec.input))}"
            f"{f'; {spec.source}' if spec.source else ''}\n"
            f"# Edit and train it with: cnnkit train THIS.yaml --dataset NAME"
            f" [--recipe model:{spec.name}] (a spec file brings no recipe of its own)\n")
    text = head + yaml.safe_dump(spec_to_data(spec), sort_keys=False, default_flow_style=None, width=100)
    if args.out:
        from pathlib import Path

        try:
            Path(args.out).write_text(text)
        except OSError as exc:
            raise CnnkitError(f"cannot write {args.out}: {exc.strerror}") from None
        print(f"wrote {args.out} ({spec.name}, {s.totals['params']:,} parameters)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _configure_models(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list")


def _run_models(args: argparse.Namespace) -> int:
    from cnnkit.inspect import summarize
    from cnnkit.models import get_entry, list_models

    rows = []
    for name in list_models():
        e = get_entry(name)
        params = summarize(e.spec()).totals["params"]  # exact, and equal to the published count where one exists
        rows.append({"name": name, "aliases": list(e.aliases), "params": params, "input": list(e.spec().input),
                     "dataset": e.dataset, "description": e.description, "source": e.source})
    if args.json:
        print(json.dumps(rows))
        return 0
    def line(r, width):
        alias = f" (also {', '.join(r['aliases'])})" if r["aliases"] else ""
        shape = "x".join(map(str, r["input"]))
        return (f"{r['name']:<{width}}  {r['params']:>12,} params  {shape:>9}  {r['description']}{alias}"
                f"  [{r['source']}]")

    _print_rows(rows, "name", line)
    return 0


def _configure_train(p: argparse.ArgumentParser) -> None:
    from dataclasses import MISSING, fields

    from cnnkit.train.config import CHOICES, TrainConfig

    p.add_argument("model", nargs="?", help="zoo name or spec file (optional with --resume or --config)")
    p.add_argument("--config", help="YAML/JSON file of training options (same keys as the flags)")
    p.add_argument("--recipe", help="a named recipe (e.g. fast), model:NAME (a zoo model's recipe) or a .yaml "
                                    "file, layered over the model's own recipe")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines (the result still prints)")
    p.add_argument("--show-config", action="store_true",
                   help="print the resolved configuration, with where each value came from, and exit")
    for f in fields(TrainConfig):  # every flag, its help and its default come from the config's fields
        if f.name == "model":
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        default = "" if f.default is MISSING else f.default
        shown = "none" if default in ("", None) else default
        help_ = f.metadata["help"]
        if "(default" not in help_:
            help_ += f" (default: {str(shown).lower() if isinstance(shown, bool) else shown}"
            help_ += ")" if f.name == "data_dir" else ", or the model's recipe)"
        kw = {"default": argparse.SUPPRESS, "dest": f.name, "help": help_.replace("%", "%%")}
        if kind.startswith("bool"):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif f.name in CHOICES:
            p.add_argument(flag, choices=CHOICES[f.name], **kw)
        else:
            p.add_argument(flag, type=int if kind.startswith("int") else float if kind.startswith("float") else str,
                           **kw)


def _run_train(args: argparse.Namespace) -> int:
    from cnnkit.train import train

    options = {k: v for k, v in vars(args).items()
               if k not in ("command", "model", "config", "recipe", "resume", "quiet", "show_config")}
    if args.show_config:
        from cnnkit.train.config import resolve_with_sources

        cfg, sources = resolve_with_sources(args.model, options, args.config, args.recipe, option_source="flags")
        width = max(len(k) for k in sources)
        for key, value in cfg.to_dict().items():
            print(f"{key:<{width}}  {value!s:<24}  {sources[key]}")
        return 0
    result = train(args.model, config=args.config, recipe=args.recipe, resume=args.resume, quiet=args.quiet,
                   **options)
    if args.quiet:  # quiet hides progress, never the result that was asked for
        from cnnkit.train.run import result_line

        classes = result.summary.get("num_classes", 10)
        if "members" in result.summary:
            print(f"ensemble: test error {100 * result.summary['test_top1_error']:.2f}%")
        else:
            print(result_line(result.summary, classes))
    return 0


def _configure_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory (or a .safetensors weights file)")
    p.add_argument("--dataset", help="dataset to evaluate on (default: the one it was trained on)")
    p.add_argument("--split", default="test", help="split name (default: test)")
    p.add_argument("--data-dir", help="folder holding the datasets")
    p.add_argument("--tta", help="test-time augmentation, e.g. flip,crops (reported beside plain evaluation)")
    p.add_argument("--compile", action="store_true", help="torch.compile the network first (large test sets)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _run_evaluate(args: argparse.Namespace) -> int:
    from cnnkit.evaluate.evaluation import evaluate

    m = evaluate(args.run, args.dataset, args.split, args.data_dir, tta=args.tta, compile=args.compile)
    if args.json:
        print(json.dumps(m))
        return 0
    if m.get("task", "classify") != "classify":
        shown = ", ".join(f"{k} {v:.4f}" for k, v in m.items() if isinstance(v, float))
        print(f"{m['dataset']} {m['split']} ({m['task']}, {m['n']:,} images): {shown}")
        return 0
    print(f"{m['dataset']} {m['split']}: top-1 error {100 * m['top1_error']:.2f}% ({m['errors']:,} of {m['n']:,} "
          f"misclassified), top-5 error {100 * m['top5_error']:.2f}%")
    if "tta" in m:
        t = m["tta"]
        print(f"with test-time augmentation ({t['transforms']}): top-1 error {100 * t['top1_error']:.2f}% "
              f"({t['errors']:,} misclassified), top-5 error {100 * t['top5_error']:.2f}%")
    width = max(len(c) for c in m["classes"])
    print("per-class accuracy:")
    for name, acc in m["per_class_accuracy"].items():
        print(f"  {name:<{width}}  {'n/a' if acc is None else f'{100 * acc:6.2f}%'}")
    print("confusion matrix (rows: true class, columns: predicted class):")
    cells = max(max(len(str(v)) for row in m["confusion_matrix"] for v in row),
                *(min(len(c), 8) for c in m["classes"]))  # headers cut to 8 characters
    corner = "true/pred"
    width = max(width, len(corner))
    print(f"  {corner:<{width}}  " + " ".join(f"{c[:cells]:>{cells}}" for c in m["classes"]))
    for name, row in zip(m["classes"], m["confusion_matrix"]):
        print(f"  {name:<{width}}  " + " ".join(f"{v:>{cells}}" for v in row))
    return 0


def _configure_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory (or a .safetensors weights file)")
    p.add_argument("images", nargs="*", help="image files (PNG, JPEG, ...; any mode and size), or sentences in "
                                             "quotes for a text run")
    p.add_argument("--file", help="a text run: a file of sentences, one per line")
    p.add_argument("--top", type=int, default=5, help="classes to show per image (default 5)")
    p.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="invert pictures whose background is the opposite of the training images' "
                        "(default auto)")
    p.add_argument("--digit-normalize", choices=("auto", "yes", "no"), default="auto",
                   help="MNIST's normalisation (ink box into 20x20, centred by mass in 28x28) for free-form digits; "
                        "auto: for networks trained on MNIST, on pictures of another size (default auto)")
    p.add_argument("--out", help="folder for the pictures an autoencoder run rebuilds (default: reconstructions)")
    p.add_argument("--json", action="store_true", help="print a JSON list")


def _run_predict(args: argparse.Namespace) -> int:
    from cnnkit.evaluate.evaluation import predict

    if args.top < 1:
        raise CnnkitError("--top must be at least 1")
    if _is_text_run(args.run):
        return _predict_sentences(args)
    if args.file:
        raise CnnkitError("--file lists sentences for a text run; give image files as arguments")
    if not args.images:
        raise CnnkitError("give one or more image files to classify")
    results = predict(args.run, args.images, args.top, invert=args.invert, digit_normalize=args.digit_normalize,
                      out_dir=args.out)
    if args.json:
        print(json.dumps(results))
        return 0
    for r in results:
        if "values" in r or "reconstruction" in r:
            what = (", ".join(f"{k} {v:.4g}" for k, v in r["values"].items()) if "values" in r
                    else f"reconstruction in {r['reconstruction']} (per-pixel MSE {r['mse']:.4f})")
            print(f"{r['file']}: {what}")
            for note in r["notes"]:
                print(f"  note: {note}")
            continue
        best = ", ".join(f"{t['class']} {_percent(t['prob'])}" for t in r["top"])
        flag = "  [LOW CONFIDENCE]" if r["low_confidence"] else ""
        print(f"{r['file']}: {best}{flag}")
        for note in r["notes"]:
            print(f"  note: {note}")
    return 0


def _is_text_run(run: str) -> bool:
    from cnnkit.rundir import load_json

    spec = Path(run) / "spec.json"
    return spec.is_file() and isinstance(load_json(spec).get("input"), dict)


def _predict_sentences(args: argparse.Namespace) -> int:
    from cnnkit.data.text import read_text, text_lines
    from cnnkit.evaluate.evaluation import predict_text

    texts = list(args.images)
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise CnnkitError(f"--file {path}: no such file (one sentence per line)")
        texts += text_lines(read_text(path))[0]
    if not texts:
        raise CnnkitError('give sentences in quotes (cnnkit predict RUN "a fine film") or --file with one per line')
    results = predict_text(args.run, texts, args.top)
    if args.json:
        print(json.dumps(results))
        return 0
    for r in results:
        best = ", ".join(f"{t['class']} {_percent(t['prob'])}" for t in r["top"])
        shown = r["text"] if len(r["text"]) <= 70 else r["text"][:67] + "..."
        print(f"{shown!r}: {best}")
        for note in r["notes"]:
            print(f"  note: {note}")
    return 0


def _percent(p: float) -> str:
    """A probability for people: never a rounded 100.0% or 0.0% that the network did not say."""
    if p >= 0.9995:
        return ">99.9%"
    if p < 0.0005:
        return "<0.1%"
    return f"{100 * p:.1f}%"


def _print_rows(rows: list[dict], key: str, line) -> None:
    """One line per row, the ``key`` column padded to the longest: ``line(row, width)`` writes it."""
    width = max(len(str(r[key])) for r in rows)
    for r in rows:
        print(line(r, width))


def _configure_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("list", "info", "fetch"), help="list datasets, describe one, or download it")
    p.add_argument("name", nargs="?", help="dataset name or folder:PATH")
    p.add_argument("--data-dir", help="folder holding the datasets")
    p.add_argument("--json", action="store_true", help="print JSON")


def _run_data(args: argparse.Namespace) -> int:
    import torch

    from cnnkit.data import DATASETS, load_dataset

    if args.action == "list":
        from cnnkit.data.text import TEXT_DATASETS

        rows = [{"name": d.name, "description": d.description, "url": d.url} for d in DATASETS.values()]
        rows += [{"name": n, "description": d, "url": ""} for n, (d, _) in TEXT_DATASETS.items()]
        if args.json:
            print(json.dumps(rows))
        else:
            rows.append({"name": "folder:PATH", "description": "your own images, one sub-folder per class (or a "
                                                                "targets.csv for regression)"})
            rows.append({"name": "text:DIR", "description": "your own text: class folders of .txt documents, or "
                                                             "CLASS.txt files with one sample per line"})
            rows.append({"name": "csv:PATH, tsv:PATH", "description": "a table with a header (text and label "
                                                                       "columns found by name), or a folder of "
                                                                       "train/dev/test files"})
            _print_rows(rows, "name", lambda r, w: f"{r['name']:<{w}}  {r['description']}")
        return 0
    if not args.name:
        raise CnnkitError(f"'cnnkit data {args.action}' needs a dataset name (see 'cnnkit data list')")
    ds = load_dataset(args.name, args.data_dir)
    if args.action == "fetch":
        print(f"{ds.name}: ready ({', '.join(f'{k} {len(v):,}' for k, v in ds.splits.items())} images)")
        return 0
    if ds.vocabulary is not None:
        return _text_info(ds, args.json)
    info = {"name": ds.name, "classes": ds.classes, "shape": list(ds.shape), "notes": ds.notes, "splits": {}}
    for split_name, d in ds.splits.items():
        mean, std = d.channel_stats()
        counts = torch.bincount(d.labels, minlength=len(ds.classes)).tolist()
        info["splits"][split_name] = {"n": len(d), "mean": mean, "std": std, "per_class": counts}
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"{ds.name}: {len(ds.classes)} classes, images {'x'.join(map(str, ds.shape))}")
    for note in ds.notes:
        print(f"note: {note}")
    for split_name, s in info["splits"].items():
        mean = ", ".join(f"{v:.4f}" for v in s["mean"])
        std = ", ".join(f"{v:.4f}" for v in s["std"])
        print(f"  {split_name:<5} {s['n']:>7,} images  mean [{mean}]  std [{std}]")
    print("  classes: " + ", ".join(ds.classes))
    return 0


def _text_info(ds, as_json: bool) -> int:
    """A text data set: the counts before any split, then each split and the vocabulary."""
    import torch

    splits = {name: {"n": len(d), "per_class": torch.bincount(d.labels, minlength=len(ds.classes)).tolist(),
                     "mean_tokens": round(float((d.images != 0).sum()) / max(1, len(d)), 2)}
              for name, d in ds.splits.items()}
    info = {"name": ds.name, "classes": ds.classes, "total": ds.totals["samples"],
            "per_class": ds.totals["per_class"], "notes": ds.notes, "splits": splits,
            "vocabulary": len(ds.vocabulary), "tokens_per_sample": ds.vocabulary.length}
    if as_json:
        print(json.dumps(info))
        return 0
    per = " + ".join(f"{n:,} {c}" for c, n in ds.totals["per_class"].items())
    print(f"{ds.name}: {len(ds.classes)} classes, {ds.totals['samples']:,} samples = {per}")
    for note in ds.notes:
        print(f"note: {note}")
    for name, s in splits.items():
        print(f"  {name:<5} {s['n']:>7,} samples  {s['mean_tokens']:.1f} words on average")
    print(f"  vocabulary: {len(ds.vocabulary):,} tokens from the training split (with <pad> and <unk>), "
          f"{ds.vocabulary.length} tokens per sample")
    return 0


def _configure_explain(p: argparse.ArgumentParser) -> None:
    from cnnkit.evaluate.explain import METHODS

    p.add_argument("run", help="an image classifier's run directory")
    p.add_argument("images", nargs="*", help="picture files (converted as predict converts them)")
    p.add_argument("--units", metavar="LAYER", help="instead: the test patches that excite a sample of LAYER's "
                                                    "filters most, cropped to their receptive field")
    p.add_argument("--top", type=int, default=9, help="--units: patches per filter (default 9)")
    p.add_argument("--filters", type=int, default=8, help="--units: filters shown (default 8)")
    p.add_argument("--method", default="gradcam", help=f"one of {', '.join(METHODS)} (default gradcam)")
    p.add_argument("--class", dest="cls", help="explain this class (name or index; default: the predicted one)")
    p.add_argument("--layer", help="gradcam: the layer whose maps it weighs (default: the last spatial layer)")
    p.add_argument("--out", default="explanations", help="folder for the overlay PNGs (default explanations)")
    p.add_argument("--json", action="store_true",
                   help='print a list of {"file", "method", "class", "prob", "map"} (map: H x W numbers)')


def _run_explain(args: argparse.Namespace) -> int:
    from cnnkit.evaluate.explain import explain, units

    if args.units:
        if args.top < 1 or args.filters < 1:
            raise CnnkitError("--top and --filters must be at least 1")
        r = units(args.run, args.units, args.top, args.filters, Path(args.out) / f"units-{args.units}.png")
        print(json.dumps(r) if args.json else f"wrote {r['out']} ({len(r['filters'])} filters x {args.top} patches)")
        return 0
    if not args.images:
        raise CnnkitError("give picture files to explain, or --units LAYER")
    items = explain(args.run, args.images, args.method, args.cls, args.layer, args.out)
    if args.json:
        print(json.dumps([{k: i[k] for k in ("file", "method", "class", "prob", "map")} for i in items]))
        return 0
    for i in items:
        print(f"{i['file']}: {i['method']} for {i['class']} ({_percent(i['prob'])}) -> {i['overlay']}")
        for note in i["notes"]:
            print(f"  note: {note}")
    return 0


def _configure_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a classifier's run directory")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="file format (default onnx)")
    p.add_argument("--out", default="model.onnx", help="file to write (default model.onnx)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--batch", type=int, default=0, help="fix the batch size (default 0: dynamic)")
    p.add_argument("--logits", action="store_true", help="end in the scores before the softmax (default: "
                                                         "probabilities)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _run_export(args: argparse.Namespace) -> int:
    from cnnkit.evaluate.export import export_onnx

    r = export_onnx(args.run, args.out, args.opset, args.batch, args.logits)
    print(json.dumps(r) if args.json else f"wrote {r['out']} (opset {r['opset']}, batch {r['batch']}, input "
                                          f"{'x'.join(map(str, r['input']))}, {r['output']} of {r['classes']} classes)")
    return 0


def _configure_sample(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a VAE run directory (trained with --task vae, e.g. vae-mnist)")
    p.add_argument("--n", type=int, default=64, help="samples in the grid (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the codes drawn (default 0)")
    p.add_argument("--interpolate", nargs=2, metavar=("A", "B"),
                   help="walk from A to B: test-image indices or picture files")
    p.add_argument("--steps", type=int, default=10, help="pictures along --interpolate (default 10)")
    p.add_argument("--manifold", action="store_true", help="a 2-number latent code: the manifold picture and "
                                                           "the test images' codes by class")
    p.add_argument("--out", help="PNG to write (default samples.png, interpolation.png or manifold.png)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _run_sample(args: argparse.Namespace) -> int:
    from cnnkit.evaluate import generate

    if args.interpolate:
        r = generate.interpolate(args.run, *args.interpolate, steps=args.steps, out=args.out or "interpolation.png")
    elif args.manifold:
        r = generate.manifold(args.run, out=args.out or "manifold.png")
    else:
        r = generate.sample(args.run, n=args.n, seed=args.seed, out=args.out or "samples.png")
    if args.json:
        print(json.dumps(r))
    else:
        print(f"wrote {r['out']}" + (f" and {r['latent_scatter']}" if "latent_scatter" in r else ""))
    return 0


def _configure_word2vec(p: argparse.ArgumentParser) -> None:
    p.add_argument("corpus", nargs="*", help="text files to train on (one sentence or document per line)")
    p.add_argument("--model", choices=("skipgram", "cbow"), default="skipgram", help="default skipgram")
    p.add_argument("--dim", type=int, default=100, help="numbers per word (default 100)")
    p.add_argument("--window", type=int, default=5, help="context words on each side (default 5)")
    p.add_argument("--negative", type=int, default=5,
                   help="negative samples per word (0: hierarchical softmax; default 5)")
    p.add_argument("--min-count", type=int, default=2, help="ignore rarer words (default 2)")
    p.add_argument("--epochs", type=int, default=5, help="passes over the corpus (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", help="vectors file to write (.txt: word2vec text format; .bin: binary; no default)")
    p.add_argument("--vectors", help="a word2vec file to query with --neighbours (default: the --out file)")
    p.add_argument("--neighbours", "--neighbors", metavar="WORD",
                   help="list the nearest words to WORD (default: none)")
    p.add_argument("--top", type=int, default=10, help="neighbours to list (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def _run_word2vec(args: argparse.Namespace) -> int:
    from cnnkit.data.word2vec import neighbours, train_word2vec

    if args.neighbours:
        source = args.vectors or args.out
        if not source:
            raise CnnkitError("--neighbours needs --vectors FILE (a word2vec file)")
        if args.corpus and not args.out:
            raise CnnkitError("give --out to train and query, or only --vectors to query")
    if args.corpus:
        if not args.out:
            raise CnnkitError("give --out FILE for the trained vectors (e.g. --out vectors.txt)")
        info = train_word2vec(args.corpus, args.out, model=args.model, dim=args.dim, window=args.window,
                              negative=args.negative, min_count=args.min_count, epochs=args.epochs, seed=args.seed)
    elif not args.neighbours:
        raise CnnkitError("give corpus files to train on (cnnkit word2vec CORPUS... --out vectors.txt), or "
                          "--vectors FILE --neighbours WORD")
    else:
        info = None
    near = neighbours(args.vectors or args.out, args.neighbours, args.top) if args.neighbours else None
    if args.json:
        print(json.dumps({**(info or {}), **({"word": args.neighbours, "neighbours": near} if near else {})}))
        return 0
    if info:
        for note in info["notes"]:
            print(f"note: {note}", file=sys.stderr)
        print(f"{info['words']:,} words x {info['dim']} ({info['model']}, {info['sentences']:,} sentences, "
              f"{info['tokens']:,} tokens) written to {info['out']}")
    if near:
        print(f"nearest to {args.neighbours!r}:")
        _print_rows(near, "word", lambda r, w: f"  {r['word']:<{w}}  {r['similarity']:.3f}")
    return 0


def _configure_ensemble(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="run directories (a directory of member-* runs counts as its members)")
    p.add_argument("--dataset", help="dataset (default: the one the runs were trained on)")
    p.add_argument("--split", default="test", help="split to score (default: test)")
    p.add_argument("--data-dir", help="folder holding the datasets")
    p.add_argument("--tta", help="test-time augmentation for every member, e.g. flip")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _run_ensemble(args: argparse.Namespace) -> int:
    from cnnkit.evaluate.ensemble import ensemble

    r = ensemble(args.runs, args.dataset, args.split, args.data_dir, args.tta)
    if args.json:
        print(json.dumps(r))
        return 0
    width = max(len(m["run"]) for m in r["members"])
    for m in r["members"]:
        print(f"{m['run']:<{width}}  top-1 {100 * m['top1_error']:6.2f}%  top-5 {100 * m['top5_error']:6.2f}%")
    print(f"{'mean of members':<{width}}  top-1 {100 * r['mean_member_top1_error']:6.2f}%  "
          f"top-5 {100 * r['mean_member_top5_error']:6.2f}%")
    e = r["ensemble"]
    print(f"{'ensemble':<{width}}  top-1 {100 * e['top1_error']:6.2f}%  top-5 {100 * e['top5_error']:6.2f}%")
    return 0


def _configure_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--out", help="HTML file to write (default: RUN/report.html)")
    p.add_argument("--dataset", help="dataset (default: the one the run was trained on)")
    p.add_argument("--data-dir", help="folder holding the datasets")
    p.add_argument("--image-index", type=int, default=0, help="test image whose feature maps are shown (default 0)")
    p.add_argument("--image", help="your own picture whose feature maps are shown instead (converted as predict does)")


def _run_report(args: argparse.Namespace) -> int:
    from cnnkit.evaluate.report import write_report

    path = write_report(args.run, args.out, dataset=args.dataset, data_dir=args.data_dir,
                        image_index=args.image_index, image=args.image)
    print(f"report written to {path} (figures as PNGs in {path.parent / 'report'})")
    return 0


def _configure_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="run directories")
    p.add_argument("--out", default="compare.png", help="figure to write (default compare.png)")
    p.add_argument("--reach", metavar="ERR%", help="also show the epoch and seconds at which each run first reached "
                                                  "this error, e.g. 25%% (Krizhevsky et al.'s ReLU-vs-tanh measure)")
    p.add_argument("--reach-metric", choices=("train_top1_error", "val_top1_error", "test_top1_error"),
                   default="train_top1_error", help="the error --reach watches (default train_top1_error)")
    p.add_argument("--json", action="store_true", help="print the table as JSON")


def _run_compare(args: argparse.Namespace) -> int:
    from cnnkit.evaluate.report import compare

    reach = None
    if args.reach is not None:
        text = args.reach.strip().rstrip("%")
        try:
            reach = float(text) / 100
        except ValueError:
            raise CnnkitError(f"--reach must be a percentage such as 25%, got {args.reach!r}") from None
        if not 0 <= reach <= 1:
            raise CnnkitError(f"--reach must lie between 0% and 100%, got {args.reach!r}")
    path, table = compare(args.runs, args.out, reach, args.reach_metric)
    if args.json:
        print(json.dumps(table))
        print(f"learning curves overlaid in {path}", file=sys.stderr)
        return 0
    width = max(len(r["run"]) for r in table)

    def pct(v):
        return "     -" if v is None else f"{100 * v:5.2f}%"

    print(f"{'run':<{width}}  epochs  final loss  val err  test err  seconds")
    for r in table:
        secs = "-" if r["train_seconds"] is None else f"{r['train_seconds']:.1f}"
        print(f"{r['run']:<{width}}  {r['epochs']:>6}  {r['final_train_loss']:>10.4f}  "
              f"{pct(r['final_val_top1_error']):>7}  {pct(r['test_top1_error']):>8}  {secs:>7}")
    for r in table:
        if "reach" in r:
            got = r["reach"]
            what = f"{got['metric'].replace('_top1_error', '')} error <= {100 * got['target']:g}%"
            print(f"{r['run']}: {what} " + (f"first at epoch {got['epoch']} ({got['seconds']:.1f}s)"
                                             if got["epoch"] is not None else "never reached"))
    print(f"learning curves overlaid in {path}")
    return 0


def _load_for_transfer(run: str, dataset: str, data_dir, limit_train: int, limit_test: int):
    from cnnkit.data.tensors import sample_indices
    from cnnkit.rundir import load, load_split

    tm = load(run)
    ds, images, labels = load_split(tm, dataset, "train", data_dir)
    splits = {"train": (images, labels), "test": (tm.prepare(ds["test"].images), ds["test"].labels)}
    for name, limit in (("train", limit_train), ("test", limit_test)):
        pick = sample_indices(len(splits[name][1]), limit)
        splits[name] = (splits[name][0][pick], splits[name][1][pick])
    return tm, ds, splits


def _configure_features(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="trained run directory (or imported weights)")
    p.add_argument("--dataset", required=True, help="dataset whose images to pass through the network")
    p.add_argument("--layer", help="layer whose activations to keep (default: the penultimate)")
    p.add_argument("--out", required=True, help="output .npz (train_features, train_labels, test_*, classes)")
    p.add_argument("--data-dir", help="folder holding the datasets")
    p.add_argument("--limit-train", type=int, default=0, help="a fixed random sample of N training images "
                                                                 "(default: 0, all)")
    p.add_argument("--limit-test", type=int, default=0, help="a fixed random sample of N test images (default: 0, all)")


def _run_features(args: argparse.Namespace) -> int:
    import numpy as np

    from cnnkit.transfer import extract_features

    tm, ds, splits = _load_for_transfer(args.run, args.dataset, args.data_dir, args.limit_train, args.limit_test)
    arrays = {"classes": np.array(ds.classes)}
    for name, (x, y) in splits.items():
        arrays[f"{name}_features"] = extract_features(tm, x, args.layer)
        arrays[f"{name}_labels"] = y.numpy()
    np.savez(args.out, **arrays)
    shape = arrays["train_features"].shape
    print(f"wrote {args.out}: {shape[0]:,} train and {len(arrays['test_labels']):,} test feature vectors "
          f"of {shape[1]:,} values")
    return 0


def _configure_transfer(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="trained run directory (or imported weights)")
    p.add_argument("--dataset", required=True, help="dataset to classify with the network's features")
    p.add_argument("--classifier", choices=("svm", "logreg"), default="svm",
                   help="linear SVM or softmax (logistic regression) on the features (default: svm)")
    p.add_argument("--layer", help="layer whose activations are the features (default: the penultimate)")
    p.add_argument("--data-dir", help="folder holding the datasets")
    p.add_argument("--limit-train", type=int, default=0, help="a fixed random sample of N training images "
                                                                 "(default: 0, all)")
    p.add_argument("--limit-test", type=int, default=0, help="a fixed random sample of N test images (default: 0, all)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _run_transfer(args: argparse.Namespace) -> int:
    from cnnkit.transfer import transfer_classify

    tm, ds, splits = _load_for_transfer(args.run, args.dataset, args.data_dir, args.limit_train, args.limit_test)
    r = transfer_classify(tm, *splits["train"], *splits["test"], args.classifier, args.layer)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{args.classifier} on {r['features']:,} features of layer {r['layer']} ({r['n_train']:,} training "
              f"images): test top-1 error {100 * r['top1_error']:.2f}% ({r['errors']:,} of {r['n']:,}), "
              f"top-5 {100 * r['top5_error']:.2f}%")
    return 0


def _configure_finetune(p: argparse.ArgumentParser) -> None:
    from cnnkit.transfer.finetune import DEFAULT_STAGES

    p.add_argument("run", nargs="?", help="pretrained run directory (or imported weights); not with --resume")
    p.add_argument("--dataset", help="the new dataset to fine-tune on (required unless --resume)")
    p.add_argument("--resume", metavar="RUN", help="continue a killed fine-tuning run (its directory) where it stopped")
    p.add_argument("--stages", default=DEFAULT_STAGES,
                   help=f"comma list of WHAT:EPOCHS:LR, WHAT = head, topN or all (default {DEFAULT_STAGES})")
    p.add_argument("--head", help="your own layers on top of the base (cut where its classifier begins), e.g. "
                                  "FC-256,relu,dropout0.5, or a .yaml file; a final FC to the classes follows "
                                  "(default: only a new output layer)")
    p.add_argument("--out", help="run directory to write (default: runs/RUN-finetuned-DATASET)")
    p.add_argument("--data-dir", help="folder holding the datasets")
    p.add_argument("--batch-size", type=int, help="images per step (default: 128)")
    p.add_argument("--augment", help="comma list of augmentations, e.g. translate,flip (default: none)")
    p.add_argument("--seed", type=int, help="random seed (default: 0)")
    p.add_argument("--limit-train", type=int, help="a fixed random sample of N training images (default: all)")
    p.add_argument("--limit-test", type=int, help="a fixed random sample of N test images (default: all)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="device (default: auto, a GPU when there is one)")
    p.add_argument("--strict", action="store_true", help="refuse unreadable images instead of skipping them")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")


def _run_finetune(args: argparse.Namespace) -> int:
    from cnnkit.transfer import finetune

    s = finetune(args.run, args.dataset, None if args.resume else args.stages, args.out, quiet=args.quiet,
                 head=args.head, resume=args.resume,
                 data_dir=args.data_dir,
                 batch_size=args.batch_size, augment=args.augment, seed=args.seed, limit_train=args.limit_train,
                 limit_test=args.limit_test, device=args.device, strict=args.strict or None)
    for st in s["stages"]:
        err = f", test error {100 * st['test_top1_error']:.2f}%" if "test_top1_error" in st else ""
        print(f"stage {st['stage']} ({st['what']}, {st['trainable_params']:,} trainable){err}")
    print(f"fine-tuned model saved to {s['run']}")
    return 0


def _configure_import(p: argparse.ArgumentParser) -> None:
    from cnnkit.transfer.weights import supported

    p.add_argument("file", help="a torchvision-format state dict (.pth, read with weights_only=True) or .safetensors")
    p.add_argument("--model", required=True, help=f"zoo model the weights are for ({', '.join(supported())})")
    p.add_argument("--out", required=True, help="run directory to write")


def _run_import(args: argparse.Namespace) -> int:
    from cnnkit.transfer import import_weights

    out = import_weights(args.file, args.model, args.out)
    print(f"imported {args.file} into {out} ({args.model})")
    return 0


def _configure_reproduce(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a claim (see 'cnnkit reproduce list'), or list")
    p.add_argument("--seeds", type=int, default=3, help="runs per setting, averaged (default: 3)")
    p.add_argument("--quick", action="store_true", help="a seconds-long version (what the tests run)")
    p.add_argument("--out", help="folder for the runs and result.json (default: runs/reproduce-NAME)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _run_reproduce(args: argparse.Namespace) -> int:
    from cnnkit.reproduce import CLAIMS, describe, reproduce

    if args.name == "list":
        rows = [{"claim": c.name, "source": c.source, "claimed": c.claimed} for c in CLAIMS.values()]
        if args.json:
            print(json.dumps(rows))
        else:
            _print_rows(rows, "claim", lambda r, w: f"{r['claim']:<{w}}  {r['claimed']}  [{r['source']}]")
        return 0
    r = reproduce(args.name, args.seeds, args.quick, args.out)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"{r['claim']}: {r['claimed']} [{r['source']}]")
    print(f"scale: {CLAIMS[r['claim']].scale}{' (quick)' if r['quick'] else ''}; {r['seeds']} seed(s)")
    print("measured:")
    print("\n".join(describe(r["measured"])))
    print(f"verdict: {r['verdict']}")
    return 0


def _configure_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=("cross-correlation", "output-size", "backprop", "kernels", "activations"),
                   help="the worked example")
    p.add_argument("--input", help="cross-correlation: the input grid, rows split by ';', channels by '|' "
                                   "(default: 0,1,2;3,4,5;6,7,8); output-size: the input width (default: "
                                   "Kalogeiton's 7x7 questions). For negative values write --input=-1,2;...")
    p.add_argument("--kernel", action="append", help="cross-correlation: a kernel (repeat for several output "
                                                     "channels; default: 0,1;2,3)")
    p.add_argument("--filter", type=int, help="output-size: the filter width F")
    p.add_argument("--stride", type=int, help="the stride S (default: 1)")
    p.add_argument("--pad", type=int, help="the padding P (default: 0)")
    p.add_argument("--expr", default="(x+y)*z", help="backprop: an expression of + - * max (default: (x+y)*z)")
    p.add_argument("--at", default="x=-2,y=5,z=-4", help="backprop: the variables' values (default: x=-2,y=5,z=-4)")
    p.add_argument("--image", help="kernels: the picture to filter")
    p.add_argument("--out", help="kernels: folder for the filtered pictures (default: kernels); activations: the "
                                 "PNG (default: activations.png)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _run_demo(args: argparse.Namespace) -> int:
    from cnnkit import demo

    if args.name == "cross-correlation":
        x = demo.parse_grid(args.input or "0,1,2;3,4,5;6,7,8", "input")
        kernels = [demo.parse_grid(k, "kernel") for k in (args.kernel or ["0,1;2,3"])]
        r = demo.cross_correlation(x, kernels, args.stride or 1, args.pad or 0)
        if args.json:
            print(json.dumps(r))
            return 0
        print("\n".join(r["steps"]))
        for n, grid in enumerate(r["outputs"], 1):
            print(f"output {n} ({len(grid)}x{len(grid[0])}):" if len(r["outputs"]) > 1 else
                  f"output ({len(grid)}x{len(grid[0])}):")
            for row in grid:
                print(" ".join(f"{demo._num(v):>6}" for v in row))
        return 0
    if args.name == "output-size":
        if args.input is None:
            cases = demo.KALOGEITON
        else:
            try:
                w = int(args.input)
            except ValueError:
                raise CnnkitError(f"--input must be the input width, a whole number, got {args.input!r}") from None
            if args.filter is None:
                raise CnnkitError("output-size needs --filter F with --input W")
            cases = [(w, args.filter, args.stride or 1, args.pad or 0)]
        lines = [line for case in cases for line in demo.output_size_lines(*case)]
        print(json.dumps({"lines": lines}) if args.json else "\n".join(lines))
        return 0
    if args.name == "backprop":
        at = {}
        for part in args.at.split(","):
            name, _, value = part.partition("=")
            try:
                at[name.strip()] = float(value)
            except ValueError:
                raise CnnkitError(f"--at {args.at!r}: write name=value pairs, e.g. x=-2,y=5,z=-4") from None
        r = demo.backprop(args.expr, at)
        if args.json:
            print(json.dumps(r))
            return 0
        print("forward:")
        print("\n".join(f"  {line}" for line in r["forward"]))
        print("backward (gradient of the output, edge by edge):")
        print("\n".join(f"  {line}" for line in r["backward"]))
        print("gradients: " + ", ".join(f"d/d{k} = {demo._num(v)}" for k, v in r["gradients"].items())
              + ("  (autograd agrees)" if r["agrees"] else "  (autograd DISAGREES)"))
        return 0
    if args.name == "kernels":
        if not args.image:
            raise CnnkitError("kernels needs --image FILE (a picture to filter)")
        paths = demo.apply_kernels(args.image, args.out or "kernels")
        print(json.dumps([str(p) for p in paths]) if args.json else "\n".join(f"wrote {p}" for p in paths))
        return 0
    path = demo.plot_activations(args.out or "activations.png")
    print(json.dumps({"picture": str(path)}) if args.json else f"wrote {path}")
    return 0


SUBCOMMANDS = {
    "summary": ("per-layer shapes, weights, neurons, connections, MACs and receptive fields",
                _configure_summary, _run_summary),
    "models": ("list the model zoo", _configure_models, _run_models),
    "spec": ("print a zoo model as an editable YAML spec", _configure_spec, _run_spec),
    "train": ("train a model on a dataset into a run directory", _configure_train, _run_train),
    "evaluate": ("top-1/top-5 error, per-class accuracy and confusion matrix of a run", _configure_evaluate,
                 _run_evaluate),
    "predict": ("classify image files with a trained run", _configure_predict, _run_predict),
    "ensemble": ("average the softmax of several runs; members' and ensemble's errors", _configure_ensemble,
                 _run_ensemble),
    "report": ("write a self-contained HTML report with figures for a run", _configure_report, _run_report),
    "compare": ("overlay the learning curves of several runs", _configure_compare, _run_compare),
    "features": ("save a layer's activations for every image (feature reuse)", _configure_features, _run_features),
    "transfer": ("train an SVM or softmax classifier on a network's features", _configure_transfer, _run_transfer),
    "finetune": ("fine-tune a trained network on a new dataset in stages", _configure_finetune, _run_finetune),
    "import-weights": ("import torchvision-format pretrained weights into a zoo model", _configure_import,
                       _run_import),
    "data": ("list, describe or download datasets", _configure_data, _run_data),
    "explain": ("why a classifier chose a class: saliency, Grad-CAM, occlusion, guided backprop, deconvnet",
                _configure_explain, _run_explain),
    "export": ("write a trained classifier as an ONNX model (normalisation included)", _configure_export,
               _run_export),
    "sample": ("draw pictures from a trained VAE: a grid, a walk between two images, the 2-D manifold",
               _configure_sample, _run_sample),
    "word2vec": ("train word vectors (skip-gram, CBOW) on text files, or list a word's neighbours", _configure_word2vec,
                 _run_word2vec),
    "demo": ("the lectures' worked examples with your own numbers", _configure_demo, _run_demo),
    "reproduce": ("run a lecture's claim as an experiment and say whether it holds", _configure_reproduce,
                  _run_reproduce),
}


def _warning_line(message, category, filename, lineno, file=None, line=None):
    from tqdm import tqdm

    tqdm.write(f"cnnkit: warning: {message}", file=sys.stderr)  # on its own line, even below a progress bar


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnkit", description="Define, inspect, train, evaluate and transfer CNNs.")
    from cnnkit import __version__

    parser.add_argument("--version", action="version", version=f"cnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_, configure, _) in SUBCOMMANDS.items():
        configure(sub.add_parser(name, help=help_, description=help_))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    import warnings

    warnings.showwarning = _warning_line
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        return SUBCOMMANDS[args.command][2](args)
    except CnnkitError as exc:
        print(f"cnnkit: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("cnnkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
