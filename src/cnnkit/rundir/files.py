"""Atomic files: weights in safetensors, everything else in JSON, never half-written.

Every file of a run directory is written to a temporary name in the same
folder, flushed and fsync'ed, then renamed over the old one; a process killed
at any instant leaves either the old file or the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from cnnkit.errors import CnnkitError


def write_atomic(path: Path, payload: bytes) -> None:
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CnnkitError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CnnkitError(f"cannot write {path}: {exc.strerror or exc}; the previous file is intact") from None
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    write_atomic(path, save(flat))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise CnnkitError(f"{path} does not exist") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise CnnkitError(f"{path} is not a valid safetensors file: {exc}") from None


def save_json(path: Path, data: Any) -> None:
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())


def load_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CnnkitError(f"{path} does not exist") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CnnkitError(f"{path} is not valid JSON: {exc}") from None


def optimizer_to_files(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors (safetensors) and plain values (JSON)."""
    sd = opt.state_dict()
    tensors, plain_state = {}, {}
    for idx, st in sd["state"].items():
        plain_state[str(idx)] = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{idx}.{k}"] = v
                plain_state[str(idx)][k] = {"tensor": f"optim.{idx}.{k}"}
            else:
                plain_state[str(idx)][k] = v
    return tensors, {"state": plain_state, "param_groups": sd["param_groups"]}


def optimizer_from_files(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], plain: dict) -> None:
    state = {}
    for idx, st in plain["state"].items():
        state[int(idx)] = {k: tensors[v["tensor"]] if isinstance(v, dict) and "tensor" in v else v
                           for k, v in st.items()}
    opt.load_state_dict({"state": state, "param_groups": plain["param_groups"]})
