"""C kernels for the few CPU hot spots that ATen and oneDNN leave slow, built on first use.

Why: profiling LeNet-5's training step on a 2-core CPU showed its first max
pooling (6 channels, channels-last) taking ~20% of the step, because ATen's
kernel falls back to a scalar loop below 8 channels and zero-fills the
gradient in a separate pass.  ``maxpool.c`` does the same arithmetic 2-3x
faster and bit-for-bit identically (see ``tests/layers/test_native.py``).

The kernels are plain C with no PyTorch headers, so compiling takes well
under a second.  They are built with the system's C compiler (``$CC``, else
``cc``/``gcc``/``clang``) into ``$CNNKIT_CACHE/native`` (default
``~/.cache/cnnkit/native``), keyed by source, flags and CPU, and loaded with
:mod:`ctypes`.  With no compiler, on a build failure, or with
``CNNKIT_NATIVE=0``, cnnkit silently uses PyTorch's own operators; the
results are the same, only slower.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cnnkit.cache import cache_dir

SOURCE = Path(__file__).with_name("maxpool.c")
FLAGS = ("-O3", "-std=c99", "-fPIC", "-shared")
TUNE = ("-march=native",)  # dropped if the compiler refuses it


def enabled() -> bool:
    return os.environ.get("CNNKIT_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_signature() -> str:
    """What ``-march=native`` depends on: a library built for one CPU may not run on another."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _build(cc: str, target: Path) -> bool:
    target.parent.mkdir(parents=True, exist_ok=True)
    for flags in (FLAGS + TUNE, FLAGS):
        # a private name, then an atomic rename: concurrent processes (DDP ranks, test workers) never see half a file
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        try:
            done = subprocess.run([cc, *flags, "-o", tmp, str(SOURCE)], capture_output=True, timeout=120)
            if done.returncode == 0:
                os.replace(tmp, target)
                return True
        except (OSError, subprocess.SubprocessError):
            pass
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return False


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    ptr, i64 = ctypes.c_void_p, ctypes.c_int64
    for fn in (lib.cnnkit_maxpool2_forward, lib.cnnkit_maxpool2_backward):
        fn.argtypes = [ptr, ptr, ptr, i64, i64, i64, i64]
        fn.restype = None
    return lib


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled kernels, or None where they cannot be built (then PyTorch's operators are used)."""
    if not enabled() or sys.platform == "win32":
        return None
    cc = _compiler()
    if cc is None:
        return None
    key = hashlib.sha256(b"\0".join([SOURCE.read_bytes(), " ".join(FLAGS + TUNE).encode(), cc.encode(),
                                     platform.machine().encode(), _cpu_signature().encode()])).hexdigest()[:16]
    target = cache_dir() / "native" / f"cnnkit-{key}.so"
    try:
        if not target.exists() and not _build(cc, target):
            return None
        return _declare(ctypes.CDLL(str(target)))
    except OSError:  # unwritable cache, a library that does not load: fall back to PyTorch
        return None
