"""A training run: config + data + model -> a run directory that describes itself.

``runs/NAME/`` holds ``config.json`` (the resolved config), ``config_sources.json``
(where each value came from: defaults, the model's recipe, a named recipe, a
config file, the options), ``spec.json``, ``metrics.jsonl`` (one row per epoch),
``checkpoint.safetensors`` (everything needed to resume: weights, optimizer,
schedule, RNG states, history, what the task owns), ``model.safetensors`` /
``best.safetensors`` (+ ``.json`` sidecars), ``familiarity.safetensors`` (the
calibration of predict's low-confidence flag) and ``summary.json`` with the
final test metrics.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cnnkit.data import Dataset, load_dataset
from cnnkit.data.augment import Augmenter, default_preset
from cnnkit.data.preprocess import Normalizer
from cnnkit.data.stream import StreamingData
from cnnkit.data.tensors import ImageData, fit_method, fit_to_input, sample_indices, split
from cnnkit.errors import CnnkitError
from cnnkit.evaluate.metrics import classification_metrics, predict_logits
from cnnkit.evaluate.tasks import make_task
from cnnkit.layers import build_from_spec, native, with_num_classes
from cnnkit.layers.init import initialize
from cnnkit.models import resolve_spec
from cnnkit.rundir.artifacts import model_tensors, read_weights, save_weights, versions
from cnnkit.rundir.files import load_json, optimizer_from_files, optimizer_to_files, save_json, write_atomic
from cnnkit.spec import spec_to_data
from cnnkit.train import distributed
from cnnkit.train.config import TrainConfig, describe_sources, resolve_with_sources, validate
from cnnkit.train.distributed import world_from_env
from cnnkit.train.loop import Callback, FitState, Trainer
from cnnkit.train.optim import freeze_bn_scales, make_optimizer, whiten_stem
from cnnkit.train.schedule import LRSchedule


@dataclass
class RunResult:
    path: Path
    summary: dict
    history: list[dict]


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise CnnkitError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def set_gpu_determinism(deterministic: bool) -> None:
    """Fast by default: cuDNN times its algorithms once per input shape and keeps the fastest.

    Those algorithms (and some scatter/atomic kernels) may sum in a different
    order from run to run, so a resumed GPU run is close to, not bit-identical
    with, an uninterrupted one.  ``deterministic`` trades speed for exact
    reproducibility, as the CPU path always has it.
    """
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's requirement for determinism
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


# ------------------------------------------------------------------ callbacks
class ProgressBar(Callback):
    """A tqdm bar per epoch with live loss and throughput (only on a terminal)."""

    def __init__(self, total_epochs: int, every: int = 20):
        self.total, self.every, self.bar = total_epochs, every, None

    def on_epoch_begin(self, state, batches):
        from tqdm import tqdm

        self.bar = tqdm(total=batches, desc=f"epoch {state.epoch + 1}/{self.total}", unit="batch", leave=False,
                        disable=None, dynamic_ncols=True)
        self.images, self.start = 0, time.perf_counter()

    def on_batch_end(self, state, batch, loss, images):
        self.images += images
        if self.bar is not None and not self.bar.disable:
            self.bar.update(1)
            if batch % self.every == 0:
                rate = self.images / max(1e-9, time.perf_counter() - self.start)
                self.bar.set_postfix(loss=f"{float(loss):.4f}", img_s=f"{rate:,.0f}")

    def on_epoch_end(self, state, row):
        if self.bar is not None:
            self.bar.close()


class EpochPrinter(Callback):
    """One line per epoch: loss, errors, LR, seconds, images/s."""

    def __init__(self, total_epochs: int, stream=None):
        self.total, self.stream = total_epochs, stream or sys.stdout

    def on_epoch_end(self, state, row):
        parts = [f"epoch {row['epoch']:>{len(str(self.total))}}/{self.total}", f"loss {row['train_loss']:.4f}"]
        for part in ("train", "val", "test"):
            for key, value in row.items():
                if not key.startswith(part + "_") or key == "train_loss" or "top5" in key:
                    continue
                what = key[len(part) + 1:]
                shown = f"{100 * value:.2f}%" if what.endswith("top1_error") else f"{value:.4f}"
                parts.append(f"{part} {what.replace('top1_error', 'err')} {shown}")
        parts += [f"lr {row['lr']:.4g}", f"{row['seconds']:.1f}s", f"{row['images_per_second']:,.0f} img/s"]
        print("  ".join(parts), file=self.stream, flush=True)

    def on_message(self, text):
        print(text, file=self.stream, flush=True)


class RunWriter(Callback):
    """Writes checkpoint, best weights and metrics after every epoch, each atomically."""

    def __init__(self, run: RunContext):
        self.run, self.trainer = run, None

    def bind(self, trainer) -> None:
        self.trainer = trainer

    def on_epoch_end(self, state, row):
        self.run.save_checkpoint(self.trainer, state)
        if row.get("best"):
            self.run.save_model(self.trainer, "best", state)
        self.run.write_metrics(state.history)


# ------------------------------------------------------------------ the run
@dataclass
class RunContext:
    """What one run writes and where: the trainer whose state it saves is passed to each call."""

    path: Path
    cfg: TrainConfig
    classes: list[str]
    dataset: str
    source_shape: tuple[int, int, int]
    appearance: dict  # {"background": "dark"|"light"|None, "digits": bool}: how predict converts pictures
    vocabulary: Any = None  # text runs: the tokeniser's vocabulary, so predict encodes as training did

    def meta(self, t: Trainer, state: FitState) -> dict:
        return {"spec": spec_to_data(t.model.spec), "classes": self.classes, "dataset": self.dataset,
                "task": t.task.name, "task_state": t.task.state(), **self.appearance,
                "normalizer": t.normalizer.describe(), "source_shape": list(self.source_shape),
                "fit": fit_method(self.source_shape, t.model.input_shape), "epoch": state.epoch,
                "versions": versions(),
                **({"vocabulary": self.vocabulary.to_json(), "split_seed": self.cfg.seed} if self.vocabulary else {}),
                **({"fold": [self.cfg.fold, self.cfg.folds], "split_seed": self.cfg.seed} if self.cfg.fold else {})}

    def save_model(self, t: Trainer, which: str, state: FitState) -> None:
        save_weights(self.path / f"{which}.safetensors", model_tensors(t.model, t.normalizer), self.meta(t, state))

    def save_checkpoint(self, t: Trainer, state: FitState) -> None:
        tensors = model_tensors(t.model, t.normalizer)
        opt_tensors, opt_plain = optimizer_to_files(t.optimizer)
        tensors.update(opt_tensors)
        tensors["rng.torch"] = torch.get_rng_state()
        partial = state.partial
        tensors["rng.data"] = partial["data_gen"] if partial else t.data_gen.get_state()
        tensors["rng.aug"] = t.aug_gen.get_state()
        tensors.update({f"task.{k}": v for k, v in t.task.state_tensors().items()})
        if torch.cuda.is_available() and t.aug_gen.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state()
        meta = self.meta(t, state)
        part = {k: v for k, v in partial.items() if k != "data_gen"} if partial else None
        meta.update({"checkpoint": {"epoch": state.epoch, "step": state.step, "history": state.history,
                                    "partial": part,
                                    "best_val_error": state.best_val_error, "optimizer": opt_plain,
                                    "schedule": t.schedule.state_dict(), "config": self.cfg.to_dict()}})
        save_weights(self.path / "checkpoint.safetensors", tensors, meta, sidecar=False)

    def restore(self, t: Trainer, state: FitState, write: bool = True) -> None:
        tensors, meta = read_weights(self.path / "checkpoint.safetensors")
        ck = meta["checkpoint"]
        t.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        t.normalizer.load_state_dict({k[11:]: v for k, v in tensors.items() if k.startswith("normalizer.")})
        optimizer_from_files(t.optimizer, tensors, ck["optimizer"])
        t.schedule.load_state_dict(ck["schedule"])
        torch.set_rng_state(tensors["rng.torch"])
        t.data_gen.set_state(tensors["rng.data"])
        t.aug_gen.set_state(tensors["rng.aug"])
        t.task.load_state_tensors({k[5:]: v for k, v in tensors.items() if k.startswith("task.")})
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        state.epoch, state.step = ck["epoch"], ck["step"]
        state.history = ck["history"]
        state.best_val_error = ck["best_val_error"]
        if ck.get("partial"):
            state.partial = dict(ck["partial"], data_gen=tensors["rng.data"])
        if write:
            self.write_metrics(state.history)  # metrics always agree with the checkpoint

    def write_metrics(self, history: list[dict]) -> None:
        lines = "".join(json.dumps({k: v for k, v in row.items() if k != "best"}) + "\n" for row in history)
        write_atomic(self.path / "metrics.jsonl", lines.encode())


class RunLock:
    """An exclusive lock file: a second process writing the same run gets a clear error."""

    def __init__(self, path: Path):
        self.file = path / "run.lock"

    def __enter__(self):
        try:
            fd = os.open(self.file, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(self.file.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid):
                raise CnnkitError(f"{self.file.parent} is being written by another cnnkit process (pid {pid}); "
                                  f"wait for it or choose another --out") from None
            self.file.unlink(missing_ok=True)  # stale lock of a killed run
            fd = os.open(self.file, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return self

    def __exit__(self, *exc):
        self.file.unlink(missing_ok=True)


@contextlib.contextmanager
def graceful_stop(trainer: Trainer):
    """First Ctrl-C / SIGTERM: finish the current step, checkpoint, stop. A second Ctrl-C stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = True

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


