"""Image folders: one sub-folder per class, the layout users keep their own images in.

``ROOT/train/<class>/*`` and ``ROOT/test/<class>/*`` (and ``val/``) become
those splits; a flat ``ROOT/<class>/*`` is split with a seed.  Images are
decoded once (two threads), converted like ``predict`` converts them, and the
decoded uint8 arrays are cached under ``~/.cache/cnnkit/folders`` keyed by the
listing, so the second run starts at once.  Unreadable files are reported by
name and skipped (or refused with ``strict``).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from cnnkit.data.images import IMAGE_EXTENSIONS, BadImageError, decode_image, load_image
from cnnkit.data.sources import cache_dir
from cnnkit.data.tensors import ImageData, split
from cnnkit.errors import CnnkitError

SPLIT_NAMES = {"train": "train", "test": "test", "val": "val", "valid": "val", "validation": "val"}


class SkippedImagesWarning(UserWarning):
    """Some files of an image folder could not be used."""


def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def _class_dirs(root: Path) -> list[Path]:
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def scan(root: Path) -> dict[str, list[tuple[Path, str]]]:
    """{split: [(file, class name), ...]}; a flat tree gives a single 'all' split."""
    if not root.is_dir():
        raise CnnkitError(f"image folder {root} does not exist or is not a folder")
    subdirs = {d.name.lower(): d for d in _class_dirs(root)}
    split_dirs = {SPLIT_NAMES[k]: d for k, d in subdirs.items() if k in SPLIT_NAMES}
    if "train" not in split_dirs:
        split_dirs = {"all": root}
    out = {}
    for split_name, d in split_dirs.items():
        files = [(f, c.name) for c in _class_dirs(d) for f in sorted(c.rglob("*")) if f.is_file() and _is_image(f)]
        if files:
            out[split_name] = files
    if not out:
        raise CnnkitError(f"image folder {root} holds no images in class sub-folders (expected "
                          f"{root}/<class>/<image> or {root}/train/<class>/<image>)")
    return out


def _decode_all(items, channels, size, desc: str, open_fn):
    from tqdm import tqdm

    def work(item):
        try:
            return open_fn(item)
        except BadImageError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        results = list(tqdm(pool.map(work, items, chunksize=64), total=len(items), desc=desc, unit="img",
                            leave=False, disable=len(items) < 2000))
    bad = [str(r) for r in results if isinstance(r, Exception)]
    keep = [i for i, r in enumerate(results) if not isinstance(r, Exception)]
    arr = np.stack([results[i] for i in keep]) if keep else np.zeros((0, channels, *size), np.uint8)
    return arr, keep, bad


def report_skipped(bad: list[str], strict: bool) -> None:
    """Refuse (``strict``) or name the unusable files: on every run, whether decoded now or cached."""
    if bad and strict:
        raise CnnkitError(f"{len(bad)} unusable image(s), e.g. {bad[0]} (fix or remove them, or drop --strict "
                          f"to skip them)")
    if bad:
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        warnings.warn(f"skipped {len(bad)} unusable image(s): {shown}", SkippedImagesWarning, stacklevel=3)


def _decode_splits(by_split: dict, index: dict, channels, size, open_fn) -> dict:
    """Decode every split into uint8 arrays; the unusable files go into the arrays too, so a cached
    load reports them (and ``strict`` refuses them) exactly as the first decode did."""
    arrays, bad_all = {}, []
    for split_name, files in by_split.items():
        imgs, keep, bad = _decode_all([f for f, _ in files], channels, size, f"decoding {split_name}", open_fn)
        arrays[f"images_{split_name}"] = imgs
        arrays[f"labels_{split_name}"] = np.array([index[files[i][1]] for i in keep], dtype=np.int64)
        bad_all += bad
    arrays["skipped"] = np.array(bad_all, dtype=str)
    return arrays


def _cache_path(kind: str, signature: str) -> Path:
    return cache_dir() / "decoded" / f"{kind}-{hashlib.sha1(signature.encode()).hexdigest()[:20]}.npz"


def _load_cached(path: Path):
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError):
        return None


def _save_cached(path: Path, arrays: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs time


def _assemble(arrays: dict, classes: list[str], name: str, seed: int, test_fraction: float) -> dict[str, ImageData]:
    splits = {}
    for key in arrays:
        if key.startswith("images_"):
            s = key[len("images_"):]
            splits[s] = ImageData(torch.from_numpy(arrays[key]), torch.from_numpy(arrays[f"labels_{s}"]).long(),
                                  classes, f"{name}:{s}")
    if "all" in splits:
        rest, held = split(splits.pop("all"), test_fraction, seed)
        splits["train"], splits["test"] = rest, held
    return splits


TARGETS_FILE = "targets.csv"


def read_targets(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """``targets.csv``: a ``file`` column and one numeric column per target -> (files, names, (N, T) values)."""
    import csv

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    rows = list(csv.reader(text.splitlines()))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise CnnkitError(f"{path} is empty: it needs a header with a 'file' column and one column per target")
    header = [h.strip() for h in rows[0]]
    if "file" not in header:
        raise CnnkitError(f"{path} has no 'file' column (columns found: {', '.join(header) or 'none'}); the header "
                          f"needs 'file' and one column per target, e.g. file,age,height")
    fi = header.index("file")
    names = [h for i, h in enumerate(header) if i != fi]
    if not names:
        raise CnnkitError(f"{path} has only a 'file' column: add one column per target value")
    files, values = [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CnnkitError(f"{path}, line {line}: {len(row)} values for {len(header)} columns")
        try:
            values.append([float(row[i]) for i in range(len(header)) if i != fi])
        except ValueError:
            bad = next(row[i] for i in range(len(header)) if i != fi and not _is_number(row[i]))
            raise CnnkitError(f"{path}, line {line}: {bad!r} is not a number") from None
        files.append(row[fi].strip())
    arr = np.array(values, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise CnnkitError(f"{path}: targets must be finite numbers (found NaN or infinity)")
    return files, names, arr


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def load_targets_folder(root: Path, channels: int, size: tuple[int, int], *, seed: int = 0,
                        test_fraction: float = 0.2, strict: bool = False) -> dict[str, ImageData]:
    """A folder of images with ``targets.csv`` (regression): a seeded train/test split of (image, values)."""
    files, names, values = read_targets(root / TARGETS_FILE)
    paths = []
    for f in files:
        p = (root / f).resolve()
        if root not in p.parents:
            raise CnnkitError(f"{root / TARGETS_FILE}: {f!r} lies outside the folder")
        paths.append(p)
    imgs, keep, bad = _decode_all(paths, channels, size, "decoding", lambda f: load_image(f, channels, size))
    report_skipped(bad, strict)
    if len(keep) < 2:
        raise CnnkitError(f"{root}: fewer than two usable images listed in {TARGETS_FILE}")
    data = ImageData(torch.from_numpy(imgs), torch.as_tensor(values[keep], dtype=torch.float32), names,
                     f"folder:{root}")
    rest, held = split(data, test_fraction, seed)
    return {"train": rest, "test": held}


def load_folder(root: str | Path, channels: int, size: tuple[int, int], *, seed: int = 0,
                test_fraction: float = 0.2, strict: bool = False, stream: bool = False) -> dict:
    """Decode an image-folder tree into splits of uint8 tensors of shape (channels, *size).

    With ``stream`` the training split stays on disk as a :class:`StreamingData`
    (decoded batch by batch by worker processes); the other splits are decoded.
    """
    root = Path(root).expanduser().resolve()
    if (root / TARGETS_FILE).is_file():
        if stream:
            raise CnnkitError(f"--stream is for class folders; {root} holds {TARGETS_FILE} (regression targets)")
        return load_targets_folder(root, channels, size, seed=seed, test_fraction=test_fraction, strict=strict)
    listing = scan(root)
    classes = sorted({c for files in listing.values() for _, c in files})
    if stream:
        from cnnkit.data.stream import streaming_split

        if "all" in listing:  # a flat tree: split the file list with the seed
            files = listing.pop("all")
            perm = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
            k = int(round(len(files) * test_fraction))
            listing["test"] = [files[i] for i in sorted(perm[:k])]
            listing["train"] = [files[i] for i in sorted(perm[k:])]
        train = streaming_split(listing.pop("train"), classes, (channels, *size), f"folder:{root}:train")
        rest = {s: streaming_split(f, classes, (channels, *size), f"folder:{root}:{s}").decoded()
                for s, f in listing.items()}
        return {"train": train, **rest}
    index = {c: i for i, c in enumerate(classes)}
    stamp = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for files in listing.values() for f, _ in files]
    cache = _cache_path("folder", repr((str(root), channels, tuple(size), stamp)))
    arrays = _load_cached(cache)
    if arrays is None or "skipped" not in arrays:
        arrays = _decode_splits(listing, index, channels, size, lambda f: load_image(f, channels, size))
        _save_cached(cache, arrays)
    report_skipped([str(b) for b in arrays.pop("skipped")], strict)
    return _assemble(arrays, classes, f"folder:{root}", seed, test_fraction)


def load_image_tar(path: Path, channels: int, size: tuple[int, int], *, prefix_depth: int = 1,
                   strict: bool = False, seed: int = 0) -> dict[str, ImageData]:
    """An image-folder tree inside a .tar(.gz), decoded straight from the archive (no unpacking).

    Members are ``<top>/<split>/<class>/<file>`` (``prefix_depth`` leading folders skipped).
    """
    st = path.stat()
    cache = _cache_path("tar", repr((str(path.resolve()), st.st_size, st.st_mtime_ns, channels, tuple(size))))
    arrays = _load_cached(cache)
    if arrays is None or "skipped" not in arrays:
        try:
            with tarfile.open(path) as tar:
                members = [m for m in tar.getmembers() if m.isfile() and _is_image(Path(m.name))]
                blobs = {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise CnnkitError(f"{path} is not a readable tar archive: {exc}") from None
        by_split: dict[str, list[tuple[str, str]]] = {}
        for name in sorted(blobs):
            parts = Path(name).parts[prefix_depth:]
            if len(parts) == 3 and parts[0].lower() in SPLIT_NAMES:
                by_split.setdefault(SPLIT_NAMES[parts[0].lower()], []).append((name, parts[1]))
            elif len(parts) == 2:
                by_split.setdefault("all", []).append((name, parts[0]))
        if not by_split:
            raise CnnkitError(f"{path} holds no <split>/<class>/<image> tree")
        classes = sorted({c for files in by_split.values() for _, c in files})
        index = {c: i for i, c in enumerate(classes)}
        import io

        arrays = _decode_splits(by_split, index, channels, size,
                                lambda n: decode_image(io.BytesIO(blobs[n]), f"{path}:{n}", channels, size))
        arrays["classes"] = np.array(classes)
        _save_cached(cache, arrays)
    report_skipped([str(b) for b in arrays.pop("skipped")], strict)
    classes = [str(c) for c in arrays.pop("classes")]
    return _assemble(arrays, classes, str(path), seed, 0.2)
