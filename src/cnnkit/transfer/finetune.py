"""Staged fine-tuning, the five steps of the notes as a schedule.

1. take a network pretrained on a similar problem; 2. put a new head on it
(``reset_classifier``); 3. freeze the base and train the head; 4. unfreeze the
top N layers; 5. train them jointly with the head at a lower learning rate.
A stage is ``WHAT:EPOCHS:LR`` with WHAT = ``head``, ``topN`` or ``all``.
Frozen layers get no gradient, no optimizer state, and keep their batch-norm
statistics (they stay in eval mode).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from cnnkit.errors import CnnkitError
from cnnkit.evaluate.metrics import classification_metrics, predict_logits
from cnnkit.layers import CNN
from cnnkit.rundir.artifacts import load, model_tensors, read_weights, save_weights, versions
from cnnkit.rundir.files import save_json, write_atomic
from cnnkit.spec import spec_to_data
from cnnkit.train.config import TrainConfig, validate
from cnnkit.train.loop import FitState

DEFAULT_STAGES = "head:3:0.01,top2:3:0.001"


@dataclass(frozen=True)
class Stage:
    what: str  # "head", "all", or "top<N>"
    epochs: int
    lr: float

    @property
    def top(self) -> int | None:
        return int(self.what[3:]) if self.what.startswith("top") else None


def parse_stages(text: str) -> list[Stage]:
    stages = []
    for item in (text or "").split(","):
        parts = item.strip().split(":")
        if len(parts) != 3:
            raise CnnkitError(f"stage {item.strip()!r} must be WHAT:EPOCHS:LR, e.g. head:3:0.01 or top2:3:0.001")
        what, epochs, lr = parts
        what = what.lower()
        if not (what in ("head", "all") or (what.startswith("top") and what[3:].isdigit() and int(what[3:]) > 0)):
            raise CnnkitError(f"stage {item.strip()!r}: WHAT must be head, all or topN (N >= 1)")
        try:
            stage = Stage(what, int(epochs), float(lr))
        except ValueError:
            raise CnnkitError(f"stage {item.strip()!r}: EPOCHS must be a whole number and LR a number") from None
        if stage.epochs < 1 or stage.lr <= 0:
            raise CnnkitError(f"stage {item.strip()!r}: EPOCHS and LR must be positive")
        stages.append(stage)
    if not stages:
        raise CnnkitError("give at least one fine-tuning stage")
    return stages


def parametric_layers(model: CNN) -> list[str]:
    """Top-level layers with parameters, input to output."""
    return [n for n, m in [*model.features.named_children(), *model.classifier.named_children()]
            if any(True for _ in m.parameters())]


def freeze_except(model: CNN, trainable: set[str]) -> None:
    """Only the named top-level layers learn; the rest get no gradients and keep their BN statistics."""
    names = [*model.features._modules, *model.classifier._modules]
    for name in names:
        module = model.features._modules.get(name) or model.classifier._modules[name]
        for p in module.parameters():
            p.requires_grad_(name in trainable)
    model.frozen = frozenset(n for n in names if n not in trainable)


def trainable_for(model: CNN, stage: Stage, head_names: list[str] | None = None) -> set[str]:
    layers = parametric_layers(model)
    heads = [n for n in layers if n in head_names] if head_names else layers[-1:]
    head, base = set(heads), [n for n in layers if n not in heads]
    if stage.what == "all":
        return set(layers)
    if stage.what == "head":
        return head
    if stage.top > len(base):
        raise CnnkitError(f"stage {stage.what}: the base has only {len(base)} layers with weights")
    return {*head, *base[len(base) - stage.top:]}


def finetune(run=None, dataset=None, stages: str | list[Stage] = DEFAULT_STAGES, out: str | Path | None = None, *,
             quiet: bool = False, head=None, resume: str | Path | None = None, **options) -> dict:
    """Fine-tune a trained run on ``dataset`` (a name, or an in-memory Dataset) through ``stages``.

    ``head``: your own layers on top of the base, which is cut where its
    classifier begins (see :func:`cnnkit.layers.network.with_head`); the
    ``head`` stage then trains all of them.  Each stage is a run directory
    inside ``out`` (``stage-1/``, ...) written by the same code as ``train``
    - checkpoint after every epoch, best and final weights - so
    ``resume=out`` continues a killed fine-tuning exactly where it stopped.
    Returns the summary.
    """
    import torch

    from cnnkit.data import Dataset
    from cnnkit.rundir import load_json
    from cnnkit.train.run import (
        EpochPrinter,
        RunContext,
        RunLock,
        RunWriter,
        graceful_stop,
        make_trainer,
        pick_device,
        prepare_data,
    )

    if resume is not None:
        saved_path = Path(resume) / "finetune.json"
        if not saved_path.exists():
            raise CnnkitError(f"--resume {resume}: no finetune.json there (not a fine-tuning run directory)")
        saved = load_json(saved_path)
        given = {"run": run, "dataset": dataset, "head": head}
        clash = [k for k, v in given.items() if v is not None and v != saved[k]]
        if clash:
            raise CnnkitError(f"--resume {resume}: {clash[0]} {given[clash[0]]!r} differs from the run's "
                              f"{saved[clash[0]]!r}; resume with the run's own options")
        run, dataset, head, stages, options = saved["run"], saved["dataset"], saved["head"], saved["stages"], \
            saved["options"]
        out = Path(resume)
    if run is None or dataset is None:
        raise CnnkitError("finetune needs a pretrained run and --dataset (or --resume RUN_DIR)")
    stage_text = stages if isinstance(stages, str) else ",".join(f"{s.what}:{s.epochs}:{s.lr}" for s in stages)
    stages = parse_stages(stage_text)
    tm = load(run)
    given_data = dataset if isinstance(dataset, Dataset) else None
    dataset = given_data.name if given_data is not None else dataset
    cfg = validate(replace(TrainConfig(model=tm.model.spec.name, dataset=dataset, preprocess="standardize",
                                       weight_decay=5e-4, momentum=0.9),
                           **{k: v for k, v in options.items() if v is not None}))
    device = pick_device(cfg.device)
    data = prepare_data(cfg, tm.input_shape, given_data)
    torch.manual_seed(cfg.seed)  # the new head starts the same in a resumed run
    model = tm.model
    head_names = None
    if head:
        from cnnkit.layers import build_from_spec
        from cnnkit.layers.network import with_head

        spec, head_names = with_head(model.spec, head, len(data.classes))
        new = build_from_spec(spec)
        old = model.features.state_dict()
        missing = [k for k in old if k not in new.features.state_dict()]
        if missing:
            raise CnnkitError(f"--head: the base's {missing[0]!r} has no place in the new network")
        new.features.load_state_dict(old, strict=False)
        model = new
    else:
        model.reset_classifier(len(data.classes))
    out = Path(out or f"runs/{Path(run).name}-finetuned-{dataset.replace('folder:', '').replace('/', '_')}")
    if (out / "model.safetensors").exists():
        raise CnnkitError(f"{out} already holds a finished run; choose another --out")
    if resume is None and (out / "finetune.json").exists():
        raise CnnkitError(f"{out} holds an unfinished fine-tuning run: continue it with --resume {out}, or choose "
                          f"another --out")
    out.mkdir(parents=True, exist_ok=True)
    if resume is None:
        save_json(out / "finetune.json", {"run": str(run), "dataset": dataset, "head": head, "stages": stage_text,
                                          "options": {k: v for k, v in options.items() if v is not None}})
    history, results = [], []
    test = data.test.to(device) if data.test is not None else None
    with RunLock(out):
        for k, stage in enumerate(stages, 1):
            stage_dir = out / f"stage-{k}"
            freeze_except(model, trainable_for(model, stage, head_names))
            stage_cfg = replace(cfg, epochs=stage.epochs, lr=stage.lr, seed=cfg.seed + k - 1, out=str(stage_dir))
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            if (stage_dir / "stage.json").exists():  # finished before an interruption: its final weights
                tensors, _ = read_weights(stage_dir / "model.safetensors")
                model.load_state_dict({k2[6:]: v for k2, v in tensors.items() if k2.startswith("model.")})
                results.append(load_json(stage_dir / "stage.json"))
                history += [{**row, "stage": k} for row in _read_rows(stage_dir)]
                continue
            stage_dir.mkdir(exist_ok=True)
            context = RunContext(stage_dir, stage_cfg, data.classes, data.name, data.source_shape, data.appearance)
            callbacks = [RunWriter(context)] + ([] if quiet else [EpochPrinter(stage.epochs)])
            trainer = make_trainer(stage_cfg, model.spec, data.train, device, callbacks, model=model,
                                   normalizer=tm.normalizer)
            state = FitState()
            if (stage_dir / "checkpoint.safetensors").exists():
                context.restore(trainer, state)
            else:
                save_json(stage_dir / "config.json", stage_cfg.to_dict())
            if not quiet:
                print(f"stage {k}: {stage.what}, {stage.epochs} epochs at LR {stage.lr:g} "
                      f"({trainable:,} trainable parameters)" + (f", from epoch {state.epoch + 1}"
                                                                  if state.epoch else ""), flush=True)
            start = time.perf_counter()
            try:
                with graceful_stop(trainer):
                    state = trainer.fit(data.train.to(device), None, None, state)
            except KeyboardInterrupt:
                if state.partial is not None:
                    context.save_checkpoint(trainer, state)
                print(f"\ninterrupted in stage {k}; continue with: cnnkit finetune --resume {out}",
                      file=sys.stderr, flush=True)
                raise
            context.save_model(trainer, "model", state)
            history += [{**row, "stage": k} for row in state.history]
            entry = {"stage": k, "what": stage.what, "epochs": stage.epochs, "lr": stage.lr,
                     "trainable_params": trainable, "seconds": round(time.perf_counter() - start, 3)}
            if test is not None:
                m = classification_metrics(predict_logits(model, tm.normalizer, test.images), test.labels,
                                           data.classes)
                entry.update(test_top1_error=m["top1_error"], test_top5_error=m["top5_error"], test_errors=m["errors"])
            save_json(stage_dir / "stage.json", entry)
            results.append(entry)
        freeze_except(model, set(parametric_layers(model)))  # saved unfrozen
        meta = {"spec": spec_to_data(model.spec),
                "classes": data.classes, "dataset": data.name, **data.appearance,
                "normalizer": tm.normalizer.describe(),
                "source_shape": list(data.source_shape), "finetuned_from": str(run), "versions": versions()}
        save_weights(out / "model.safetensors", model_tensors(model, tm.normalizer), meta)
        write_atomic(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history).encode())
        summary = {"run": str(out), "from": str(run), "dataset": data.name, "stages": results,
                   "head": head_names}
        if results and "test_top1_error" in results[-1]:
            summary.update({k: results[-1][k] for k in ("test_top1_error", "test_top5_error", "test_errors")})
            summary["test_n"] = len(test)
        save_json(out / "summary.json", summary)
    return summary


def _read_rows(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


__all__ = ["DEFAULT_STAGES", "Stage", "finetune", "freeze_except", "parse_stages"]