def default_out(cfg: TrainConfig) -> Path:
    base = Path("runs") / f"{Path(cfg.model).stem}-{cfg.dataset.replace('folder:', '').replace('/', '_').strip('_')}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


# ------------------------------------------------------------------ data
@dataclass
class PreparedData:
    train: ImageData | StreamingData
    val: ImageData | None
    test: ImageData | None
    classes: list[str]
    source_shape: tuple[int, int, int]
    name: str
    notes: list[str]
    appearance: dict
    vocabulary: Any = None  # text: the tokeniser's vocabulary, fitted on the training split


def prepare_data(cfg: TrainConfig, input_shape: tuple[int, int, int], data: Dataset | None = None) -> PreparedData:
    """Load (or take) the dataset, cut the limits and the validation split, fit images to the model."""
    text_options = {"text_column": cfg.text_column or None, "label_column": cfg.label_column or None,
                    "min_count": cfg.min_count, "max_size": cfg.max_vocab,
                    "fold": (cfg.fold, cfg.folds) if cfg.fold else None}
    ds = data if data is not None else load_dataset(cfg.dataset, cfg.data_dir, input_shape=input_shape,
                                                    seed=cfg.seed, strict=cfg.strict, stream=cfg.stream,
                                                    text_options=text_options)
    train = ds["train"]
    test = ds.splits.get("test")
    if cfg.fold and ds.vocabulary is None:  # images: fold k of the training split is the test split
        if isinstance(train, StreamingData):
            raise CnnkitError("--folds needs the data in memory; drop --stream")
        from cnnkit.data.text import stratified_folds

        part = stratified_folds(train.labels.tolist(), cfg.folds, cfg.seed)[cfg.fold - 1]
        rest = sorted(set(range(len(train))) - set(part))
        train, test = train.subset(rest), train.subset(part)
    source = train.shape
    # limits take a fixed random sample (not the first N: image folders are sorted by class)
    if cfg.limit_train:
        train = train.subset(sample_indices(len(train), cfg.limit_train))
    if test is not None and cfg.limit_test:
        test = test.subset(sample_indices(len(test), cfg.limit_test))
    val = ds.splits.get("val")
    if isinstance(train, StreamingData):
        if cfg.workers:
            train.workers = cfg.workers
        if val is None and cfg.val_split > 0:
            train, held = train.split(cfg.val_split, cfg.seed)
            val = held.decoded()
    elif val is None and cfg.val_split > 0:
        train, val = split(train, cfg.val_split, cfg.seed)

    def fit(d):
        if d is None or isinstance(d, StreamingData) or d.is_text:  # streamed: decoded at the model's size; text:
            return d  # encoded at the model's length
        return ImageData(fit_to_input(d.images, input_shape), d.labels, d.classes, d.name, extras=d.extras,
                         targets=d.targets, target_classes=d.target_classes)

    from cnnkit.data.images import background_of

    sample = train.sample(2000, cfg.seed) if isinstance(train, StreamingData) else train
    text = not isinstance(train, StreamingData) and train.is_text
    if text != (tuple(input_shape[:2]) == (1, 1)):
        reads = "images of " + "x".join(map(str, input_shape)) if text else "token ids"
        raise CnnkitError(f"{ds.name} holds {'text' if text else 'images'}, but the model reads {reads}: choose a "
                          f"{'text model (kim-cnn, lstm-text, ...)' if text else 'model for images'}")
    if text and cfg.augment:
        raise CnnkitError(f"--augment {cfg.augment} transforms images; {ds.name} is text (drop --augment)")
    appearance = {"background": 0 if text else background_of(sample.images),
                  "digits": bool(getattr(ds, "digits", False))}
    notes = list(ds.notes)
    for flag, value in (("--augment", cfg.augment), ("--tta", cfg.tta)):
        flips = any(t.strip().split(":")[0] == "flip" for t in value.split(","))
        warning = ds.flip_warning(f"{flag} {value}") if flips else None
        if warning:
            notes.append(warning)
    return PreparedData(fit(train), fit(val), fit(test), ds.classes, source, ds.name, notes, appearance,
                        ds.vocabulary)


