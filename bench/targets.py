"""Issue-3 targets: the default recipes of lenet5 and mlp on MNIST and cifar10-net on CIFAR-10.

Usage: python bench/targets.py [--out-dir /tmp/cnnkit-bench] [--only lenet5,mlp,cifar10-net]
Prints one JSON object: per model, test errors, test error rate, training seconds, epochs.
Run it alone on the machine: training time is part of the result.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import warnings
from pathlib import Path

import torch

import cnnkit

JOBS = {
    # name: (model, dataset, overrides)
    "lenet5": ("lenet5", "mnist", {}),
    "mlp": ("mlp", "mnist", {}),
    "cifar10-net": ("cifar10-net", "cifar10", {}),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default=None)
    p.add_argument("--only", default=",".join(JOBS))
    args = p.parse_args()
    warnings.simplefilter("ignore")
    out_dir = Path(args.out_dir or tempfile.mkdtemp(prefix="cnnkit-bench-"))
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "runs": {}}
    for name in args.only.split(","):
        model, dataset, overrides = JOBS[name]
        out = out_dir / name
        shutil.rmtree(out, ignore_errors=True)
        r = cnnkit.train(model, dataset, out=str(out), quiet=True, **overrides)
        s = r.summary
        cfg = json.loads((out / "config.json").read_text())
        results["runs"][name] = {
            "dataset": s["dataset"], "test_errors": s["test_errors"], "test_n": s["test_n"],
            "test_top1_error": s["test_top1_error"], "test_top5_error": s["test_top5_error"],
            "train_seconds": s["train_seconds"], "epochs": s["epochs"],
            "recipe": {k: cfg[k] for k in ("optimizer", "lr", "nesterov", "schedule", "batch_size", "augment",
                                           "weight_decay")},
        }
        print(json.dumps({name: results["runs"][name]}), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
