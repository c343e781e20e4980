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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cnnkit.errors import CnnkitError
from cnnkit.evaluate.tasks import LOSSES, TASKS
from cnnkit.spec.schema import suggest

OPTIMIZERS = ("sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw", "sdlm")
SCHEDULES = ("constant", "step", "plateau", "cosine", "onecycle", "lecun1998")
INITS = ("default", "he", "xavier", "lecun1998", "dcgan", "dirac", "zeros", "small")
PREPROCESS = ("standardize", "channel-mean", "mean-image", "none")
DEVICES = ("auto", "cpu", "cuda")
AMP = ("off", "bf16", "fp16", "auto")


def _opt(default: Any, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Every training option, once: the flags, the config-file keys, the estimator's parameters and
    their help text are all derived from these fields (``metadata["help"]``)."""

    model: str = _opt("", "zoo model or spec file")
    dataset: str = _opt("", "data set: mnist, fashion-mnist, kmnist, cifar10, cifar100 or folder:PATH")
    data_dir: str | None = _opt(None, "folder holding the data sets (also $CNNKIT_DATA, ~/.cache/cnnkit)")
    out: str | None = _opt(None, "run directory to write (default: runs/MODEL-DATASET)")
    task: str = _opt("classify", "what the network learns: classify, regress, reconstruct (autoencoder) or "
                                 "rotation (self-supervised)")
    loss: str = _opt("auto", "the task's loss (auto: cross_entropy for classify/rotation, mse for regress "
                             "and reconstruct; also mae, huber, bce)")
    denoise: str = _opt("", "reconstruct: corrupt the input only, gaussian[:SIGMA] or mask[:FRACTION]")
    epochs: int = _opt(10, "passes over the training set")
    batch_size: int = _opt(128, "images per training step")
    eval_batch_size: int = _opt(1000, "images per step when evaluating")
    lr: float = _opt(0.01, "learning rate (the peak of a one-cycle schedule)")
    optimizer: str = _opt("sgd", "optimizer")
    momentum: float = _opt(0.9, "momentum (sgd, rmsprop) or beta1 (adam, adamw)")
    nesterov: bool = _opt(False, "Nesterov momentum (sgd)")
    weight_decay: float = _opt(5e-4, "L2 weight decay (not on biases or batch-norm parameters)")
    schedule: str = _opt("constant", "learning-rate schedule")
    warmup: float = _opt(0.0, "epochs of linear learning-rate warm-up")
    step_size: int = _opt(10, "epochs between drops (schedule step)")
    gamma: float = _opt(0.1, "learning-rate factor of each drop (step, plateau)")
    patience: int = _opt(1, "epochs without validation improvement before a plateau drop")
    max_drops: int = _opt(3, "plateau: at most this many drops (AlexNet: 3)")
    label_smoothing: float = _opt(0.0, "label smoothing of the cross-entropy targets")
    beta: float = _opt(1.0, "task vae: the weight of the KL term (1: the ELBO; Higgins et al.'s beta-VAE above 1)")
    kl_warmup: float = _opt(0.0, "task vae: epochs over which the KL weight rises from 0 to beta (0: off)")
    max_norm: float = _opt(0.0, "after each step, rescale each output unit's weight vector to at most this L2 norm "
                                "(Kim 2014: 3; 0: off)")
    lr_bn_scale: float = _opt(1.0, "learning-rate multiplier for batch-norm parameters (airbench: 64 on BN biases)")
    train_bn_scale: bool = _opt(True, "batch-norm scales learn (false: they stay 1 and only their biases learn)")
    init: str = _opt("default", "weight initialisation (dirac: 3x3/5x5 convolutions start as the identity; "
                                "zeros, small: the notes' cautionary examples)")
    whiten_stem: bool = _opt(False, "first conv = frozen patch-whitening filters computed from the training images")
    preprocess: str = _opt("standardize", "input preprocessing: per-channel standardisation, mean subtraction, or none")
    augment: str = _opt("", "comma list of augmentations, e.g. translate,flip ('default': the model's preset)")
    val_split: float = _opt(0.0, "fraction of the training set held out for validation")
    seed: int = _opt(0, "random seed (weights, order, augmentation, splits)")
    device: str = _opt("auto", "device (auto: a GPU when there is one)")
    threads: int = _opt(0, "CPU threads (0: PyTorch's default, the physical cores)")
    eval_test_every_epoch: bool = _opt(False, "measure the test error after every epoch (a curve in the report)")
    limit_train: int = _opt(0, "train on a fixed random sample of N images (0: all)")
    limit_test: int = _opt(0, "test on a fixed random sample of N images (0: all)")
    strict: bool = _opt(False, "refuse unreadable images instead of skipping them")
    ensemble: int = _opt(1, "train this many seeds in turn into member-1..N of one run directory")
    folds: int = _opt(0, "K-fold cross-validation (seeded, stratified): K runs in fold-01..fold-K of one run "
                         "directory, each testing on one fold; 0: off")
    fold: int = _opt(0, "with --folds K: train only the run that tests on fold k (1..K); set by --folds")
    text_column: str = _opt("", "csv/tsv text: the column holding the text (default: found by its name)")
    label_column: str = _opt("", "csv/tsv text: the column holding the label (default: found by its name)")
    vectors: str = _opt("", "text: a word2vec file (text or binary) the embedding starts from (Kim's CNN-static, "
                            "-non-static, -multichannel)")
    min_count: int = _opt(1, "text: words seen fewer times in the training split become <unk>")
    max_vocab: int = _opt(0, "text: keep only the most frequent words, <pad> and <unk> included (0: all)")
    channels_last: bool = _opt(False, "NHWC memory format (faster convolutions on CPU and GPU)")
    tta: str = _opt("", "test-time augmentation for the final test error, e.g. flip (also reported without)")
    amp: str = _opt("off", "mixed precision (auto: bf16 on a GPU, off on a CPU)")
    compile: bool = _opt(False, "torch.compile the training step (helps on GPUs; slower on small CPUs)")
    stream: bool = _opt(False, "image folders: decode the training split batch by batch in worker processes")
    workers: int = _opt(0, "decoding processes when streaming (0: cores - 1)")
    deterministic: bool = _opt(False, "GPU: deterministic kernels, so a resumed run matches bit for bit (slower)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


CHOICES = {"task": TASKS, "loss": LOSSES, "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "init": INITS,
           "preprocess": PREPROCESS, "device": DEVICES, "amp": AMP}
_FIELDS = {f.name: f for f in fields(TrainConfig)}
_NON_NEGATIVE = {"beta", "kl_warmup", "max_norm", "fold", "max_vocab", "workers", "momentum", "weight_decay", "warmup",
                 "label_smoothing", "val_split", "limit_train", "limit_test", "threads", "seed", "max_drops"}
_POSITIVE = {"min_count", "lr_bn_scale", "ensemble", "epochs", "batch_size", "eval_batch_size", "lr", "step_size",
             "gamma", "patience"}


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
    from cnnkit.evaluate.tasks import make_task

    make_task(cfg.task, cfg.loss, cfg.label_smoothing, cfg.denoise)  # a loss the task cannot take fails here
    if cfg.task != "classify":
        for key in ("tta", "ensemble"):
            if getattr(cfg, key) not in ("", 1):
                raise CnnkitError(f"--{key} averages class probabilities: it is for --task classify, not "
                                  f"{cfg.task}")
    if cfg.folds == 1 or cfg.folds < 0:
        raise CnnkitError(f"--folds needs at least 2 folds (e.g. 10), got {cfg.folds}")
    if cfg.fold and not 1 <= cfg.fold <= cfg.folds:
        raise CnnkitError(f"--fold must lie in 1..{cfg.folds} (the --folds), got {cfg.fold}")
    if cfg.folds and cfg.ensemble > 1:
        raise CnnkitError("--folds and --ensemble cannot be combined; cross-validate one model at a time")
    if cfg.nesterov and (cfg.optimizer != "sgd" or cfg.momentum == 0):
        raise CnnkitError(f"nesterov needs optimizer sgd with a non-zero momentum (optimizer is {cfg.optimizer}, "
                          f"momentum {cfg.momentum:g}); a recipe may have set it: pass --no-nesterov (nesterov=False)")
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
    return resolve_with_sources(model, overrides, config_file, recipe)[0]


def resolve_with_sources(model: str | None = None, overrides: dict[str, Any] | None = None,
                         config_file: str | Path | None = None, recipe: str | None = None,
                         option_source: str = "options") -> tuple[TrainConfig, dict[str, str]]:
    """The resolved config and, per key, where its value came from (``default`` when nothing set it).

    The same network gets the same recipe however it is named only if the
    user can see which values came from where: a zoo name brings its recipe,
    a spec file brings none unless ``--recipe model:NAME`` asks for one.
    """
    from cnnkit.train.recipes import load_recipe, recipe_for

    file_values = load_config_file(config_file) if config_file else {}
    recipe_label, recipe_values = load_recipe(recipe) if recipe else ("", {})
    overrides = dict(overrides or {})
    model = model or overrides.get("model") or file_values.get("model") or recipe_values.get("model")
    if not model:
        raise CnnkitError("no model given: name a zoo model or a spec file")
    cfg = TrainConfig(model=str(model))
    sources = {k: "default" for k in _FIELDS}
    layers = [(f"{model}'s recipe", recipe_for(str(model))),
              (recipe_label, {k: v for k, v in recipe_values.items() if k != "model"}),
              (f"config file {config_file}", file_values),
              (option_source, {"model": str(model), **overrides})]
    for label, values in layers:
        if values:
            cfg = merge(cfg, values, label)
            sources.update({k.replace("-", "_"): label for k in values})
    sources["model"] = option_source
    return validate(cfg), sources


def describe_sources(cfg: TrainConfig, sources: dict[str, str], skip=("model", "out", "data_dir")) -> str:
    """'lr 0.05 (lenet5's recipe), epochs 1 (options), ...': every value not left at its default."""
    groups: dict[str, list[str]] = {}
    for key, source in sources.items():
        if source != "default" and key not in skip:
            value = getattr(cfg, key)
            groups.setdefault(source, []).append(f"{key} {'none' if value == '' else value}")
    def rank(source: str) -> int:  # in the order they were layered
        return 3 if source in ("options", "flags") else 2 if source.startswith("config file") else \
            1 if source.startswith("recipe ") else 0

    ordered = sorted(groups.items(), key=lambda kv: rank(kv[0]))
    return "; ".join(f"{source}: {', '.join(items)}" for source, items in ordered) or "all defaults"


def save_json_atomic(path: Path, data: Any) -> None:
    from cnnkit.rundir.files import write_atomic

    write_atomic(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())
