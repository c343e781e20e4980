"""Shared fixtures: the shared datasets (through CNNKIT_DATA, as users find them) and an isolated cache."""

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def _data_root() -> Path | None:
    for part in (os.environ.get("CNNKIT_DATA") or "").split(os.pathsep):
        if part and (Path(part) / "mnist").is_dir():
            return Path(part)
    return SHARED if (SHARED / "mnist").is_dir() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _data_root()
    if root is None:
        pytest.skip("shared datasets not found: set CNNKIT_DATA to the folder holding mnist/")
    return root


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CNNKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cnnkit-cache"))
    root = _data_root()
    if root is not None:
        monkeypatch.setenv("CNNKIT_DATA", str(root))


@pytest.fixture(scope="session")
def mnist(data_root):
    import warnings

    from cnnkit.data import load_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_dataset("mnist", data_root)
