"""C kernels for the few CPU hot spots that ATen and oneDNN leave slow, built on first use.

Why: profiling LeNet-5's training step on a 2-core CPU showed its
convolutions (1 and 6 input channels) running at ~20-30% of the CPU's peak
in oneDNN, and its first max pooling (6 channels, channels-last) taking ~20%
of the step, because ATen's kernel falls back to a scalar loop below 8
channels.  ``conv.c`` computes small convolutions with the batch as the
vector dimension (maps stored batch-last, (C, H, W, N)); ``maxpool.c`` pools
2x2 windows bit-for-bit like ATen, in any of the three layouts (see
``tests/layers/test_native.py`` and ``test_native_conv.py``).

The kernels are plain C with no PyTorch headers (compiling takes a few
seconds, once).  They are built with the system's C compiler (``$CC``, else
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

SOURCES = tuple(Path(__file__).with_name(name) for name in ("maxpool.c", "conv.c"))
# -ffp-contract=fast: fused multiply-adds (ISO C mode would forbid them)
FLAGS = ("-O3", "-std=gnu99", "-ffp-contract=fast", "-fPIC", "-shared")
# each dropped in turn if the compiler refuses it: without OpenMP the kernels run on one thread
OPTIONAL = (("-march=native", "-fopenmp"), ("-fopenmp",), ("-march=native",), ())


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
    for extra in OPTIONAL:
        flags = FLAGS + extra
        # a private name, then an atomic rename: concurrent processes (DDP ranks, test workers) never see half a file
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        try:
            done = subprocess.run([cc, *flags, "-o", tmp, *map(str, SOURCES)], capture_output=True, timeout=300)
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
    for fn in (lib.cnnkit_conv_forward, lib.cnnkit_conv_weight_grad):
        fn.argtypes = [ptr] * 4 + [i64] * 10
        fn.restype = ctypes.c_int
    lib.cnnkit_openmp.argtypes, lib.cnnkit_openmp.restype = [], ctypes.c_int
    return lib


def _target(cc: str) -> Path:
    """Where the library for these sources, flags, compiler and CPU lives in the cache."""
    key = hashlib.sha256(b"\0".join([*(f.read_bytes() for f in SOURCES), repr((FLAGS, OPTIONAL)).encode(), cc.encode(),
                                     platform.machine().encode(), _cpu_signature().encode()])).hexdigest()[:16]
    return cache_dir() / "native" / f"cnnkit-{key}.so"


def needs_build() -> bool:
    """Whether :func:`library` would compile first (a few seconds, once per machine): worth telling the user."""
    cc = _compiler()
    return (library.cache_info().currsize == 0 and enabled() and sys.platform != "win32" and cc is not None
            and not _target(cc).exists())


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled kernels, or None where they cannot be built (then PyTorch's operators are used)."""
    if not enabled() or sys.platform == "win32":
        return None
    cc = _compiler()
    if cc is None:
        return None
    target = _target(cc)
    try:
        if not target.exists() and not _build(cc, target):
            return None
        return _declare(ctypes.CDLL(str(target)))
    except OSError:  # unwritable cache, a library that does not load: fall back to PyTorch
        return None
