"""Self-supervised pretext vs training from scratch when labels are scarce (MNIST, 100 labels per class).

1. ``lenet5`` learns the rotation pretext task (Gidaris et al. 2018) on all 60,000 MNIST training
   images, their labels never read.
2. Features of the pretext network (a chosen layer) + logistic regression, trained on 100 labelled
   images per class (1,000 in all, seeded).
3. A LeNet-5 trained from scratch on the same 1,000 labelled images (the lenet5 recipe, and a
   small-data variant with batch 32 and more epochs).
All scored on the 10,000 test digits.

Usage: python bench/pretext.py [--pretext-epochs 3] [--per-class 100] [--layer pool2]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import cnnkit
from cnnkit.data import Dataset, load_dataset
from cnnkit.rundir import load
from cnnkit.transfer import transfer_classify


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pretext-epochs", type=int, default=3)
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--layer", default="pool2", help="pretext layer whose activations are the features")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", default=None)
    args = p.parse_args()
    warnings.simplefilter("ignore")
    root = Path(args.out_dir or tempfile.mkdtemp(prefix="cnnkit-pretext-"))
    mnist = load_dataset("mnist")
    few = mnist["train"].select_classes(list(range(10)), per_class=args.per_class, seed=args.seed)
    labelled = Dataset("mnist-100-per-class", {"train": few, "test": mnist["test"]}, mnist.classes)
    out = {"per_class": args.per_class, "labelled": len(few), "layer": args.layer}

    t = time.perf_counter()
    cnnkit.train("lenet5", "mnist", task="rotation", epochs=args.pretext_epochs, out=str(root / "pretext"),
                 quiet=True)
    out["pretext_seconds"] = round(time.perf_counter() - t, 1)
    out["pretext_rotation_test_error"] = json.loads((root / "pretext" / "summary.json").read_text())[
        "test_top1_error"]
    tm = load(root / "pretext")
    for clf in ("logreg", "svm"):
        r = transfer_classify(tm, tm.prepare(few.images), few.labels, tm.prepare(mnist["test"].images),
                              mnist["test"].labels, clf, args.layer)
        out[f"pretext_features_{clf}_test_error"] = r["top1_error"]

    for name, options in (("scratch_recipe", {}), ("scratch_small_data", {"batch_size": 32, "epochs": 40})):
        r = cnnkit.train("lenet5", data=labelled, out=str(root / name), quiet=True, **options)
        out[f"{name}_test_error"] = r.summary["test_top1_error"]
    best = min((k for k in out if k.endswith("_test_error") and "rotation" not in k), key=lambda k: out[k])
    out["winner"] = best
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
