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


@pytest.fixture
def killed_then_resumed(data_root):
    """``(cmd, out, watch, resume_cmd)`` -> run ``cmd --out out`` in a subprocess, SIGKILL it once ``out/watch``
    exists (its first checkpoint), then run ``resume_cmd`` (default: ``cmd --out out --resume out``) to the end;
    returns that run's CompletedProcess.  The fault-injection pattern of the resume tests."""
    import signal
    import subprocess
    import time

    env = dict(os.environ, CNNKIT_DATA=str(data_root))

    def run(cmd, out: Path, watch: str = "checkpoint.safetensors", resume_cmd=None):
        proc = subprocess.Popen([*cmd, "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while not (out / watch).exists() and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        return subprocess.run(resume_cmd or [*cmd, "--out", str(out), "--resume", str(out)], env=env,
                              capture_output=True, text=True, timeout=300)

    return run
