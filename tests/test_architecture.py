"""The tree reads in the direction of dependency: no package imports one above it."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "cnnkit"
#: lowest first; a package may import only those before it (and itself)
ORDER = ["errors", "cache", "examples", "spec", "inspect", "layers", "models", "data", "rundir", "evaluate", "train",
         "transfer", "reproduce", "demo", "sklearn", "cli"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cnnkit."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("cnnkit.")}
    return out


def test_no_package_imports_one_above_it():
    rank = {name: i for i, name in enumerate(ORDER)}
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("__init__.py", "__main__.py"):
            continue
        me = rel.parts[0].removesuffix(".py")
        assert me in rank, f"{rel}: package {me!r} has no place in ORDER"
        for other in _imports(path):
            if other in rank and rank[other] > rank[me]:
                bad.append(f"{rel} imports cnnkit.{other}")
    assert not bad, "imports against the package order: " + "; ".join(sorted(bad))
