"""Streaming image folders that do not fit in memory: decode in worker processes, batch by batch.

The trainer still decides the order (a seeded permutation, as for in-memory
data, so runs stay reproducible and resumable); a ``DataLoader`` with worker
processes decodes the files of each batch in parallel and hands over uint8
batches, pinned for a fast copy when training on a GPU.  Unreadable files are
counted and dropped from their batch instead of stopping the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from cnnkit.data.images import BadImageError, load_image


class _Files(Dataset):
    def __init__(self, files: list[Path], labels: list[int], channels: int, size: tuple[int, int]):
        self.files, self.labels, self.channels, self.size = files, labels, channels, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        try:
            return torch.from_numpy(load_image(self.files[i], self.channels, self.size)), self.labels[i]
        except BadImageError:
            return torch.zeros(self.channels, *self.size, dtype=torch.uint8), -1


def _collate(items):
    keep = [(x, y) for x, y in items if y >= 0]
    dropped = len(items) - len(keep)
    if not keep:
        return None, None, dropped
    return torch.stack([x for x, _ in keep]), torch.tensor([y for _, y in keep], dtype=torch.long), dropped


@dataclass
class StreamingData:
    """A split read from disk batch by batch; quacks like ImageData where the trainer needs it."""

    files: list[Path]
    labels_list: list[int]
    classes: list[str]
    shape: tuple[int, int, int]
    workers: int = max(1, (os.cpu_count() or 2) - 1)
    name: str = ""
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.files)

    @property
    def labels(self) -> torch.Tensor:
        return torch.tensor(self.labels_list, dtype=torch.long)

    def batches(self, order: torch.Tensor, batch_size: int, first: int = 0, pin: bool = False, rank: int = 0,
                world: int = 1):
        """Yield (uint8 images, labels) for consecutive ``batch_size`` slices of ``order`` from batch ``first``.

        Under data parallelism each rank decodes only its share of every batch.
        """
        order = order.tolist()
        chunks = [order[i:i + batch_size][rank::world] for i in range(first * batch_size, len(order), batch_size)]
        loader = DataLoader(_Files(self.files, self.labels_list, self.shape[0], self.shape[1:]), batch_sampler=chunks,
                            num_workers=self.workers, collate_fn=_collate, pin_memory=pin,
                            persistent_workers=False, prefetch_factor=4 if self.workers else None)
        for x, y, dropped in loader:
            self.dropped += dropped
            if x is not None:
                yield x, y

    def sample(self, k: int = 2000, seed: int = 0):
        """A decoded in-memory sample (for normalisation statistics)."""
        from cnnkit.data.tensors import ImageData

        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:k].sort().values
        xs, ys = [], []
        for x, y in self.batches(idx, 500):
            xs.append(x)
            ys.append(y)
        return ImageData(torch.cat(xs), torch.cat(ys), self.classes, f"{self.name} (sample)")

    def split(self, fraction: float, seed: int) -> tuple[StreamingData, StreamingData]:
        """A seeded (rest, held-out) split of the files."""
        n = len(self)
        k = int(round(n * fraction))
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        held, rest = sorted(perm[:k].tolist()), sorted(perm[k:].tolist())

        def part(idx, suffix):
            return StreamingData([self.files[i] for i in idx], [self.labels_list[i] for i in idx], self.classes,
                                 self.shape, self.workers, f"{self.name}{suffix}")
        return part(rest, ""), part(held, ":held-out")

    def subset(self, index) -> StreamingData:
        idx = torch.as_tensor(index).tolist()
        return StreamingData([self.files[i] for i in idx], [self.labels_list[i] for i in idx], self.classes,
                             self.shape, self.workers, self.name)

    def to(self, device) -> StreamingData:
        return self  # batches move to the device as they are decoded

    def decoded(self):
        """All of it, decoded into memory (for a validation or test split)."""
        return self.sample(len(self))


def streaming_split(files: list[tuple[Path, str]], classes: list[str], shape: tuple[int, int, int], name: str,
                    workers: int | None = None) -> StreamingData:
    index = {c: i for i, c in enumerate(classes)}
    data = StreamingData([f for f, _ in files], [index[c] for _, c in files], classes, shape, name=name)
    if workers is not None:
        data.workers = workers
    return data


__all__ = ["StreamingData", "streaming_split"]
