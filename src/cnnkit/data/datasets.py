"""Named datasets: MNIST, Fashion-MNIST, KMNIST, CIFAR-10/100, image folders, arrays.

:func:`load_dataset` returns a :class:`Dataset` - named splits of uint8
tensors - from whichever official files a data root holds, downloading the
official release (SHA-256 checked) when none does.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnkit.data import formats
from cnnkit.data.folder import load_folder, load_image_tar
from cnnkit.data.sources import RemoteFile, check_local, data_roots, fetch, find_file
from cnnkit.data.tensors import ImageData
from cnnkit.errors import CnnkitError
from cnnkit.spec.schema import suggest


@dataclass
class Dataset:
    """Named splits (``train``, ``test``, maybe ``val``) of one dataset."""

    name: str
    splits: dict[str, ImageData]
    classes: list[str]
    notes: list[str] = field(default_factory=list)
    #: images follow MNIST's digit normalisation (20x20 ink box centred by mass in 28x28); predict applies it
    digits: bool = False
    #: a left-right mirror keeps every label (false for digits and characters: a mirrored 2 is no 2)
    mirror_safe: bool = True
    #: text data sets: the tokeniser's vocabulary (fitted on the training split), and the counts before any split
    vocabulary: Any = None
    totals: dict | None = None

    def flip_warning(self, where: str) -> str | None:
        """A warning when ``where`` (e.g. '--tta flip') mirrors images whose labels do not survive it."""
        if self.mirror_safe:
            return None
        return (f"{where} mirrors the images, but {self.name}'s labels are not mirror-symmetric (a mirrored digit "
                f"or character is not the same class): expect a higher error; drop flip")

    def __getitem__(self, split: str) -> ImageData:
        if split not in self.splits:
            raise CnnkitError(f"{self.name} has no '{split}' split (it has {', '.join(self.splits)})")
        return self.splits[split]

    @property
    def shape(self) -> tuple[int, int, int]:
        return next(iter(self.splits.values())).shape


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    url: str
    classes: tuple[str, ...]
    shape: tuple[int, int, int]
    load: Callable[..., Dataset]


DATASETS: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo) -> None:
    if info.name in DATASETS:
        raise ValueError(f"dataset {info.name!r} is already registered")
    DATASETS[info.name] = info


# ----------------------------------------------------------------------------- IDX family
IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")


def _idx_dataset(name, description, home, mirrors, sha256s, classes, digits=False, mirror_safe=True):
    remotes = [RemoteFile(f, sha, tuple(m + f for m in mirrors)) for f, sha in zip(IDX_FILES, sha256s)]

    def load(data_dir=None, download=True, **_) -> Dataset:
        how = f"Get the four IDX files from {home}."
        paths = [_fetch_idx(name, r, data_dir, download, how) for r in remotes]
        train = formats.read_idx_pair(paths[0], paths[1])
        test = formats.read_idx_pair(paths[2], paths[3])
        splits = {s: ImageData(torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64)), list(classes),
                               f"{name}:{s}") for s, (x, y) in (("train", train), ("test", test))}
        return Dataset(name, splits, list(classes), digits=digits, mirror_safe=mirror_safe)

    register_dataset(DatasetInfo(name, description, home, tuple(classes), (1, 28, 28), load))


def _fetch_idx(name, remote: RemoteFile, data_dir, download, how) -> Path:
    raw = find_file(name, remote.name[:-3], data_dir)  # an already unzipped copy
    if raw is not None and find_file(name, remote.name, data_dir) is None:
        return raw
    return fetch(name, remote, data_dir, download_missing=download, how_to_get=how)


_idx_dataset("mnist", "handwritten digits, 60,000 train + 10,000 test, 28x28 grey",
             "https://yann.lecun.com/exdb/mnist/",
             ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://yann.lecun.com/exdb/mnist/"),
             ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
              "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
              "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
              "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
             [str(d) for d in range(10)], digits=True, mirror_safe=False)
_idx_dataset("fashion-mnist", "Zalando article images, a harder drop-in for MNIST, 28x28 grey",
             "https://github.com/zalandoresearch/fashion-mnist",
             ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
             ("b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
              "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
              "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
              "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
             ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
              "Ankle boot"])
_idx_dataset("kmnist", "Kuzushiji-MNIST: cursive Japanese hiragana, 28x28 grey", "https://github.com/rois-codh/kmnist",
             ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
             ("51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
              "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
              "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
              "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"),
             ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"], mirror_safe=False)


# ----------------------------------------------------------------------------- CIFAR
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_HOME = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR10_BIN = RemoteFile("cifar-10-binary.tar.gz", "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                         ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",))
CIFAR10_PY = RemoteFile("cifar-10-python.tar.gz", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                        ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",))
CIFAR100_PY = RemoteFile("cifar-100-python.tar.gz", "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
                         ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",))
CIFAR10_JPEG = "cifar10-jpeg.tar.gz"


class _Source:
    """Named members of a CIFAR folder, or of the folder inside its tarball (read, not unpacked)."""

    def __init__(self, path: Path, inner: str):
        self.path, self.inner = path, inner

    def read(self, name: str, reader, **kw):
        if self.path.is_dir():
            return reader(self.path / name, **kw)
        label = f"{self.path}:{self.inner}/{name}"
        try:
            with tarfile.open(self.path) as tar:
                member = tar.extractfile(f"{self.inner}/{name}")
                if member is None:
                    raise KeyError(name)
                blob = member.read()
        except KeyError:
            raise CnnkitError(f"{self.path} has no member {self.inner}/{name}") from None
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise CnnkitError(f"{self.path} is not a readable CIFAR archive: {exc}") from None
        return reader(Path(label), blob, **kw)


def _cifar10_binary(src: _Source) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    parts = [src.read(f"data_batch_{i}.bin", formats.read_cifar_binary) for i in range(1, 6)]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return {"train": train, "test": src.read("test_batch.bin", formats.read_cifar_binary)}


def _cifar10_python(src: _Source) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    parts = [src.read(f"data_batch_{i}", formats.read_cifar_pickle)[:2] for i in range(1, 6)]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return {"train": train, "test": src.read("test_batch", formats.read_cifar_pickle)[:2]}


def _to_dataset(name, arrays, classes, notes=()) -> Dataset:
    splits = {s: ImageData(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64)),
                           list(classes), f"{name}:{s}") for s, (x, y) in arrays.items()}
    return Dataset(name, splits, list(classes), list(notes))


def _load_cifar10(data_dir=None, download=True, **_) -> Dataset:
    for fname, inner, reader in (("cifar-10-batches-bin", "", _cifar10_binary),
                                 ("cifar-10-binary.tar.gz", "cifar-10-batches-bin", _cifar10_binary),
                                 ("cifar-10-batches-py", "", _cifar10_python),
                                 ("cifar-10-python.tar.gz", "cifar-10-batches-py", _cifar10_python)):
        path = find_file("cifar10", fname, data_dir)
        if path is not None:
            if path.is_file():
                check_local(path, CIFAR10_BIN.sha256 if "binary" in fname else CIFAR10_PY.sha256)
            return _to_dataset("cifar10", reader(_Source(path, inner)), CIFAR10_CLASSES)
    jpeg = find_file("cifar10", CIFAR10_JPEG, data_dir) or find_file("cifar10", "cifar10-jpeg", data_dir)
    if jpeg is not None:
        ds = _load_cifar10_jpeg(data_dir, path=jpeg)
        ds.name = "cifar10"
        return ds
    path = fetch("cifar10", CIFAR10_BIN, data_dir, download_missing=download,
                 how_to_get=f"Get cifar-10-binary.tar.gz from {CIFAR_HOME}.")
    return _to_dataset("cifar10", _cifar10_binary(_Source(path, "cifar-10-batches-bin")), CIFAR10_CLASSES)


def _load_cifar10_jpeg(data_dir=None, download=True, path: Path | None = None, strict=False, **_) -> Dataset:
    path = path or find_file("cifar10", CIFAR10_JPEG, data_dir) or find_file("cifar10", "cifar10-jpeg", data_dir)
    if path is None:
        looked = ", ".join(str(r) for r in data_roots(data_dir))
        raise CnnkitError(f"cifar10-jpeg: {CIFAR10_JPEG} not found (looked in {looked})")
    note = "CIFAR-10 as a JPEG export: lossy pixels, accuracies close to but not identical with the original"
    if path.is_dir():
        splits = load_folder(path, 3, (32, 32), strict=strict)
    else:
        splits = load_image_tar(path, 3, (32, 32), strict=strict)
    classes = next(iter(splits.values())).classes
    return Dataset("cifar10-jpeg", splits, classes, [note])


def _load_cifar100(data_dir=None, download=True, **_) -> Dataset:
    for fname, inner in (("cifar-100-binary", ""), ("cifar-100-binary.tar.gz", "cifar-100-binary")):
        path = find_file("cifar100", fname, data_dir)
        if path is not None:  # records of <coarse label><fine label><3072 pixels>
            src = _Source(path, inner)
            arrays = {s: src.read(f"{s}.bin", formats.read_cifar_binary, label_bytes=2) for s in ("train", "test")}
            names = src.read("fine_label_names.txt", lambda p, blob=None: (blob or Path(p).read_bytes()).decode())
            return _to_dataset("cifar100", arrays, [n.strip() for n in names.splitlines() if n.strip()])
    path = find_file("cifar100", "cifar-100-python", data_dir)
    if path is None:
        path = fetch("cifar100", CIFAR100_PY, data_dir, download_missing=download,
                     how_to_get=f"Get cifar-100-python.tar.gz from {CIFAR_HOME}.")
    src = _Source(path, "cifar-100-python")
    arrays = {s: src.read(s, formats.read_cifar_pickle, label_key="fine_labels")[:2] for s in ("train", "test")}
    classes = src.read("meta", formats.read_cifar_meta, key="fine_label_names")
    return _to_dataset("cifar100", arrays, classes)


register_dataset(DatasetInfo("cifar10", "10 object classes, 50,000 train + 10,000 test, 32x32 RGB", CIFAR_HOME,
                             CIFAR10_CLASSES, (3, 32, 32), _load_cifar10))
register_dataset(DatasetInfo("cifar10-jpeg", "CIFAR-10 as a JPEG image-folder tarball (a public export)",
                             CIFAR_HOME, CIFAR10_CLASSES, (3, 32, 32), _load_cifar10_jpeg))
register_dataset(DatasetInfo("cifar100", "100 object classes, 50,000 train + 10,000 test, 32x32 RGB", CIFAR_HOME,
                             (), (3, 32, 32), _load_cifar100))


# ----------------------------------------------------------------------------- entry point
def list_datasets() -> list[str]:
    from cnnkit.data.text import TEXT_DATASETS

    return [*DATASETS, *TEXT_DATASETS]


def load_dataset(name: str, data_dir=None, *, input_shape: tuple[int, int, int] | None = None,
                 download: bool = True, seed: int = 0, strict: bool = False, stream: bool = False,
                 text_options: dict | None = None) -> Dataset:
    """Load a named dataset, or ``folder:PATH`` (decoded to ``input_shape`` when given), or text
    (``mr``, ``text:DIR``, ``csv:PATH``, ``tsv:PATH``: see :mod:`cnnkit.data.text`; ``input_shape``
    (1, 1, L) sets the tokens per sample).

    ``stream`` keeps an image folder's training split on disk (see :mod:`cnnkit.data.stream`).
    """
    from cnnkit.data.text import is_text_dataset, load_text_dataset

    if is_text_dataset(name):
        length = input_shape[2] if input_shape and input_shape[:2] == (1, 1) else 0
        return load_text_dataset(name, data_dir, length=length, seed=seed, **(text_options or {}))
    if name.startswith("folder:"):
        root = Path(name[len("folder:"):]).expanduser()
        c, h, w = input_shape or _guess_folder_shape(root)
        splits = load_folder(root, c, (h, w), seed=seed, strict=strict, stream=stream)
        classes = splits["train"].classes
        return Dataset(name, splits, classes)
    key = name.strip().lower()
    if stream and key in DATASETS:
        raise CnnkitError(f"--stream is for image folders larger than memory; {name} is loaded into memory")
    if key not in DATASETS:
        raise CnnkitError(f"unknown dataset {name!r}{suggest(key, [*DATASETS, 'mr'])}; available: "
                          f"{', '.join(DATASETS)}, mr, or folder:PATH for your own images, text:DIR / csv:PATH / "
                          f"tsv:PATH for your own text")
    return DATASETS[key].load(data_dir=data_dir, download=download, strict=strict)


def _guess_folder_shape(root: Path) -> tuple[int, int, int]:
    """Without a model: the first image's size, RGB unless it is grey."""
    from PIL import Image

    from cnnkit.data.folder import TARGETS_FILE, read_targets, scan

    if (root / TARGETS_FILE).is_file():
        listing = {"all": [(root / f, "") for f in read_targets(root / TARGETS_FILE)[0]]}
    else:
        listing = scan(root)
    for files in listing.values():
        for f, _ in files:
            try:
                with Image.open(f) as img:
                    return (1 if img.mode in ("L", "1", "I;16", "I", "F") else 3, img.height, img.width)
            except OSError:
                continue
    raise CnnkitError(f"image folder {root} holds no readable image")
