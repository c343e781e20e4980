"""cnnkit's own cache folder, shared by every layer that keeps files: downloads, decoded images, built kernels."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$CNNKIT_CACHE``, else ``~/.cache/cnnkit``."""
    return Path(os.environ.get("CNNKIT_CACHE") or Path.home() / ".cache" / "cnnkit").expanduser()