# ------------------------------------------------------------------ entry point
def train(model: Any = None, dataset: str | None = None, *, config: str | Path | None = None,
          recipe: str | None = None, resume: str | Path | None = None, quiet: bool = False,
          callbacks: list[Callback] | None = None, data: Dataset | None = None, **overrides) -> RunResult:
    """Train a model; see :class:`~cnnkit.train.config.TrainConfig` for the options.

    ``cnnkit.train("lenet5", "mnist", epochs=3, out="runs/quick")``; pass
    ``resume="runs/quick"`` to continue an interrupted run where it stopped.
    ``recipe="fast"`` layers a named recipe (``cnnkit/recipes/fast.yaml``)
    over the model's defaults, under ``config`` and the keyword options.
    ``data`` trains on an in-memory :class:`~cnnkit.data.Dataset` (e.g. built
    with :func:`~cnnkit.data.from_arrays`) instead of a named one.
    """
    if isinstance(data, ImageData):  # from_arrays(X, y): all of it trains; there is no test split to score
        data = Dataset(data.name, {"train": data}, list(data.classes))
    if data is not None:
        overrides["dataset"] = data.name
    elif dataset is not None:
        overrides["dataset"] = dataset
    if resume is not None and Path(resume).exists() and not Path(resume).is_dir():
        raise CnnkitError(f"--resume {resume}: that is a file, not a run directory")
    if resume is not None and not Path(resume).exists() and model is None and "model" not in overrides \
            and config is None:
        raise CnnkitError(f"no run directory {resume} to resume; give the folder a run was written to (its --out), "
                          f"or the model and options to start it there")
    sources: dict[str, str] = {}
    if resume is not None and (Path(resume) / "config.json").exists():
        cfg = _resume_config(Path(resume), model, overrides)
        out = Path(resume)
    elif resume is not None and not (Path(resume) / "checkpoint.safetensors").exists():
        # killed before it wrote anything: start afresh in the same directory with the options given
        cfg, sources = resolve_with_sources(model if isinstance(model, str) else overrides.pop("model", None),
                                            overrides, config, recipe)
        out = Path(resume)
        cfg.out = str(out)
    elif resume is not None:
        raise CnnkitError(f"cannot resume {resume}: it has a checkpoint but no config.json")
    else:
        if model is None and "model" not in overrides and config is None:
            raise CnnkitError("no model given: name a zoo model or a spec file")
        cfg, sources = resolve_with_sources(model if isinstance(model, str) else overrides.pop("model", None),
                                            overrides, config, recipe)
        if not cfg.dataset:
            raise CnnkitError(f"no dataset given for {cfg.model}: pass --dataset (e.g. mnist, cifar10, "
                              f"folder:PATH)")
        resolve_spec(cfg.model)  # an unknown model or a broken spec fails before any directory exists
        out = Path(cfg.out) if cfg.out else default_out(cfg)
        if out.exists() and any((out / f).exists() for f in ("checkpoint.safetensors", "model.safetensors")):
            raise CnnkitError(f"{out} already holds a run; pass --resume {out} to continue it, "
                              f"or choose another --out")
        cfg.out = str(out)
    if cfg.ensemble > 1:
        if data is not None:
            raise CnnkitError("ensembles train on named datasets; pass dataset= instead of data=")
        return _train_ensemble(cfg, out, quiet, callbacks)
    if cfg.folds and not cfg.fold:
        if data is not None:
            raise CnnkitError("cross-validation trains on named datasets; pass dataset= instead of data=")
        return _train_folds(cfg, out, quiet, callbacks)
    world = world_from_env()
    device = pick_device(cfg.device)
    if world.size > 1 and device.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            raise CnnkitError(f"torchrun started more processes on this machine than it has GPUs "
                              f"({torch.cuda.device_count()}); use --nproc_per_node={torch.cuda.device_count()}, "
                              f"or --device cpu to train on CPU processes")
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    distributed.init(world, device.type)
    out = Path(distributed.agree(world, str(out)))
    cfg.out = str(out)
    try:
        if not world.main:  # only rank 0 writes; the others wait until it holds the directory
            distributed.barrier(world)
            return _train_locked(cfg, out, True, [], data, device, world, sources)
        created = not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CnnkitError(f"cannot create the run directory {out}: {exc.strerror or exc}") from None
        try:
            with RunLock(out):  # before anything slow: a second writer is told at once
                distributed.barrier(world)
                return _train_locked(cfg, out, quiet, callbacks, data, device, world, sources)
        except BaseException:
            if created and not (out / "checkpoint.safetensors").exists():
                import shutil

                shutil.rmtree(out, ignore_errors=True)  # failed before its first checkpoint: leave nothing behind
            raise
    finally:
        distributed.shutdown(world)


