"""The lecture's tricks measured: a single model, the same with augmentation, an ensemble of 3, and TTA.

Usage: python bench/tricks.py [--model lenet5] [--dataset mnist] [--epochs 6] [--augment translate]
Prints one JSON object with the test errors (top-1, and errors counted).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import cnnkit
from cnnkit.evaluate.ensemble import ensemble


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="lenet5")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--augment", default="translate")
    p.add_argument("--tta", default="crops")
    p.add_argument("--out-dir", default=None)
    args = p.parse_args()
    warnings.simplefilter("ignore")
    root = Path(args.out_dir or tempfile.mkdtemp(prefix="cnnkit-tricks-"))
    common = dict(epochs=args.epochs, quiet=True)
    plain = cnnkit.train(args.model, args.dataset, out=str(root / "plain"), augment="", **common)
    aug = cnnkit.train(args.model, args.dataset, out=str(root / "augmented"), augment=args.augment, **common)
    ens = cnnkit.train(args.model, args.dataset, out=str(root / "ensemble"), augment=args.augment, ensemble=3,
                       **common)
    tta = cnnkit.evaluate(root / "augmented", tta=args.tta)["tta"]
    ens_tta = ensemble([root / "ensemble"], tta=args.tta)["ensemble"]

    def row(s):
        return {"top1_error": s["test_top1_error"], "errors": s["test_errors"], "top5_error": s["test_top5_error"]}

    result = {"model": args.model, "dataset": args.dataset, "epochs": args.epochs, "augment": args.augment,
              "single": row(plain.summary), "single_augmented": row(aug.summary),
              "single_augmented_tta": {"top1_error": tta["top1_error"], "errors": tta["errors"], "tta": args.tta},
              "ensemble_of_3_augmented": row(ens.summary),
              "ensemble_members_mean_top1_error": ens.summary["mean_member_top1_error"],
              "ensemble_of_3_augmented_tta": {"top1_error": ens_tta["top1_error"], "errors": ens_tta["errors"]}}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
