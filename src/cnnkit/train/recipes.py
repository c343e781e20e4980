"""Per-model training defaults: the recipes of the papers and the lecture notes.

A recipe only sets keys of :class:`~cnnkit.train.config.TrainConfig`; config
files and flags override it.  Named recipes (``--recipe fast``) live beside
these as YAML files in ``cnnkit/recipes``; ``--recipe model:NAME`` takes a zoo
model's recipe for any network (e.g. the same net written as a spec file).
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
    # airbench's spirit, for a GPU (bench/gpu_cifar.py, one H100): batch 1024 (512 left the GPU waiting on
    # Python), frozen BN scales with BN biases at 8x LR, the net's 1/9 logit scale and peak LR 0.8 (+1.3
    # points over plain SGD at 0.2); torch.compile saved 7% of an epoch but cost 24 s, so it stays off.
    "cifar-speed": dict(SMALL_CIFAR, epochs=10, batch_size=1024, lr=0.8, lr_bn_scale=8, train_bn_scale=False,
                        label_smoothing=0.2, augment="flip,translate:2", channels_last=True, amp="auto",
                        compile=False, tta="flip,translate", eval_test_every_epoch=True),
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
        raise CnnkitError(f"unknown recipe {name!r}; available: {', '.join(have) or 'none'}, "
                          f"model:NAME (a zoo model's recipe) or a .yaml file")
    return path


def load_recipe(recipe: str) -> tuple[str, dict]:
    """(label, values) of ``--recipe``: a named recipe, ``model:NAME`` (a zoo model's), or a YAML/JSON file.

    A bare name that is both a named recipe and a zoo model is an error: the
    two would train differently, and a silent pick would hide which one ran.
    """
    from cnnkit.models.registry import is_registered
    from cnnkit.train.config import load_config_file

    if recipe.startswith("model:"):
        name = recipe[len("model:"):]
        if not is_registered(name):
            from cnnkit.models import get_entry

            get_entry(name)  # the unknown-model message, with suggestions
        return f"{name}'s recipe", recipe_for(name)
    if recipe.lower().endswith((".yaml", ".yml", ".json")) or "/" in recipe:
        return f"recipe {recipe}", load_config_file(recipe)
    named = (RECIPE_DIR / f"{recipe}.yaml").exists()
    if named and is_registered(recipe):
        raise CnnkitError(f"--recipe {recipe} is ambiguous: both a named recipe ({RECIPE_DIR / recipe}.yaml) and "
                          f"the zoo model {recipe}'s recipe; write --recipe {RECIPE_DIR / recipe}.yaml or "
                          f"--recipe model:{recipe}")
    if not named and is_registered(recipe):
        raise CnnkitError(f"no named recipe {recipe!r}; for the zoo model's recipe write --recipe model:{recipe}")
    return f"recipe {recipe}", load_config_file(named_recipe(recipe))