def _train_locked(cfg: TrainConfig, out: Path, quiet: bool, callbacks, given: Dataset | None,
                  device: torch.device, world: distributed.World, sources: dict[str, str]) -> RunResult:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        set_gpu_determinism(cfg.deterministic)
    spec = resolve_spec(cfg.model)
    if cfg.augment.strip().lower() == "default":
        from cnnkit.train.recipes import recipe_for

        cfg.augment = recipe_for(cfg.model).get("augment") or default_preset(spec.input)
    Augmenter.build(cfg.augment)  # a typo fails now, before any data is loaded
    from cnnkit.evaluate.tta import parse_tta

    parse_tta(cfg.tta)
    vector_notes: list[str] = []
    spec = with_vectors(spec, cfg.vectors, vector_notes)
    data = prepare_data(cfg, spec.discriminator.input if spec.discriminator else spec.input, given)
    data.notes[:0] = vector_notes
    task = task_for(cfg, spec)
    spec = fit_spec_to_task(spec, task, data)
    run = RunContext(out, cfg, task.run_classes(data), data.name, data.source_shape, data.appearance,
                     data.vocabulary)
    cbs: list[Callback] = ([RunWriter(run)] if world.main else []) + \
        ([] if quiet else [ProgressBar(cfg.epochs), EpochPrinter(cfg.epochs)])
    trainer = make_trainer(cfg, spec, data.train, device, cbs + list(callbacks or []), world=world)
    train_d = data.train.to(device)
    val_d = data.val.to(device) if data.val is not None else None
    test_d = data.test.to(device) if data.test is not None else None
    state = FitState()
    if (out / "checkpoint.safetensors").exists():
        run.restore(trainer, state, write=world.main)
    else:
        if data.vocabulary is not None:
            load_word_vectors(trainer.model, spec, data.vocabulary, notes=data.notes)
    if world.main and not (out / "config.json").exists():
        save_json(out / "config.json", cfg.to_dict())
        save_json(out / "spec.json", spec_to_data(spec))
        if data.vocabulary is not None:
            save_json(out / "vocabulary.json", data.vocabulary.to_json())
        if sources:
            save_json(out / "config_sources.json", sources)
    if not quiet:
        unit = "samples" if data.vocabulary is not None else "images"
        print(f"training {spec.name} on {data.name} ({len(train_d):,} {unit}"
              f"{f', {len(val_d):,} for validation' if val_d is not None else ''}) on {device}; "
              f"run directory {out}", flush=True)
        if sources:
            print(f"recipe: {describe_sources(cfg, sources)}", flush=True)
            hint = recipe_hint(cfg.model, sources)
            if hint:
                print(f"note: {hint}", flush=True)
        for note in data.notes:
            print(f"note: {note}", flush=True)
        if len(train_d) <= cfg.batch_size:
            print(f"note: an epoch is a single step here ({len(train_d):,} images, batch size {cfg.batch_size}): "
                  f"the network learns from one gradient per epoch; for so little data use a smaller "
                  f"--batch-size (e.g. {max(8, len(train_d) // 8)}) and more --epochs", flush=True)
    try:
        with graceful_stop(trainer):
            trainer.fit(train_d, val_d, test_d, state)
    except KeyboardInterrupt:
        if state.partial is not None:
            run.save_checkpoint(trainer, state)  # the epoch so far, resumable exactly
        if not quiet and (out / "checkpoint.safetensors").exists():
            print(f"\ninterrupted after {state.epoch} complete epoch(s); continue with: "
                  f"cnnkit train --resume {out}", file=sys.stderr, flush=True)
        raise
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower():
            raise CnnkitError(f"out of memory with batch size {cfg.batch_size}; try a smaller --batch-size "
                              f"(the last checkpoint in {out} is intact)") from None
        raise
    summary = _summarize(run, trainer, state, test_d, data)
    if world.main:
        run.save_model(trainer, "model", state)
        if val_d is None:
            run.save_model(trainer, "best", state)
        held = val_d if val_d is not None else test_d
        if (held is not None and cfg.task == "classify" and not isinstance(train_d, StreamingData)
                and hasattr(trainer.model, "features") and not train_d.extras and not train_d.is_text
                and len(train_d) >= 2 * len(data.classes)):
            from cnnkit.evaluate import familiarity

            pick = sample_indices(len(train_d), 10_000, cfg.seed)
            stats = familiarity.fit(trainer.model, trainer.normalizer, train_d.images[pick], train_d.labels[pick],
                                    held.images[sample_indices(len(held), 5_000, cfg.seed)], len(data.classes))
            familiarity.save_stats(out, stats)
        save_json(out / "summary.json", summary)
    if world.main and not quiet:
        print(result_line(summary, len(run.classes)), flush=True)
    return RunResult(out, summary, state.history)


