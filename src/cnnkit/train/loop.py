"""The plain core: ``train_one_epoch`` and ``fit``, with callbacks for everything else.

The hot loop gathers a batch of uint8 images by index from tensors already on
the device, normalises and augments it as tensor ops, and accumulates loss and
correct counts on the device: nothing per sample, no host sync per step.
Progress bars, printing and checkpoints hang on :class:`Callback` hooks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from cnnkit.data.augment import Augmenter
from cnnkit.data.stream import StreamingData
from cnnkit.data.tensors import ImageData
from cnnkit.errors import CnnkitError
from cnnkit.evaluate.tasks import Task
from cnnkit.train.config import TrainConfig
from cnnkit.train.optim import CURVATURE_PATTERNS, SDLM, estimate_curvature, set_lr
from cnnkit.train.schedule import LRSchedule


@dataclass
class FitState:
    """Everything that changes while training; what a checkpoint restores."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    history: list[dict] = field(default_factory=list)  # one metrics row per completed epoch
    best_val_error: float | None = None
    # an epoch stopped part-way by Ctrl-C: where it stopped and its running sums
    partial: dict | None = None


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) took effect between two steps; ``state.partial`` says where."""


class Callback:
    """Hooks of the training loop; every method does nothing unless overridden."""

    def on_fit_begin(self, state: FitState) -> None: ...
    def on_epoch_begin(self, state: FitState, batches: int) -> None: ...
    def on_batch_end(self, state: FitState, batch: int, loss: torch.Tensor, images: int) -> None: ...
    def on_epoch_end(self, state: FitState, row: dict) -> None: ...
    def on_message(self, text: str) -> None: ...
    def on_fit_end(self, state: FitState) -> None: ...
    def bind(self, trainer: Trainer) -> None:
        """Called once by the trainer that holds this callback, at its construction."""


@dataclass
class Trainer:
    """The parts a fit needs, passed in rather than built inside."""

    model: nn.Module
    normalizer: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    cfg: TrainConfig
    task: Task  # the loss, the batch targets and the metrics
    augmenter: Augmenter
    data_gen: torch.Generator  # shuffling order
    aug_gen: torch.Generator  # augmentation randomness
    callbacks: list[Callback] = field(default_factory=list)
    # data-parallel training (torchrun): this process's rank, the world size, and the DDP-wrapped model
    rank: int = 0
    world: int = 1
    parallel_model: nn.Module | None = None
    step_model: nn.Module | None = None  # torch.compile'd model for the training step, when asked for
    amp_dtype: torch.dtype | None = None  # autocast dtype (bf16 / fp16), None for full precision
    scaler: torch.amp.GradScaler | None = None  # fp16 loss scaling
    stop_requested: bool = False  # set by a signal handler; honoured between steps
    epoch_data_state: torch.Tensor | None = None  # data_gen state before this epoch's shuffle

    def __post_init__(self) -> None:
        # max-norm's layer, found once rather than on every step: the network's last fully connected layer
        self.output_layer = next((m for m in reversed(list(self.model.modules())) if isinstance(m, nn.Linear)), None)
        self.task.bind(self)
        for cb in self.callbacks:
            cb.bind(self)

    def check_finite(self, loss: torch.Tensor, state: FitState) -> None:
        """A NaN or infinite loss stops the run with advice (free on a CPU; on a GPU checked once an epoch)."""
        if not loss.is_cuda and not math.isfinite(loss.item()):
            raise CnnkitError(f"the training loss became {loss.item()} in epoch {state.epoch + 1}, step "
                              f"{state.step + 1}; try a lower learning rate than {self.cfg.lr:g} (the last "
                              f"checkpoint is kept)")

    @torch.no_grad()
    def constrain_output_norm(self) -> None:
        """Kim 2014's max-norm: each output unit's weight vector rescaled to an L2 norm of at most ``max_norm``."""
        if self.output_layer is not None:
            w = self.output_layer.weight
            w.copy_(torch.renorm(w, 2, 0, self.cfg.max_norm))

    def notify(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    @property
    def forward_module(self) -> nn.Module:
        """What the training step calls: the DDP wrapper, else the compiled model, else the model."""
        for m in (self.parallel_model, self.step_model):
            if m is not None:
                return m
        return self.model

    def _batches(self, data, order: torch.Tensor, first: int, device):
        """(uint8 images, labels or per-head targets, other inputs or None) of each batch from ``first`` on,
        for this rank, on ``device``."""
        b = self.cfg.batch_size
        if isinstance(data, StreamingData):  # decoded by worker processes, batch by batch
            for x, y in data.batches(order, b, first, pin=device.type == "cuda", rank=self.rank, world=self.world):
                yield x.to(device, non_blocking=True), y.to(device, non_blocking=True), None
            return
        for i in range(first * b, len(order), b):
            idx = order[i:i + b]
            if self.world > 1:  # this rank's share of the global batch; DDP averages the gradients
                idx = idx[self.rank::self.world]
            extras = {k: v[idx] for k, v in data.extras.items()} if data.extras else None
            targets = {k: v[idx] for k, v in data.targets.items()} if data.targets else data.labels[idx]
            yield data.images[idx], targets, extras  # (images, labels or {head: targets}, other inputs)

    def _refresh_curvature(self, data, epoch: int) -> None:
        """SDLM's Gauss-Newton diagonal, re-estimated on a seeded sample of patterns before each pass (the
        sample depends only on the seed and the epoch, so a resumed run draws the same one)."""
        if isinstance(data, StreamingData) or data.extras or data.targets or self.task.name != "classify":
            raise CnnkitError("optimizer sdlm estimates the curvature of a classifier's cross-entropy on images "
                              "held in memory; use it for single-input classification (or choose sgd/adam)")
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
        idx = torch.randperm(len(data), generator=g)[:CURVATURE_PATTERNS]
        x = self.normalizer(data.images[idx.to(data.images.device)])
        self.optimizer.set_curvature(estimate_curvature(self.model, x, g))

    def train_one_epoch(self, data: ImageData | StreamingData, state: FitState) -> dict:
        cfg = self.cfg
        model, n = self.model, len(data)
        batches = math.ceil(n / cfg.batch_size)
        model.train()
        partial, state.partial = state.partial, None
        if partial is not None:  # resume inside an epoch: same shuffle, same running sums
            self.data_gen.set_state(partial["data_gen"])
        self.epoch_data_state = self.data_gen.get_state()
        dev = next(model.parameters()).device
        if partial is None and isinstance(self.optimizer, SDLM):
            self._refresh_curvature(data, state.epoch)
        order = torch.randperm(n, generator=self.data_gen)
        if not isinstance(data, StreamingData):
            order = order.to(data.images.device)
        total_loss = torch.tensor(partial["loss_sum"] if partial else 0.0, device=dev)
        stat = torch.tensor(partial["correct"] if partial else 0.0, device=dev, dtype=torch.float64)
        seen = partial.get("seen", 0) if partial else 0
        first = partial["batch"] if partial else 0
        self.notify("on_epoch_begin", state, batches)
        start = time.perf_counter() - (partial["seconds"] if partial else 0.0)
        for i, (images, y, extras) in enumerate(self._batches(data, order, first, dev), start=first):
            images, y = self.task.batch(images, y, self.aug_gen)  # rotation, denoising, reconstruction targets
            x = self.normalizer(images)  # (B, C, H, W) float
            if self.augmenter:
                x = self.augmenter(x, self.aug_gen)
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            set_lr(self.optimizer, self.schedule.lr_at(state.step))
            if extras:  # a multi-input network: the images and the vectors beside them
                x = {self.model.image_input: x, **extras}
            loss, out = self.task.train_step(self, x, y, state)  # the task owns the step
            state.step += 1
            seen += len(images)
            with torch.no_grad():
                total_loss += loss.detach() * len(images)
                stat = stat + self.task.step_stat(out, y)  # a scalar, or one per head
            self.notify("on_batch_end", state, i, loss, len(images))
            if self.stop_requested and i + 1 < batches:
                state.partial = {"batch": i + 1, "loss_sum": float(total_loss), "correct": stat.tolist(),
                                 "seen": seen, "seconds": time.perf_counter() - start,
                                 "data_gen": self.epoch_data_state}
                raise Interrupted()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        if self.world > 1:  # every rank saw a disjoint share: add them up
            import torch.distributed as dist

            sums = torch.stack([total_loss.double(), stat.double(), torch.tensor(float(seen), device=dev)])
            dist.all_reduce(sums)
            total_loss, stat, seen = sums[0], sums[1], int(sums[2])
        seen = max(seen, 1)
        train_loss = float(total_loss) / seen
        if not math.isfinite(train_loss):
            raise CnnkitError(f"the training loss became {train_loss} in epoch {state.epoch + 1}, at or before "
                              f"step {state.step}; try a lower learning rate than {cfg.lr:g} (the last checkpoint "
                              f"is kept)")
        return {"epoch": state.epoch + 1, "seconds": round(seconds, 4), "train_loss": train_loss,
                **self.task.train_row(stat.tolist(), seen), "lr": self.schedule.lr_at(max(0, state.step - 1)),
                "images": seen, "images_per_second": round(seen / seconds, 1) if seconds > 0 else None}

    def scores_of(self, data: ImageData) -> dict:
        return self.task.score(self.model, self.normalizer, data.images, data.targets or data.labels,
                               self.cfg.eval_batch_size, data.extras or None)

    def fit(self, train: ImageData, val: ImageData | None, test: ImageData | None, state: FitState) -> FitState:
        self.notify("on_fit_begin", state)
        key = self.task.headline
        while state.epoch < self.cfg.epochs:
            row = self.train_one_epoch(train, state)
            if val is not None:
                row.update({f"val_{k}": v for k, v in self.scores_of(val).items() if k != "errors"})
            if test is not None and self.cfg.eval_test_every_epoch:
                row.update({f"test_{k}": v for k, v in self.scores_of(test).items() if k != "errors"})
            state.epoch += 1
            state.history.append(row)
            message = self.schedule.end_epoch(row.get(f"val_{key}"))
            improved = val is not None and (state.best_val_error is None
                                            or row[f"val_{key}"] < state.best_val_error)
            if improved:
                state.best_val_error = row[f"val_{key}"]
            row["best"] = bool(improved)
            self.notify("on_epoch_end", state, row)
            if message:
                self.notify("on_message", message)
        self.notify("on_fit_end", state)
        return state
