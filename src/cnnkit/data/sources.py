"""Where datasets live and how they get there.

Lookup order for a dataset's files: ``--data-dir``, ``$CNNKIT_DATA`` (one or
more folders separated by ``:``), ``~/.cache/cnnkit`` (``$CNNKIT_CACHE``) and
Debian's ``/usr/share/datasets``.  Inside each root a dataset's files sit in a
folder named after it (``mnist/train-images-idx3-ubyte.gz``), or at the root.

Downloads go to the first writable root, are verified against their SHA-256
while they stream, and land with an atomic rename: an interrupted or corrupt
transfer never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

from cnnkit.cache import cache_dir
from cnnkit.errors import CnnkitError

DEBIAN_DATASETS = Path("/usr/share/datasets")


class ChecksumWarning(UserWarning):
    """A local file differs from the official release; it is used anyway."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name, official SHA-256 and download mirrors."""

    name: str
    sha256: str | None
    urls: tuple[str, ...]


def data_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    roots: list[Path] = []
    if data_dir:
        roots.append(Path(data_dir).expanduser())
    for part in (os.environ.get("CNNKIT_DATA") or "").split(os.pathsep):
        if part.strip():
            roots.append(Path(part.strip()).expanduser())
    roots += [cache_dir(), DEBIAN_DATASETS]
    seen, unique = set(), []
    for r in roots:
        key = str(r.resolve()) if r.exists() else str(r)
        if key not in seen:
            seen.add(key)
            unique.append(r)
    return unique


def find_file(dataset: str, filename: str, data_dir=None, folders: tuple[str, ...] = ()) -> Path | None:
    """The first existing ``ROOT/<folder>/<filename>`` (folders default to the dataset name)."""
    for root in data_roots(data_dir):
        for sub in (*(folders or (dataset,)), ""):
            p = root / sub / filename if sub else root / filename
            if p.exists():
                return p
    return None


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


_VERIFIED: dict[tuple[str, int, float], str] = {}


def check_local(path: Path, expected: str | None) -> None:
    """Warn (once per file) when a local copy's checksum differs from the official one."""
    if expected is None:
        return
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_of(path)
    if _VERIFIED[key] != expected:
        warnings.warn(f"{path} differs from the official release (SHA-256 {_VERIFIED[key][:12]}… instead of "
                      f"{expected[:12]}…); loading it anyway", ChecksumWarning, stacklevel=3)


def writable_root(data_dir=None) -> Path:
    for root in data_roots(data_dir):
        if root == DEBIAN_DATASETS:
            continue
        try:
            root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=root):
                pass
            return root
        except OSError:
            continue
    raise CnnkitError("no writable data folder: pass --data-dir or set CNNKIT_DATA to a folder you can write")


def download(url: str, dest: Path, sha256: str | None, *, progress: bool = True, timeout: float = 60) -> Path:
    """Stream ``url`` to ``dest``, checking size and SHA-256; atomic, never half-written.

    Raises CnnkitError on network errors, short transfers and checksum mismatches;
    the partial file is removed in every case.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                resp = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (http/https mirrors only)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise CnnkitError(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from None
            with resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                bar = _bar(total, dest.name) if progress else None
                got = 0
                while True:
                    try:
                        block = resp.read(1 << 16)
                    except (OSError, ValueError) as exc:
                        raise CnnkitError(f"download of {url} was interrupted after {got:,} bytes: {exc}") from None
                    if not block:
                        break
                    out.write(block)
                    h.update(block)
                    got += len(block)
                    if bar is not None:
                        bar.update(len(block))
                if bar is not None:
                    bar.close()
            if total is not None and got != total:
                raise CnnkitError(f"download of {url} was interrupted: got {got:,} of {total:,} bytes")
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if sha256 is not None and digest != sha256:
            raise CnnkitError(f"{url} failed its checksum (SHA-256 {digest[:16]}…, expected {sha256[:16]}…); "
                              f"the file was discarded — try again or another mirror")
        os.replace(tmp, dest)
        return dest
    finally:
        if tmp.exists():
            tmp.unlink()


def _bar(total, name):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"downloading {name}", leave=False)


def fetch(dataset: str, remote: RemoteFile, data_dir=None, *, download_missing: bool = True,
          how_to_get: str = "") -> Path:
    """A local path for one file of a dataset: found in a data root, or downloaded."""
    local = find_file(dataset, remote.name, data_dir)
    if local is not None:
        check_local(local, remote.sha256)
        return local
    looked = ", ".join(str(r) for r in data_roots(data_dir))
    if not download_missing or not remote.urls:
        raise CnnkitError(f"{dataset}: {remote.name} not found (looked in {looked}). {how_to_get}".strip())
    dest = writable_root(data_dir) / dataset / remote.name
    errors = []
    for url in remote.urls:
        try:
            return download(url, dest, remote.sha256)
        except CnnkitError as exc:
            errors.append(str(exc))
    raise CnnkitError(f"{dataset}: {remote.name} is not on this machine (looked in {looked}) and could not be "
                      f"downloaded ({errors[-1]}). Put the file in one of those folders or pass --data-dir. "
                      f"{how_to_get}".strip())
