"""Readers for the official dataset file formats, strict about what they accept.

* IDX (MNIST family): big-endian magic ``0x0000 08 NN`` (unsigned bytes, NN
  dimensions), then NN 32-bit sizes, then the data; gzip or raw.
* CIFAR binary batches: records of ``<label bytes><3072 pixel bytes>``.
* CIFAR python batches: pickles, read with a restricted unpickler that builds
  only plain containers, bytes and numpy arrays - never arbitrary objects.

Every malformed file is a :class:`CnnkitError` naming the file and the problem.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path

import numpy as np

from cnnkit.errors import CnnkitError


def _read_bytes(path: Path, blob: bytes | None = None) -> bytes:
    """The file's bytes (or ``blob``, already read from an archive), gunzipped if needed."""
    if blob is not None:
        raw = blob
    else:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise CnnkitError(f"cannot read {path}: {exc.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise CnnkitError(f"{path} is a damaged gzip file ({exc}); delete it and fetch it again") from None
    return raw


def read_idx(path: Path, blob: bytes | None = None) -> np.ndarray:
    """An IDX file of unsigned bytes as a numpy array of its declared shape."""
    data = _read_bytes(path, blob)
    if len(data) < 4:
        raise CnnkitError(f"{path} is not an IDX file: only {len(data)} bytes")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08 or not 1 <= ndim <= 4:
        raise CnnkitError(f"{path} is not an IDX file of unsigned bytes: magic number "
                          f"0x{data[:4].hex()} (expected 0x000008 followed by 01-04)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CnnkitError(f"{path} is truncated: the IDX header needs {header} bytes, the file has {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    need = int(np.prod(shape, dtype=np.int64))
    have = len(data) - header
    if have != need:
        what = "truncated" if have < need else "longer than its header says"
        raise CnnkitError(f"{path} is {what}: header declares {'x'.join(map(str, shape))} = {need:,} bytes, "
                          f"file holds {have:,}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise CnnkitError(f"{images_path}: expected images of shape N x H x W, got {images.shape}")
    if labels.ndim != 1:
        raise CnnkitError(f"{labels_path}: expected a vector of labels, got shape {labels.shape}")
    if len(images) != len(labels):
        raise CnnkitError(f"{images_path} holds {len(images):,} images but {labels_path} holds "
                          f"{len(labels):,} labels")
    return images[:, None], labels  # (N, 1, H, W)


def read_cifar_binary(path: Path, blob: bytes | None = None, label_bytes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR binary batch: (N, 3, 32, 32) uint8 images and labels.

    CIFAR-100 records start with two label bytes (coarse, fine); the fine label is used.
    """
    data = _read_bytes(path, blob)
    record = label_bytes + 3072
    if not data or len(data) % record:
        raise CnnkitError(f"{path} is not a CIFAR binary batch: {len(data):,} bytes is not a multiple of the "
                          f"{record}-byte record")
    arr = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)
    labels = arr[:, label_bytes - 1].astype(np.int64)
    return arr[:, label_bytes:].reshape(-1, 3, 32, 32), labels


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds only what a CIFAR batch holds: dicts, lists, str, bytes, numbers, numpy arrays."""

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"), ("builtins", "bytearray"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a CIFAR batch")


def read_cifar_pickle(path: Path, blob: bytes | None = None,
                      label_key: str = "labels") -> tuple[np.ndarray, np.ndarray, dict]:
    raw = _read_bytes(path, blob)
    try:
        batch = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            struct.error, ImportError) as exc:
        raise CnnkitError(f"{path} is not a valid CIFAR python batch: {exc}") from None
    if not isinstance(batch, dict):
        raise CnnkitError(f"{path} is not a CIFAR python batch (it holds a {type(batch).__name__})")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise CnnkitError(f"{path} lacks 'data' or '{label_key}' (keys: {', '.join(map(str, batch))})")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise CnnkitError(f"{path}: 'data' must be N x 3072 uint8, got {data.shape} {data.dtype}")
    if len(data) != len(labels):
        raise CnnkitError(f"{path} holds {len(data):,} images but {len(labels):,} labels")
    return data.reshape(-1, 3, 32, 32), labels, batch


def read_cifar_meta(path: Path, blob: bytes | None = None, key: str = "label_names") -> list[str]:
    raw = _read_bytes(path, blob)
    try:
        meta = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing here
        raise CnnkitError(f"{path} is not a valid CIFAR meta file: {exc}") from None
    meta = {k.decode() if isinstance(k, bytes) else k: v for k, v in meta.items()}
    return [n.decode() if isinstance(n, bytes) else str(n) for n in meta[key]]
