"""Which recipe a run starts from: the zoo model's own, a named one, a file.

A zoo entry carries its recipe (:mod:`cnnkit.models.recipes`); a recipe only
sets keys of :class:`~cnnkit.train.config.TrainConfig`; config files and flags
override it.  Named recipes (``--recipe fast``) live beside
these as YAML files in ``cnnkit/recipes``; ``--recipe model:NAME`` takes a zoo
model's recipe for any network (e.g. the same net written as a spec file).
"""

from __future__ import annotations

from pathlib import Path

from cnnkit.errors import CnnkitError

RECIPE_DIR = Path(__file__).resolve().parent.parent / "recipes"


def recipe_for(model: str) -> dict:
    """The recipe a zoo model's registration names (cnnkit.models.recipes); {} for spec files."""
    from cnnkit.models import get_entry
    from cnnkit.models.registry import is_registered

    return dict(get_entry(model).recipe) if is_registered(model) else {}


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
