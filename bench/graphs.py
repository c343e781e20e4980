"""Graph specs on real data: the shipped two-input and two-head examples on MNIST.

* two-input: the image and a side vector - a noisy one-hot hint of the label modulo 8 (a stand-in for
  the lectures' second input, e.g. a question's encoding) - merged before the classifier; beside the
  same network given a side vector of pure noise, to show what the second input adds.
* two-head: one trunk, the digit's class (classify) and its ink fraction x 10 (regress, loss weight 0.5).

Usage: python bench/graphs.py [--train 20000] [--epochs 5]
Prints one JSON object (test figures on the 10,000 test digits).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import cnnkit
import cnnkit.data
import cnnkit.examples
from cnnkit.data import Dataset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=5)
    args = p.parse_args()
    warnings.simplefilter("ignore")
    root = Path(tempfile.mkdtemp(prefix="cnnkit-graphs-"))
    mnist = cnnkit.load_dataset("mnist")
    rng = np.random.default_rng(0)
    out = {"train_images": args.train, "epochs": args.epochs}

    def split(name, n, hint):
        x = mnist[name].images[:n, 0].numpy()
        y = mnist[name].labels[:n].numpy()
        side = (np.eye(8)[y % 8] if hint else 0) + rng.normal(0, 0.7, (len(y), 8))
        ink = (x.astype(np.float64).mean(axis=(1, 2)) / 25.5).astype(np.float32)
        return x, y, side, ink

    for hint in (True, False):
        tr, te = split("train", args.train, hint), split("test", 10_000, hint)
        data = Dataset("digits-and-side", {"train": cnnkit.data.from_arrays({"image": tr[0], "side": tr[2]}, tr[1]),
                                           "test": cnnkit.data.from_arrays({"image": te[0], "side": te[2]}, te[1])},
                       [str(d) for d in range(10)])
        t = time.perf_counter()
        r = cnnkit.train(cnnkit.examples.path("two-input"), data=data, recipe="model:lenet5", epochs=args.epochs,
                         out=str(root / f"two-input-{hint}"), quiet=True)
        key = "two_input_with_hint" if hint else "two_input_noise_side"
        out[key] = {"test_top1_error": r.summary["test_top1_error"], "seconds": round(time.perf_counter() - t, 1)}

    tr, te = split("train", args.train, False), split("test", 10_000, False)
    data = Dataset("digits-and-ink", {"train": cnnkit.data.from_arrays(tr[0], {"digit": tr[1], "size": tr[3]}),
                                      "test": cnnkit.data.from_arrays(te[0], {"digit": te[1], "size": te[3]})},
                   [str(d) for d in range(10)])
    t = time.perf_counter()
    r = cnnkit.train(cnnkit.examples.path("two-head"), data=data, optimizer="adam", lr=0.002, epochs=args.epochs,
                     batch_size=64, out=str(root / "two-head"), quiet=True)
    out["two_head"] = {k: r.summary[k] for k in r.summary if k.startswith("test_")}
    out["two_head"]["seconds"] = round(time.perf_counter() - t, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
