"""Training throughput: the lecture's plain PyTorch loop vs cnnkit's trainer, alternating in one process.

The plain loop is a faithful copy of the lecture's LeNet-5 code (the slides'
``LeNet5`` class, a per-sample ``Dataset`` that converts and normalises each
image, ``DataLoader(batch_size=64, shuffle=True)``, SGD with momentum, a
``.item()`` per step).  cnnkit trains the same architecture on the same data
with the named recipe.  Both are timed over whole epochs of the training loop
only (no dataset loading), alternately, and the medians are compared.
``--native-off`` adds a third rival: cnnkit with its C kernels (convolution
and pooling) switched off (``CNNKIT_NATIVE=0``), to show what they add.

Usage: python bench/throughput.py [--rounds 3] [--recipe fast] [--inference] [--native-off]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
import warnings

import torch
from torch.utils.data import DataLoader, Dataset

import cnnkit
from cnnkit.data import load_dataset
from cnnkit.layers import native


# ----------------------------------------------------------------------------- the lecture's code
class LeNet5(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(in_channels=1, out_channels=6, kernel_size=5, stride=1, padding=2, bias=True)
        self.max_pool_1 = torch.nn.MaxPool2d(kernel_size=2)
        self.conv2 = torch.nn.Conv2d(in_channels=6, out_channels=16, kernel_size=5, stride=1, padding=0, bias=True)
        self.max_pool_2 = torch.nn.MaxPool2d(kernel_size=2)
        self.fc1 = torch.nn.Linear(16 * 5 * 5, 120)
        self.fc2 = torch.nn.Linear(120, 84)
        self.fc3 = torch.nn.Linear(84, 10)

    def forward(self, x):
        x = torch.nn.functional.relu(self.conv1(x))
        x = self.max_pool_1(x)
        x = torch.nn.functional.relu(self.conv2(x))
        x = self.max_pool_2(x)
        x = x.view(-1, 16 * 5 * 5)
        x = torch.nn.functional.relu(self.fc1(x))
        x = torch.nn.functional.relu(self.fc2(x))
        return self.fc3(x)


class MNISTDataset(Dataset):
    """Per-sample access, as torchvision's MNIST with ToTensor() + Normalize((0.1307,), (0.3081,))."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = self.images[i].float().div(255.0)
        return (x - 0.1307) / 0.3081, int(self.labels[i])


def plain_epoch(images, labels) -> float:
    """One epoch of the tutorial loop; returns images per second."""
    net = LeNet5()
    loader = DataLoader(MNISTDataset(images, labels), batch_size=64, shuffle=True)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    start = time.perf_counter()
    running_loss = 0.0
    for inputs, targets in loader:
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    return len(labels) / (time.perf_counter() - start)


def cnnkit_epoch(recipe: str, data_dir, native_kernels: bool = True) -> float:
    """One epoch of cnnkit's trainer (training loop only, as it reports in metrics.jsonl)."""
    os.environ["CNNKIT_NATIVE"] = "1" if native_kernels else "0"
    native.library.cache_clear()
    with tempfile.TemporaryDirectory() as d:
        r = cnnkit.train("lenet5", "mnist", out=f"{d}/run", quiet=True, epochs=1, data_dir=data_dir,
                         recipe=None if recipe == "default" else recipe)
        return r.history[0]["images_per_second"]


@torch.inference_mode()
def inference_rate(model: str, shape, batch: int, seconds: float = 5.0, compiled: bool = False) -> float:
    from cnnkit.evaluate.metrics import compiled_for_inference

    net = cnnkit.build(model).eval().to(memory_format=torch.channels_last)
    x = torch.randn(batch, *shape).contiguous(memory_format=torch.channels_last)
    if compiled:
        net = compiled_for_inference(net)
    net(x)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        net(x)
        n += batch
    return n / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--recipe", default="fast", help="cnnkit recipe: fast or default")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--inference", action="store_true", help="also measure inference images/s")
    p.add_argument("--native-off", action="store_true", help="also time cnnkit without its C kernels")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    ds = load_dataset("mnist", args.data_dir)
    images, labels = ds["train"].images, ds["train"].labels
    plain, ours, no_native = [], [], []
    for _ in range(args.rounds):
        plain.append(plain_epoch(images, labels))
        ours.append(cnnkit_epoch(args.recipe, args.data_dir))
        if args.native_off:
            no_native.append(cnnkit_epoch(args.recipe, args.data_dir, native_kernels=False))
    os.environ["CNNKIT_NATIVE"] = "1"
    native.library.cache_clear()
    result = {
        "threads": torch.get_num_threads(), "torch": torch.__version__, "rounds": args.rounds,
        "plain_loop_images_per_second": [round(v) for v in plain],
        "cnnkit_images_per_second": [round(v) for v in ours],
        "plain_median": round(statistics.median(plain)), "cnnkit_median": round(statistics.median(ours)),
        "ratio": round(statistics.median(ours) / statistics.median(plain), 2),
        "cnnkit_recipe": args.recipe, "native_kernels": native.library() is not None,
    }
    if no_native:
        result["cnnkit_without_native_images_per_second"] = [round(v) for v in no_native]
        result["native_speedup"] = round(statistics.median(ours) / statistics.median(no_native), 3)
    if args.inference:
        result["lenet5_inference_images_per_second"] = {
            "eager": round(inference_rate("lenet5", (1, 28, 28), 1024)),
            "compiled": round(inference_rate("lenet5", (1, 28, 28), 1024, compiled=True))}
        result["alexnet_227_inference_images_per_second"] = {
            "eager": round(inference_rate("alexnet", (3, 227, 227), 32), 1),
            "compiled": round(inference_rate("alexnet", (3, 227, 227), 32, compiled=True), 1)}
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