def with_vectors(spec, vectors: str, notes: list[str] | None = None):
    """The spec with ``--vectors FILE`` set on its embedding, its ``dim`` the file's (with a note when that
    changes it); a fixed embedding without vectors is an error (it would stay at its random start)."""
    if not spec.is_text:
        if vectors:
            raise CnnkitError(f"--vectors is for text models (an embedding layer); {spec.name} reads images")
        return spec
    from cnnkit.layers.network import with_layer_args

    first = spec.layers[0]
    if vectors:
        if not Path(vectors).expanduser().is_file():
            raise CnnkitError(f"--vectors {vectors}: no such file (train one with 'cnnkit word2vec CORPUS --out "
                              f"vectors.txt')")
        from cnnkit.data.text import vector_dim

        dim = vector_dim(vectors)
        if dim != first["dim"] and notes is not None:
            notes.append(f"{first.name}: {dim} numbers per word, as in {vectors} (the spec says {first['dim']})")
        return with_layer_args(spec, first.name, vectors=str(Path(vectors).expanduser()), dim=dim)
    if (first["freeze"] or first["channels"] == "2") and not first["vectors"]:
        raise CnnkitError(f"{spec.name} keeps its word vectors fixed: give them with --vectors FILE (a word2vec "
                          f"file, e.g. from 'cnnkit word2vec CORPUS --out vectors.txt')")
    return spec


def load_word_vectors(model, spec, vocabulary, notes: list[str] | None = None) -> None:
    """Embedding layers with ``vectors: FILE`` start from that word2vec file's vectors for the words of the
    run's vocabulary; the words it lacks keep their random start (as Kim 2014's did)."""
    from cnnkit.data.text import read_word_vectors

    for layer in spec.layers:
        if layer.type != "embedding" or not layer["vectors"]:
            continue
        words, matrix = read_word_vectors(layer["vectors"])
        if matrix.shape[1] != layer["dim"]:
            raise CnnkitError(f"{layer['vectors']} holds {matrix.shape[1]}-number vectors, but layer {layer.name!r} "
                              f"has dim {layer['dim']}: set dim: {matrix.shape[1]}")
        row = {w: i for i, w in enumerate(words)}
        found = torch.tensor([w in row for w in vocabulary.words])
        found[0] = False
        table = torch.zeros(len(vocabulary), matrix.shape[1])
        hits = [i for i, w in enumerate(vocabulary.words) if w in row and i]
        table[hits] = matrix[[row[vocabulary.words[i]] for i in hits]]
        module = dict(model.named_modules())[f"features.{layer.name}"]
        module.load_vectors(table, found)
        if notes is not None:
            notes.append(f"{layer.name}: {len(hits):,} of {len(vocabulary) - 2:,} words start from "
                         f"{layer['vectors']}; the other {len(vocabulary) - 2 - len(hits):,} start random")


