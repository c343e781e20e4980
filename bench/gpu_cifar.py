"""CIFAR-10 on one GPU: cnnkit's ``cifar-speed`` recipe next to airbench94, same GPU, same data.

Both read the same images: whatever CIFAR-10 cnnkit's loader finds for
``--dataset`` (``cifar10-jpeg``, the shared JPEG export, by default; ``cifar10``
for the official batches).  airbench reads ``cifar10/{train,test}.pt`` from its
working directory, so this script writes those files from cnnkit's tensors
into a temporary directory and runs airbench there (no download).

Timing follows airbench's own convention for both: training seconds (CUDA
events / a synchronised clock) plus the final test-time-augmented evaluation;
the per-epoch evaluations that print progress are not counted.  One warm-up
run of each comes first (cuDNN autotuning, torch.compile), as airbench's README
asks.

Usage (on a machine with a GPU, never in CI):
    python bench/gpu_cifar.py [--runs 3] [--dataset cifar10-jpeg] [--epochs N]
Needs the PyPI package ``airbench`` (and torchvision, which it imports).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import cnnkit
from cnnkit.data import load_dataset


def write_airbench_files(dataset: str, folder: Path) -> None:
    """airbench's data layout: {'images': uint8 N×H×W×C, 'labels': int64 N, 'classes': [...]}."""
    ds = load_dataset(dataset)
    (folder / "cifar10").mkdir(parents=True, exist_ok=True)
    for split, name in ((ds["train"], "train.pt"), (ds["test"], "test.pt")):
        torch.save({"images": split.images.permute(0, 2, 3, 1).contiguous(), "labels": split.labels.long(),
                    "classes": list(ds.classes)}, folder / "cifar10" / name)


def run_airbench(runs: int) -> list[dict]:
    import airbench
    from airbench.utils import CifarLoader

    airbench.warmup94(verbose=False)
    test_loader = CifarLoader("cifar10", train=False, batch_size=2000)
    out = []
    for run in range(runs):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            model = airbench.train94(run=run)
        rows = [line.strip("|").split("|") for line in buf.getvalue().splitlines() if line.startswith("|")]
        final = [[c.strip() for c in r] for r in rows if len(r) >= 7 and r[1].strip() == "eval"][-1]
        acc = airbench.evaluate(model, test_loader, tta_level=2)
        out.append({"run": run, "seconds": float(final[6]), "tta_accuracy": round(acc, 4),
                    "printed_tta_accuracy": float(final[5])})
        print(f"airbench94 run {run}: {out[-1]}", file=sys.stderr, flush=True)
    return out


def run_cnnkit(runs: int, dataset: str, target: float, device: str, **overrides) -> list[dict]:
    from cnnkit.evaluate.tta import predict_proba
    from cnnkit.rundir.artifacts import load
    from cnnkit.train.config import resolve_config

    test = load_dataset(dataset)["test"]
    tta = resolve_config("cifar-speed", dict(overrides)).tta
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    out = []
    with tempfile.TemporaryDirectory() as d:
        cnnkit.train("cifar-speed", dataset, out=f"{d}/warmup", quiet=True, epochs=1,
                     device=device, **{k: v for k, v in overrides.items() if k != "epochs"})
        for seed in range(runs):
            start = time.perf_counter()
            r = cnnkit.train("cifar-speed", dataset, out=f"{d}/run{seed}", quiet=True,
                             seed=seed, device=device, eval_test_every_epoch=True, **overrides)
            wall = time.perf_counter() - start
            # the final TTA evaluation, timed like airbench's (synchronised)
            trained = load(r.path)
            model, normalizer = trained.model.to(dev), trained.normalizer.to(dev)
            sync()
            t0 = time.perf_counter()
            probs = predict_proba(model, normalizer, test.images.to(dev), tta, 2000)
            acc = float((probs.argmax(1).cpu() == test.labels).float().mean())
            sync()
            tta_s = time.perf_counter() - t0
            elapsed, first = 0.0, None
            for row in r.history:
                elapsed += row["seconds"]
                if first is None and 1 - row["test_top1_error"] >= target:
                    first = {"epoch": row["epoch"], "seconds": round(elapsed, 3)}
            out.append({"seed": seed, "train_seconds": round(r.summary["train_seconds"], 3),
                        "tta_seconds": round(tta_s, 3),
                        "seconds": round(r.summary["train_seconds"] + tta_s, 3), "tta_accuracy": round(acc, 4),
                        "accuracy_no_tta": round(1 - r.summary["test_top1_error"], 4),
                        "first_epoch_at_target_no_tta": first, "wall_seconds": round(wall, 1),
                        "epoch_seconds": [row["seconds"] for row in r.history],
                        "epoch_accuracy": [round(1 - row["test_top1_error"], 4) for row in r.history]})
            print(f"cnnkit run {seed}: {out[-1]}", file=sys.stderr, flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dataset", default="cifar10-jpeg")
    p.add_argument("--target", type=float, default=0.94)
    p.add_argument("--skip-airbench", action="store_true")
    p.add_argument("--epochs", type=int, default=0, help="override the recipe's epochs")
    p.add_argument("--batch-size", type=int, default=0)
    p.add_argument("--lr", type=float, default=0.0)
    p.add_argument("--device", default="cuda", help="cpu: a smoke test of this script (airbench is skipped)")
    p.add_argument("--limit-train", type=int, default=0, help="smoke tests: train on the first N images only")
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench/gpu_cifar.py needs a CUDA GPU (or --device cpu for a smoke test)")
    overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr),
                                   ("limit_train", args.limit_train)) if v}
    gpu = torch.cuda.get_device_name() if args.device == "cuda" else "none (cpu)"
    result = {"gpu": gpu, "torch": torch.__version__, "dataset": args.dataset,
              "target_accuracy": args.target}
    cnnkit_runs = run_cnnkit(args.runs, args.dataset, args.target, args.device, **overrides)
    result["cnnkit"] = {"runs": cnnkit_runs, "median_seconds": statistics.median(r["seconds"] for r in cnnkit_runs),
                        "mean_tta_accuracy": round(statistics.mean(r["tta_accuracy"] for r in cnnkit_runs), 4),
                        "overrides": overrides}
    if not args.skip_airbench and args.device == "cuda":
        home = Path.cwd()
        with tempfile.TemporaryDirectory() as d:
            write_airbench_files(args.dataset, Path(d))
            os.chdir(d)
            try:
                ab = run_airbench(args.runs)
            finally:
                os.chdir(home)
        result["airbench94"] = {"runs": ab, "median_seconds": statistics.median(r["seconds"] for r in ab),
                                "mean_tta_accuracy": round(statistics.mean(r["tta_accuracy"] for r in ab), 4)}
        result["time_ratio_cnnkit_over_airbench"] = round(result["cnnkit"]["median_seconds"]
                                                          / result["airbench94"]["median_seconds"], 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
