"""The conv-ae autoencoder on MNIST: test MSE per pixel after each epoch, and a picture of its work.

Usage: python bench/autoencoder.py [--epochs 5] [--picture ae.png]
Prints one JSON object; the picture shows 10 test digits (top) and their reconstructions (bottom).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import cnnkit
from cnnkit.layers.inference import predict_logits
from cnnkit.rundir import load


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--picture", default="bench-autoencoder.png")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    root = Path(tempfile.mkdtemp(prefix="cnnkit-ae-"))
    r = cnnkit.train("conv-ae", "mnist", epochs=args.epochs, eval_test_every_epoch=True, out=str(root / "ae"),
                     quiet=True)
    tm = load(root / "ae")
    test = cnnkit.load_dataset("mnist")["test"]
    x = test.images[:10]
    rec = predict_logits(tm.model, tm.normalizer, x).reshape(x.shape).clamp(0, 1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 10, figsize=(10, 2.3))
    for i in range(10):
        axes[0, i].imshow(x[i, 0], cmap="gray", vmin=0, vmax=255)
        axes[1, i].imshow(rec[i, 0], cmap="gray", vmin=0, vmax=1)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"conv-ae after {args.epochs} epochs: test MSE per pixel {r.summary['test_mse']:.4f}")
    fig.savefig(args.picture, dpi=100, bbox_inches="tight")
    print(json.dumps({"epochs": args.epochs, "test_mse_per_epoch": [h["test_mse"] for h in r.history],
                      "test_mse": r.summary["test_mse"], "train_seconds": r.summary["train_seconds"],
                      "params": r.summary["params"], "picture": args.picture}, indent=2))


if __name__ == "__main__":
    main()