def task_for(cfg: TrainConfig, spec):
    """The config's task, or for a several-head spec the heads' own tasks and loss weights."""
    if len(spec.outputs) > 1 or spec.head_tasks:
        from cnnkit.evaluate.tasks import heads_task

        return heads_task(spec.head_tasks or tuple((o, "classify", 1.0) for o in spec.outputs))
    return make_task(cfg.task, cfg.loss, cfg.label_smoothing, cfg.denoise)


def fit_spec_to_task(spec, task, data: PreparedData):
    """The output layer sized for the task (classes, 4 rotations, T targets); a reconstruction must match its input."""
    from cnnkit.inspect import summarize
    from cnnkit.layers.network import with_units

    vectors = [name for name, shape in spec.inputs if len(shape) == 1]
    have = set(getattr(data.train, "extras", {}) or {})
    missing = [v for v in vectors if v not in have]
    if missing:
        raise CnnkitError(f"{spec.name} reads the inputs {', '.join(n for n, _ in spec.inputs)}, but {data.name} "
                          f"provides images only (no {', '.join(missing)}); give them from Python: "
                          f"cnnkit.data.from_arrays({{'image': X, {missing[0]!r}: V}}, y)")
    if spec.is_text and data.vocabulary is not None:  # the embedding holds one row per word of the vocabulary
        from cnnkit.layers.network import with_layer_args

        for layer in spec.layers:
            if layer.type == "embedding":
                spec = with_layer_args(spec, layer.name, vocab=len(data.vocabulary))
    if (task.name == "gan") != (spec.discriminator is not None):
        raise CnnkitError(f"{spec.name} is a GAN (a generator and a discriminator): train it with --task gan"
                          if spec.discriminator is not None else
                          "--task gan needs a GAN spec (input, latent, generator, discriminator), e.g. dcgan-mnist")
    units = task.output_units(data.train)
    if isinstance(units, dict):  # one size per head
        for head, n in units.items():
            spec = with_units(spec, head, n)
        return spec
    if units is not None:
        return with_num_classes(spec, units)
    if spec.discriminator is not None:  # the generator must draw images the discriminator reads
        c, h, w = spec.discriminator.input
        out = summarize(spec).output
        d_out = summarize(spec.discriminator).output
        if out[0] * out[1] * out[2] != c * h * w:
            raise CnnkitError(f"{spec.name}: the generator outputs {'x'.join(map(str, out))}, but the images are "
                              f"{c}x{h}x{w}; end it with conv_transpose layers (or FC-{c * h * w} and a reshape)")
        if d_out[0] * d_out[1] * d_out[2] != 1:
            raise CnnkitError(f"{spec.name}: the discriminator must end in one number (real or fake), e.g. FC-1; "
                              f"it outputs {'x'.join(map(str, d_out))}")
        return spec
    c, h, w = spec.input
    out = summarize(spec).output
    if out[0] * out[1] * out[2] != c * h * w:
        raise CnnkitError(f"--task {task.name} needs a network whose output has as many values as its input "
                          f"({c}x{h}x{w}); {spec.name} outputs {'x'.join(map(str, out))} (a decoder ending in "
                          f"conv_transpose/upsample, or FC-{c * h * w} and a reshape, e.g. the zoo's conv-ae)")
    return spec


