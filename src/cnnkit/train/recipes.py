"""Per-model training defaults: the recipes of the papers and the lecture notes.

A recipe only sets keys of :class:`~cnnkit.train.config.TrainConfig`; config
files and flags override it.  Named recipes (``--recipe fast``) live beside
these as YAML files in ``cnnkit/recipes``.
"""

from __future__ import annotations

from pathlib import Path

from cnnkit.errors import CnnkitError

# Small digit nets: Nesterov SGD with a one-cycle LR, small translations.
DIGITS = dict(dataset="mnist", epochs=12, batch_size=128, lr=0.05, optimizer="sgd", momentum=0.9, nesterov=True,
              weight_decay=5e-4, schedule="onecycle", init="default", preprocess="standardize",
              augment="translate")
# The AlexNet recipe of the notes: SGD 0.01, momentum 0.9, wd 5e-4, batch 128, LR / 10 on plateau, 3 times.
ALEXNET = dict(dataset="cifar10", epochs=90, batch_size=128, lr=0.01, optimizer="sgd", momentum=0.9,
               weight_decay=5e-4, schedule="plateau", gamma=0.1, patience=1, max_drops=3, val_split=0.1,
               preprocess="mean-image", augment="crop,flip")
SMALL_CIFAR = dict(dataset="cifar10", epochs=20, batch_size=128, lr=0.05, optimizer="sgd", momentum=0.9,
                   nesterov=True, weight_decay=5e-4, schedule="onecycle", preprocess="standardize",
                   augment="crop,flip")
CIFAR_RESNET = dict(SMALL_CIFAR, epochs=60, lr=0.1, init="he")
VGG = dict(ALEXNET, preprocess="channel-mean", init="he")
IMAGENET_RESNET = dict(dataset="cifar10", epochs=60, batch_size=128, lr=0.1, optimizer="sgd", momentum=0.9,
                       weight_decay=1e-4, schedule="cosine", init="he", augment="crop,flip")

MODEL_RECIPES = {
    "mlp": dict(DIGITS, augment="", epochs=15),
    "lenet5": DIGITS,
    "lenet5-1998": dict(DIGITS, lr=0.02),
    "cifar10-net": SMALL_CIFAR,
    "cifar-speed": dict(SMALL_CIFAR, epochs=10, batch_size=512, lr=0.2, label_smoothing=0.2,
                        augment="flip,translate:2", channels_last=True, tta="flip", amp="auto"),
    "alexnet": ALEXNET,
    "caffenet": ALEXNET,
    "zfnet": ALEXNET,
    "alexnet-owt": ALEXNET,
    "googlenet": IMAGENET_RESNET,
    "resnet18": IMAGENET_RESNET,
    "resnet34": IMAGENET_RESNET,
    "resnet20": CIFAR_RESNET,
    "resnet32": CIFAR_RESNET,
    "resnet56": CIFAR_RESNET,
}

RECIPE_DIR = Path(__file__).resolve().parent.parent / "recipes"


def recipe_for(model: str) -> dict:
    """The default recipe of a zoo model (VGG columns share one); {} for spec files."""
    from cnnkit.models import get_entry
    from cnnkit.models.registry import is_registered

    if not is_registered(model):
        return {}
    name = get_entry(model).name
    if name.startswith("vgg"):
        return dict(VGG)
    return dict(MODEL_RECIPES.get(name, {}))


def named_recipe(name: str) -> Path:
    path = RECIPE_DIR / f"{name}.yaml"
    if not path.exists():
        have = sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))
        raise CnnkitError(f"unknown recipe {name!r}; available: {', '.join(have) or 'none'}")
    return path
