"""Streaming loader throughput: images/s decoded from an image folder with 0, 1 and 2 worker processes.

Uses the CIFAR-10 JPEG tree, unpacked once into ~/.cache/cnnkit (outside the repo),
or any folder given with --folder.  Decoding only (no training), over a fixed
random order, as the trainer asks for it.

Usage: python bench/stream.py [--folder PATH] [--images 20000] [--batch-size 256]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tarfile
import time
from pathlib import Path

import torch

from cnnkit.data.datasets import load_dataset
from cnnkit.data.sources import cache_dir, find_file
from cnnkit.data.stream import StreamingData


def cifar_tree() -> Path:
    target = cache_dir() / "cifar10-jpeg"
    if not (target / "train").is_dir():
        tarball = find_file("cifar10", "cifar10-jpeg.tar.gz")
        if tarball is None:
            raise SystemExit("cifar10-jpeg.tar.gz not found: set CNNKIT_DATA or pass --folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as tar:
            tar.extractall(target.parent, filter="data")
    return target


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", default=None)
    p.add_argument("--images", type=int, default=20_000)
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args()
    root = Path(args.folder) if args.folder else cifar_tree()
    ds = load_dataset(f"folder:{root}", input_shape=(3, 32, 32), stream=True)
    train: StreamingData = ds["train"]
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:args.images]
    result = {"folder": str(root), "images": len(order), "batch_size": args.batch_size, "images_per_second": {}}
    for workers in (0, 1, 2):
        train.workers = workers
        start = time.perf_counter()
        n = sum(len(y) for _, y in train.batches(order, args.batch_size))
        result["images_per_second"][f"workers={workers}"] = round(n / (time.perf_counter() - start))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