def make_trainer(cfg: TrainConfig, spec, train: ImageData | StreamingData, device: torch.device,
                 callbacks: list[Callback] | None = None, model: torch.nn.Module | None = None,
                 normalizer: Normalizer | None = None, world: distributed.World | None = None,
                 task=None) -> Trainer:
    """All the parts of a fit, from a config, built in one place and handed to the trainer whole.

    Seeded model, normaliser, augmenter, optimizer, schedule, mixed precision,
    the compiled step and the data-parallel wrapper (under torchrun).
    ``model`` / ``normalizer`` may be given (fine-tuning a trained network);
    only parameters that require gradients are optimised.
    """
    torch.manual_seed(cfg.seed)
    fresh = model is None
    if fresh:
        model = build_from_spec(spec)
        initialize(model, cfg.init)
    sample = train.sample(2000, cfg.seed) if isinstance(train, StreamingData) else train
    if normalizer is None:
        normalizer = Normalizer.fit(cfg.preprocess, sample)
    if cfg.whiten_stem and fresh:
        whiten_stem(model, normalizer(sample.images[sample_indices(len(sample), 5000, cfg.seed)]))
    if not cfg.train_bn_scale:
        freeze_bn_scales(model)
    augmenter = Augmenter.build(cfg.augment, normalizer(sample.images[:10_000]))
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    normalizer.to(device)
    steps = -(-len(train) // cfg.batch_size)
    data_gen = torch.Generator().manual_seed(cfg.seed + 1)
    aug_gen = torch.Generator(device=device).manual_seed(cfg.seed + 2)
    amp = cfg.amp if cfg.amp != "auto" else ("bf16" if device.type == "cuda" else "off")
    if amp == "fp16" and device.type != "cuda":
        raise CnnkitError("--amp fp16 needs a GPU; use --amp bf16 (or off) on a CPU")
    parallel = None
    if world is not None and world.size > 1:
        from torch.nn.parallel import DistributedDataParallel

        parallel = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    step_model = None
    if cfg.compile:
        from cnnkit.layers.inference import compiled_for_inference

        step_model = compiled_for_inference(model)  # same weights; falls back to eager if it cannot
    callbacks = list(callbacks or [])
    if device.type == "cpu":  # build the CPU kernels now (once per machine), not inside the first timed epoch
        if native.needs_build():
            for cb in callbacks:
                cb.on_message("compiling cnnkit's native CPU kernels (once per machine, a few seconds)")
        native.library()
    task = task if task is not None else task_for(cfg, spec)
    task.fit_targets(sample)
    return Trainer(model, normalizer, make_optimizer(model, cfg), LRSchedule(cfg, steps), cfg, task, augmenter,
                   data_gen, aug_gen, callbacks,
                   rank=world.rank if world is not None else 0, world=world.size if world is not None else 1,
                   parallel_model=parallel, step_model=step_model,
                   amp_dtype={"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp],
                   scaler=torch.amp.GradScaler("cuda") if amp == "fp16" else None)


def _train_ensemble(cfg: TrainConfig, out: Path, quiet: bool, callbacks) -> RunResult:
    """N members with seeds seed..seed+N-1 in ``out/member-k``; each resumable on its own."""
    from dataclasses import replace as dc_replace

    from cnnkit.evaluate.ensemble import ensemble

    out.mkdir(parents=True, exist_ok=True)
    save_json(out / "config.json", cfg.to_dict())
    history = []
    for k in range(1, cfg.ensemble + 1):
        member_dir = out / f"member-{k}"
        member = dc_replace(cfg, seed=cfg.seed + k - 1, ensemble=1, out=str(member_dir))
        if (member_dir / "summary.json").exists():
            continue  # finished before an interruption
        if not quiet:
            print(f"ensemble member {k} of {cfg.ensemble} (seed {member.seed})", flush=True)
        resume = member_dir if member_dir.exists() else None
        r = train(member.model, resume=resume, quiet=quiet, callbacks=callbacks,
                  **{k2: v for k2, v in member.to_dict().items() if k2 != "model"})
        history += r.history
    result = ensemble([out], data_dir=cfg.data_dir)
    summary = {"model": cfg.model, "dataset": cfg.dataset, "members": result["members"],
               "mean_member_top1_error": result["mean_member_top1_error"],
               "test_top1_error": result["ensemble"]["top1_error"], "test_top5_error": result["ensemble"]["top5_error"],
               "test_errors": result["ensemble"]["errors"], "test_n": result["ensemble"]["n"], "run": str(out)}
    save_json(out / "summary.json", summary)
    if not quiet:
        print(f"ensemble of {cfg.ensemble}: test error {100 * summary['test_top1_error']:.2f}% "
              f"(members' mean {100 * summary['mean_member_top1_error']:.2f}%)", flush=True)
    return RunResult(out, summary, history)


def _train_folds(cfg: TrainConfig, out: Path, quiet: bool, callbacks) -> RunResult:
    """K-fold cross-validation: ``out/fold-01`` ... each an ordinary run testing on its fold; a resumed run
    skips the finished folds and continues the unfinished one from its checkpoint."""
    import statistics
    from dataclasses import replace as dc_replace

    if (out / "summary.json").exists():
        raise CnnkitError(f"{out} already holds a finished cross-validation ({out / 'summary.json'})")
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "config.json").exists():
        save_json(out / "config.json", cfg.to_dict())
    rows, history = [], []
    # each fold gets what differs from the model's own recipe, so its start-up line says where values came from
    base = resolve_with_sources(cfg.model, {"dataset": cfg.dataset})[0].to_dict()  # the recipe, and the data set
    for k in range(1, cfg.folds + 1):
        fold_dir = out / f"fold-{k:02d}"
        fold_cfg = dc_replace(cfg, fold=k, out=str(fold_dir))
        if (fold_dir / "summary.json").exists():  # finished before an interruption
            summary = load_json(fold_dir / "summary.json")
        else:
            if not quiet:
                print(f"fold {k} of {cfg.folds}", flush=True)
            resume = fold_dir if fold_dir.exists() else None
            r = train(fold_cfg.model, resume=resume, quiet=quiet, callbacks=callbacks,
                      **{key: v for key, v in fold_cfg.to_dict().items()
                         if key != "model" and (v != base[key] or key == "dataset")})
            summary, history = r.summary, history + r.history
        rows.append({"fold": k, "test_top1_error": summary["test_top1_error"], "test_n": summary["test_n"],
                     "test_errors": summary["test_errors"], "train_seconds": summary.get("train_seconds")})
    errors = [r["test_top1_error"] for r in rows]
    mean = statistics.fmean(errors)
    summary = {"model": cfg.model, "dataset": cfg.dataset, "folds": rows, "cv_top1_error_mean": mean,
               "cv_top1_error_std": statistics.stdev(errors), "test_top1_error": mean,
               "test_n": sum(r["test_n"] for r in rows), "test_errors": sum(r["test_errors"] for r in rows),
               "train_seconds": round(sum(r["train_seconds"] or 0 for r in rows), 3), "run": str(out)}
    save_json(out / "summary.json", summary)
    if not quiet:
        print(f"{cfg.folds}-fold cross-validation: error {100 * summary['cv_top1_error_mean']:.2f}% "
              f"± {100 * summary['cv_top1_error_std']:.2f} (accuracy {100 - 100 * summary['cv_top1_error_mean']:.2f}%)"
              f"; saved to {out}", flush=True)
    return RunResult(out, summary, history)


def result_line(summary: dict, classes: int) -> str:
    """The line that ends a training run: its test error, or where to measure one."""
    out = summary["run"]
    task = summary.get("task", "classify")
    if summary.get("test_n") and task not in ("classify", "rotation"):
        shown = ", ".join(f"{k[5:]} {v:.4f}" for k, v in summary.items()
                          if k.startswith("test_") and k != "test_n" and isinstance(v, float))
        return (f"test {shown} ({summary['test_n']:,} images), {summary['train_seconds']:.1f}s of training; "
                f"saved to {out}")
    if summary.get("test_n"):
        top5 = (f", top-5 {100 * summary['test_top5_error']:.2f}%"
                if classes > 5 and "test_top5_error" in summary else "")
        return (f"test error {100 * summary['test_top1_error']:.2f}% ({summary['test_errors']:,} of "
                f"{summary['test_n']:,}){top5}, {summary['train_seconds']:.1f}s of training; saved to {out}")
    return (f"{summary['train_seconds']:.1f}s of training; saved to {out} (no test split: "
            f"'cnnkit evaluate {out} --dataset NAME' measures one)")


def _summarize(run: RunContext, trainer: Trainer, state: FitState, test: ImageData | None,
               data: PreparedData) -> dict:
    summary = {"model": trainer.model.spec.name, "dataset": data.name, "num_classes": len(run.classes),
               "epochs": state.epoch,
               "train_seconds": round(sum(r["seconds"] for r in state.history), 3),
               "params": sum(p.numel() for p in trainer.model.parameters()),
               "best_val_top1_error": state.best_val_error, "run": str(run.path)}
    if state.history:
        summary["final_train_loss"] = state.history[-1]["train_loss"]
    if test is not None and trainer.task.name != "classify":
        scores = trainer.task.score(trainer.model, trainer.normalizer, test.images, test.targets or test.labels,
                                    run.cfg.eval_batch_size, test.extras or None)
        summary.update({f"test_{k}": v for k, v in scores.items()})
        summary["test_n"] = len(test)
    elif test is not None:
        logits = predict_logits(trainer.model, trainer.normalizer, test.images, run.cfg.eval_batch_size,
                                extras=test.extras or None)
        m = classification_metrics(logits, test.labels, data.classes)
        summary.update({"test_top1_error": m["top1_error"], "test_top5_error": m["top5_error"],
                        "test_errors": m["errors"], "test_n": m["n"]})
        if run.cfg.tta:
            from cnnkit.evaluate.metrics import topk_errors
            from cnnkit.evaluate.tta import predict_proba

            probs = predict_proba(trainer.model, trainer.normalizer, test.images, run.cfg.tta,
                                  run.cfg.eval_batch_size)
            errs = topk_errors(probs, test.labels)
            summary.update({"tta": run.cfg.tta, "test_top1_error_tta": errs[1] / len(test),
                            "test_top5_error_tta": errs[5] / len(test)})
    summary["task"] = trainer.task.name
    return summary


def recipe_hint(model: str, sources: dict[str, str]) -> str | None:
    """For a spec file trained without a recipe: the zoo model it equals, whose recipe it did not get."""
    from cnnkit.models import get_entry, list_models
    from cnnkit.models.registry import is_registered

    if is_registered(model) or any(s != "default" and "recipe" in s for s in sources.values()):
        return None
    try:
        layers = resolve_spec(model).layers
    except CnnkitError:
        return None
    for name in list_models():
        if get_entry(name).spec().layers == layers:
            return (f"{model} is the zoo's {name}, but a spec file brings no recipe (defaults above); "
                    f"--recipe model:{name} trains it as 'cnnkit train {name}' does")
    return (f"{model} is a spec file: it trains with the defaults above unless given --recipe "
            f"(a named recipe, model:NAME for a zoo model's, or a .yaml file)")


def _resume_config(path: Path, model: Any, overrides: dict) -> TrainConfig:
    from cnnkit.train.config import merge

    if not (path / "config.json").exists():
        raise CnnkitError(f"cannot resume {path}: it holds no config.json (not a cnnkit run directory)")
    saved = merge(TrainConfig(), load_json(path / "config.json"), f"{path}/config.json")
    given = dict(overrides)
    if isinstance(model, str):
        given["model"] = model
    given.pop("out", None)
    wanted = merge(saved, given, "options")
    diff = [k for k, v in wanted.to_dict().items() if v != saved.to_dict()[k] and k not in ("device", "threads")]
    if diff:
        k = diff[0]
        raise CnnkitError(f"--resume {path}: option {k} = {getattr(wanted, k)!r} differs from the run's "
                          f"{getattr(saved, k)!r}; resume with the run's own options")
    return validate(wanted)
