"""The training configuration: flat, typed, strict, and saved with every run.

Resolution order: built-in defaults, then the model's recipe
(:mod:`cnnkit.train.recipes`), then a YAML/JSON ``--config`` file, then
explicit flags.  Unknown keys, wrong types and out-of-range values are errors
naming the key; the resolved config is written to the run directory so a run
describes itself.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cnnkit.errors import CnnkitError
from cnnkit.spec.schema import suggest

OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "plateau", "cosine", "onecycle")
INITS = ("default", "he", "xavier", "dirac")
PREPROCESS = ("standardize", "channel-mean", "mean-image", "none")
DEVICES = ("auto", "cpu", "cuda")
AMP = ("off", "bf16", "fp16", "auto")


@dataclass
class TrainConfig:
    model: str = ""
    dataset: str = ""
    data_dir: str | None = None
    out: str | None = None
    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int = 1000
    lr: float = 0.01
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "constant"
    warmup: float = 0.0  # epochs of linear warm-up
    step_size: int = 10  # epochs between drops for 'step'
    gamma: float = 0.1  # LR factor of each drop (step, plateau)
    patience: int = 1  # epochs without validation improvement before a plateau drop
    max_drops: int = 3  # plateau: at most this many drops (AlexNet: 3)
    label_smoothing: float = 0.0
    lr_bn_scale: float = 1.0  # learning-rate multiplier for batch-norm parameters (airbench: 64 on BN biases)
    train_bn_scale: bool = True  # false: batch-norm scales stay 1 and only their biases learn (airbench)
    init: str = "default"
    whiten_stem: bool = False  # first conv = frozen patch-whitening filters computed from the training images
    preprocess: str = "standardize"
    augment: str = ""  # comma list, e.g. "translate,flip"
    val_split: float = 0.0
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # 0: PyTorch's default (the physical cores)
    eval_test_every_epoch: bool = False
    limit_train: int = 0  # use only the first N training images (0: all)
    limit_test: int = 0
    strict: bool = False  # refuse unreadable images instead of skipping them
    ensemble: int = 1  # train this many seeds in turn into member-1..N of one run directory
    channels_last: bool = False  # NHWC memory format: faster convolutions on CPU (oneDNN) and GPU
    tta: str = ""  # test-time augmentation for the final test evaluation (also reported without)
    amp: str = "off"  # mixed precision: off, bf16, fp16 (GPU), auto (bf16 on a GPU, off on a CPU)
    compile: bool = False  # torch.compile the training step (helps on GPUs; measured 2x slower on this CPU)
    stream: bool = False  # image folders: decode the training split batch by batch in worker processes
    workers: int = 0  # decoding processes when streaming (0: cores - 1)
    deterministic: bool = False  # GPU: deterministic kernels, so a resumed run matches bit for bit (slower)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "init": INITS, "preprocess": PREPROCESS,
           "device": DEVICES, "amp": AMP}
_FIELDS = {f.name: f for f in fields(TrainConfig)}
_NON_NEGATIVE = {"workers", "momentum", "weight_decay", "warmup", "label_smoothing", "val_split", "limit_train",
                 "limit_test", "threads", "seed", "max_drops"}
_POSITIVE = {"lr_bn_scale", "ensemble", "epochs", "batch_size", "eval_batch_size", "lr", "step_size", "gamma",
             "patience"}


def _coerce(key: str, value: Any) -> Any:
    f = _FIELDS[key]
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if value is None:
        if "None" in kind:
            return None
        raise CnnkitError(f"config key {key!r} cannot be empty")
    if kind.startswith("bool"):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise CnnkitError(f"config key {key!r} must be true or false, got {value!r}")
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise CnnkitError(f"config key {key!r} must be a whole number, got {value!r}")
        try:
            f_value = float(value)
        except ValueError:
            raise CnnkitError(f"config key {key!r} must be a whole number, got {value!r}") from None
        if not f_value.is_integer():
            raise CnnkitError(f"config key {key!r} must be a whole number, got {value!r}")
        return int(f_value)
    if kind.startswith("float"):
        if isinstance(value, bool):
            raise CnnkitError(f"config key {key!r} must be a number, got {value!r}")
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise CnnkitError(f"config key {key!r} must be a number, got {value!r}") from None
        if out != out or out in (float("inf"), float("-inf")):
            raise CnnkitError(f"config key {key!r} must be finite, got {value!r}")
        return out
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise CnnkitError(f"config key {key!r} must be text, got {value!r}")
    return str(value)


def validate(cfg: TrainConfig) -> TrainConfig:
    for key, choices in CHOICES.items():
        if getattr(cfg, key) not in choices:
            raise CnnkitError(f"{key} must be one of {', '.join(choices)}; got {getattr(cfg, key)!r}"
                              f"{suggest(getattr(cfg, key), choices)}")
    for key in _POSITIVE:
        if getattr(cfg, key) <= 0:
            raise CnnkitError(f"{key} must be positive, got {getattr(cfg, key)}")
    for key in _NON_NEGATIVE:
        if getattr(cfg, key) < 0:
            raise CnnkitError(f"{key} must not be negative, got {getattr(cfg, key)}")
    if not 0 <= cfg.val_split < 1:
        raise CnnkitError(f"val_split must be a fraction in [0, 1), got {cfg.val_split}")
    if not 0 <= cfg.label_smoothing < 1:
        raise CnnkitError(f"label_smoothing must be in [0, 1), got {cfg.label_smoothing}")
    if cfg.schedule == "plateau" and cfg.val_split == 0:
        raise CnnkitError("schedule 'plateau' watches the validation error: give --val-split (e.g. 0.1)")
    if cfg.nesterov and (cfg.optimizer != "sgd" or cfg.momentum == 0):
        raise CnnkitError("nesterov needs optimizer sgd with a non-zero momentum")
    return cfg


def merge(cfg: TrainConfig, overrides: dict[str, Any], source: str) -> TrainConfig:
    """A copy of ``cfg`` with ``overrides`` applied; unknown keys and bad types are errors."""
    values = cfg.to_dict()
    for key, value in overrides.items():
        norm = key.replace("-", "_")
        if norm not in _FIELDS:
            raise CnnkitError(f"{source}: unknown key {key!r}{suggest(norm, _FIELDS)}; "
                              f"accepted: {', '.join(_FIELDS)}")
        if norm == "augment" and isinstance(value, (list, tuple)):
            value = ",".join(map(str, value))
        values[norm] = _coerce(norm, value)
    return TrainConfig(**values)


def load_config_file(path: str | Path) -> dict[str, Any]:
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise CnnkitError(f"cannot read config file {str(p)!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CnnkitError(f"config file {str(p)!r} is not valid YAML/JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CnnkitError(f"config file {str(p)!r} must hold a mapping of keys to values")
    return data


def resolve_config(model: str | None = None, overrides: dict[str, Any] | None = None,
                   config_file: str | Path | None = None, recipe: str | None = None) -> TrainConfig:
    """Defaults -> model recipe -> named recipe -> config file -> explicit overrides."""
    from cnnkit.train.recipes import named_recipe, recipe_for

    file_values = load_config_file(config_file) if config_file else {}
    recipe_values = load_config_file(named_recipe(recipe)) if recipe else {}
    overrides = dict(overrides or {})
    model = model or overrides.get("model") or file_values.get("model") or recipe_values.get("model")
    if not model:
        raise CnnkitError("no model given: name a zoo model or a spec file")
    cfg = TrainConfig(model=str(model))
    cfg = merge(cfg, recipe_for(str(model)), f"recipe for {model}")
    if recipe_values:
        cfg = merge(cfg, {k: v for k, v in recipe_values.items() if k != "model"}, f"recipe {recipe}")
    if file_values:
        cfg = merge(cfg, file_values, f"config file {config_file}")
    cfg = merge(cfg, {"model": str(model), **overrides}, "options")
    return validate(cfg)


def save_json_atomic(path: Path, data: Any) -> None:
    from cnnkit.train.checkpoint import write_atomic

    write_atomic(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())
