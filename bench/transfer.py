"""Transfer beats scratch: pretrain on CIFAR-10 classes 0-4, learn classes 5-9 from 100 images each.

Three ways to learn the new classes from 500 labelled images: a network trained
from scratch, an SVM on the pretrained network's features, and staged
fine-tuning of the pretrained network.  Data: the CIFAR-10 JPEG export when the
official files are absent (see ``cnnkit data info cifar10``).

Usage: python bench/transfer.py [--model cifar10-net] [--pretrain-epochs 15] [--per-class 100]
Prints one JSON object with the three test errors (on all 5,000 test images of classes 5-9).
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
from cnnkit.transfer import finetune, transfer_classify


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cifar10-net")
    p.add_argument("--pretrain-epochs", type=int, default=15)
    p.add_argument("--scratch-epochs", type=int, default=40)
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--stages", default="head:10:0.01,all:15:0.003")
    p.add_argument("--out-dir", default=None)
    args = p.parse_args()
    warnings.simplefilter("ignore")
    root = Path(args.out_dir or tempfile.mkdtemp(prefix="cnnkit-transfer-"))
    full = load_dataset("cifar10")
    old, new = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
    source = Dataset("cifar10-classes-0-4", {s: full[s].select_classes(old) for s in ("train", "test")},
                     [full.classes[i] for i in old])
    target = Dataset(f"cifar10-classes-5-9-{args.per_class}-per-class",
                     {"train": full["train"].select_classes(new, per_class=args.per_class, seed=0),
                      "test": full["test"].select_classes(new)}, [full.classes[i] for i in new])
    t = time.perf_counter()
    pre = cnnkit.train(args.model, data=source, out=str(root / "pretrained"), epochs=args.pretrain_epochs,
                       quiet=True)
    pretrain_seconds = time.perf_counter() - t
    scratch = cnnkit.train(args.model, data=target, out=str(root / "scratch"), epochs=args.scratch_epochs,
                           batch_size=32, quiet=True)
    tm = cnnkit.load(pre.path)
    tr, te = target["train"], target["test"]
    svm = transfer_classify(tm, tm.prepare(tr.images), tr.labels, tm.prepare(te.images), te.labels, "svm")
    tuned = finetune(pre.path, target, args.stages, root / "finetuned", quiet=True, batch_size=32,
                     augment="crop,flip")
    result = {
        "model": args.model, "data": full.notes or ["official CIFAR-10"],
        "pretrain": {"classes": source.classes, "images": len(source["train"]), "epochs": args.pretrain_epochs,
                     "test_top1_error": pre.summary["test_top1_error"], "seconds": round(pretrain_seconds, 1)},
        "target": {"classes": target.classes, "train_images": len(tr), "test_images": len(te)},
        "scratch": {"test_top1_error": scratch.summary["test_top1_error"], "epochs": args.scratch_epochs},
        "features_svm": {"test_top1_error": svm["top1_error"], "layer": svm["layer"], "features": svm["features"]},
        "finetuned": {"test_top1_error": tuned["test_top1_error"], "stages": args.stages},
    }
    result["transfer_beats_scratch"] = (max(result["features_svm"]["test_top1_error"],
                                            result["finetuned"]["test_top1_error"])
                                        < result["scratch"]["test_top1_error"])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
