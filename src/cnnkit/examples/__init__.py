"""Example specs shipped with cnnkit: ``cnnkit.examples.path("two-input")`` gives the file's path."""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def names() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.yaml"))


def path(name: str) -> str:
    """The path of example spec ``name`` (see :func:`names`)."""
    p = HERE / f"{name}.yaml"
    if not p.exists():
        from cnnkit.errors import CnnkitError

        raise CnnkitError(f"no example {name!r}; examples: {', '.join(names())}")
    return str(p)
