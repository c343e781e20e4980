"""In-memory datasets: uint8 image tensors plus labels, kept whole on the device.

70,000 MNIST digits are 55 MB as uint8; normalisation and augmentation happen
per batch on the training device, so nothing is converted per sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from cnnkit.errors import CnnkitError

#: Up to this many pixels a side, a smaller image is zero-padded to the model's
#: input instead of resized - as LeCun et al. padded 28x28 MNIST to 32x32.
PAD_LIMIT = 4


@dataclass
class ImageData:
    """One split: ``images`` (N, C, H, W) uint8, ``labels`` (N,) int64, class names."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str = ""
    notes: list[str] = field(default_factory=list)
    #: further inputs of a multi-input network, by name: float (N, F) vectors beside the images
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    #: a several-head network's targets, by head (``labels`` holds the first head's), and each head's names
    targets: dict[str, torch.Tensor] = field(default_factory=dict)
    target_classes: dict[str, list[str]] = field(default_factory=dict)
    #: text data: each sample's raw text (``images`` then hold int64 token ids, (N, 1, 1, L))
    texts: list[str] | None = None

    def __post_init__(self) -> None:
        for key, value in self.extras.items():
            if value.shape[0] != self.images.shape[0]:
                raise CnnkitError(f"{self.name or 'dataset'}: input {key!r} has {value.shape[0]:,} rows for "
                                  f"{self.images.shape[0]:,} images")
        if self.images.dtype not in (torch.uint8, torch.float32, torch.long) or self.images.ndim != 4 or (
                self.images.dtype == torch.long and self.images.shape[1:3] != (1, 1)):
            raise CnnkitError(f"{self.name or 'dataset'}: images must be uint8 (or float32) (N, C, H, W), or token "
                              f"ids int64 (N, 1, 1, L); got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.is_floating_point():  # regression targets: (N,) or (N, T), ``classes`` name the T outputs
            if self.labels.ndim not in (1, 2) or self.labels.shape[0] != self.images.shape[0]:
                raise CnnkitError(f"{self.name or 'dataset'}: {self.images.shape[0]:,} images but targets of shape "
                                  f"{tuple(self.labels.shape)}")
            return
        if self.labels.shape != (self.images.shape[0],):
            raise CnnkitError(f"{self.name or 'dataset'}: {self.images.shape[0]:,} images but "
                              f"{tuple(self.labels.shape)} labels")
        if len(self.labels) and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.classes)):
            raise CnnkitError(f"{self.name or 'dataset'}: labels must lie in 0..{len(self.classes) - 1}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, index) -> ImageData:
        index = torch.as_tensor(index, dtype=torch.long)
        return replace(self, images=self.images[index], labels=self.labels[index],
                       extras={k: v[index] for k, v in self.extras.items()},
                       targets={k: v[index] for k, v in self.targets.items()},
                       texts=None if self.texts is None else [self.texts[i] for i in index.tolist()])

    @property
    def is_text(self) -> bool:
        return self.images.dtype == torch.long

    def select_classes(self, keep: list[int], per_class: int = 0, seed: int = 0) -> ImageData:
        """Only the classes ``keep`` (relabelled 0..k-1), optionally ``per_class`` seeded samples of each."""
        g = torch.Generator().manual_seed(seed)
        parts = []
        for new, old in enumerate(keep):
            idx = (self.labels == old).nonzero().flatten()
            if per_class:
                idx = idx[torch.randperm(len(idx), generator=g)[:per_class]].sort().values
            parts.append((idx, new))
        index = torch.cat([i for i, _ in parts])
        labels = torch.cat([torch.full((len(i),), new, dtype=torch.long) for i, new in parts])
        order = index.argsort()
        return replace(self, images=self.images[index[order]], labels=labels[order],
                       classes=[self.classes[k] for k in keep])

    def to(self, device) -> ImageData:
        return replace(self, images=self.images.to(device), labels=self.labels.to(device),
                       extras={k: v.to(device) for k, v in self.extras.items()},
                       targets={k: v.to(device) for k, v in self.targets.items()})

    def channel_stats(self, chunk: int = 8192) -> tuple[list[float], list[float]]:
        """Per-channel mean and standard deviation of the pixels, scaled to [0, 1]."""
        c = self.images.shape[1]
        scale = 255.0 if self.images.dtype == torch.uint8 else 1.0
        s = torch.zeros(c, dtype=torch.float64)
        s2 = torch.zeros(c, dtype=torch.float64)
        for i in range(0, len(self), chunk):
            x = self.images[i:i + chunk].to(torch.float64) / scale
            s += x.sum(dim=(0, 2, 3))
            s2 += (x * x).sum(dim=(0, 2, 3))
        n = len(self) * self.images.shape[2] * self.images.shape[3]
        mean = s / n
        std = (s2 / n - mean * mean).clamp_min(0).sqrt()
        return mean.tolist(), std.tolist()


def from_arrays(x, y, classes=None, name: str = "arrays", regression: bool | None = None) -> ImageData:
    """An ImageData from numpy arrays: N x H x W, N x C x H x W or N x H x W x C; any labels.

    Float images in [0, 1] are scaled to 0..255.  Labels may be any integers or
    strings; classes are their sorted unique values unless given.  With
    ``regression=True``, ``y`` holds real-valued targets, (N,) or (N, T)
    (``classes`` may name the T outputs).  Float labels with fractional
    values are never silently read as thousands of classes: they need
    ``regression=True``.
    """
    if isinstance(y, dict):  # several heads: one target array per head
        return _from_head_targets(x, y, name)
    if isinstance(x, dict):  # several inputs: the one with images, and vectors beside it
        return _from_named_arrays(x, y, classes, name, regression)
    images = _images(x)
    labels, names = _targets(y, len(images), classes, regression)
    return ImageData(images, labels, names, name)


def _images(x) -> torch.Tensor:
    """N x H x W, N x C x H x W or N x H x W x C numbers -> uint8 (N, C, H, W); floats in [0, 1] are scaled."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        if x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
            x = x.transpose(0, 3, 1, 2)
    else:
        raise CnnkitError(f"images must be N x H x W, N x C x H x W or N x H x W x C, got shape {x.shape}")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.number):
            raise CnnkitError(f"images must be numeric, got dtype {x.dtype}")
        xf = x.astype(np.float64)
        if not np.isfinite(xf).all():
            raise CnnkitError("images contain NaN or infinite values")
        if xf.size and xf.max() <= 1.0 and xf.min() >= 0.0:
            xf = xf * 255.0
        x = np.clip(np.rint(xf), 0, 255).astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(x))


def _targets(y, n: int, classes, regression: bool | None) -> tuple[torch.Tensor, list[str]]:
    """Labels -> (int64 class indices, class names), or real-valued targets -> (float (N, T), target names)."""
    y = np.asarray(y)
    fractional = y.dtype.kind == "f" and y.size and not np.all(np.isfinite(y) & (np.mod(y, 1) == 0))
    if regression is None and fractional:
        raise CnnkitError("the labels have fractional values: for real-valued targets pass regression=True "
                          "(task regress); for classes give integers or strings")
    if regression:
        if y.ndim not in (1, 2) or len(y) != n or not np.issubdtype(y.dtype, np.number):
            raise CnnkitError(f"regression targets must be numbers of shape ({n},) or ({n}, T), "
                              f"got {y.dtype} {y.shape}")
        if not np.isfinite(y).all():
            raise CnnkitError("regression targets contain NaN or infinite values")
        y2 = y.reshape(len(y), -1)
        names = [str(c) for c in classes] if classes is not None else [f"target{i}" for i in range(y2.shape[1])]
        if len(names) != y2.shape[1]:
            raise CnnkitError(f"{len(names)} target names for {y2.shape[1]} targets")
        return torch.as_tensor(y2, dtype=torch.float32), names
    if y.ndim != 1 or len(y) != n:
        raise CnnkitError(f"labels must be a vector of {n} entries, got shape {y.shape}")
    if classes is None:
        uniq = np.unique(y)
        classes = [str(c) for c in uniq]
        index = np.searchsorted(uniq, y)
    else:
        classes = [str(c) for c in classes]
        lookup = {c: i for i, c in enumerate(classes)}
        try:
            index = np.array([lookup[str(v)] for v in y], dtype=np.int64)
        except KeyError as exc:
            raise CnnkitError(f"label {exc.args[0]!r} is not one of the classes {classes}") from None
    return torch.as_tensor(index, dtype=torch.long), classes



def fit_method(src: tuple[int, int, int], dst: tuple[int, int, int]) -> str:
    """How images of shape ``src`` are brought to a model input ``dst``: none, pad or resize."""
    (_, h, w), (_, th, tw) = src, dst
    if (h, w) == (th, tw):
        return "none"
    if 0 <= th - h <= 2 * PAD_LIMIT and 0 <= tw - w <= 2 * PAD_LIMIT:
        return "pad"
    return "resize"


def fit_to_input(images: torch.Tensor, dst: tuple[int, int, int], chunk: int = 4096) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, *dst): channels converted, then padded or resized."""
    c, th, tw = dst
    out = []
    for i in range(0, images.shape[0], chunk):
        x = images[i:i + chunk]
        if x.shape[1] != c:
            x = convert_channels(x, c)
        method = fit_method(tuple(x.shape[1:]), dst)
        if method == "pad":
            dh, dw = th - x.shape[2], tw - x.shape[3]
            x = F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
        elif method == "resize":
            x = resize_uint8(x, (th, tw))
        out.append(x)
    return torch.cat(out) if out else images.new_zeros((0, *dst))


def convert_channels(x: torch.Tensor, c: int) -> torch.Tensor:
    have = x.shape[1]
    if have == c:
        return x
    if have == 1:
        return x.expand(-1, c, -1, -1).contiguous()
    if c == 1:  # ITU-R 601 luma, as Pillow's convert("L")
        w = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
        luma = (x[:, :3].float() * w).sum(1, keepdim=True)
        return luma.round().clamp(0, 255).to(torch.uint8) if x.dtype == torch.uint8 else luma
    if have > c:
        return x[:, :c].contiguous()
    raise CnnkitError(f"cannot convert {have}-channel images to {c} channels")


def resize_uint8(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Centre-crop to the target aspect, then antialiased bilinear resize (uint8 in, uint8 out)."""
    h, w = x.shape[2:]
    th, tw = size
    scale = min(h / th, w / tw)
    ch, cw = round(th * scale), round(tw * scale)
    top, left = (h - ch) // 2, (w - cw) // 2
    dtype = x.dtype
    x = x[:, :, top:top + ch, left:left + cw].float()
    x = F.interpolate(x, size=(th, tw), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8) if dtype == torch.uint8 else x


def _from_head_targets(x, y: dict, name: str) -> ImageData:
    """``{"digit": classes, "size": values}``: float arrays are regression targets, integers or strings classes."""
    if not y:
        raise CnnkitError("give at least one head's targets")
    base = from_arrays(x, next(iter(y.values())), name=name,
                       regression=True if np.asarray(next(iter(y.values()))).dtype.kind == "f" else None)
    targets, names = {}, {}
    for head, target in y.items():  # the images are converted once, by the line above
        arr = np.asarray(target)
        targets[str(head)], names[str(head)] = _targets(arr, len(base), None,
                                                        True if arr.dtype.kind == "f" else None)
    return replace(base, targets=targets, target_classes=names)


def _from_named_arrays(x: dict, y, classes, name: str, regression) -> ImageData:
    """``{"image": X, "side": S}``: the one array of images (N x H x W or 4-d) and (N, F) vectors."""
    arrays = {str(k): np.asarray(v) for k, v in x.items()}
    images = [k for k, v in arrays.items() if v.ndim >= 3]
    if len(images) != 1:
        raise CnnkitError(f"several inputs need exactly one array of images (N x H x W or N x C x H x W) and "
                          f"vectors (N x F) beside it; got {', '.join(f'{k} {v.shape}' for k, v in arrays.items())}")
    base = from_arrays(arrays[images[0]], y, classes, name, regression)
    extras = {}
    for key, value in arrays.items():
        if key == images[0]:
            continue
        if value.ndim == 1:
            value = value[:, None]
        if value.ndim != 2 or not np.issubdtype(value.dtype, np.number):
            raise CnnkitError(f"input {key!r} must be numbers of shape (N, F), got {value.dtype} {value.shape}")
        if not np.isfinite(value).all():
            raise CnnkitError(f"input {key!r} contains NaN or infinite values")
        extras[key] = torch.as_tensor(value, dtype=torch.float32)
    return replace(base, extras=extras, name=name)


def split(data: ImageData, fraction: float, seed: int) -> tuple[ImageData, ImageData]:
    """A seeded random split: (rest, held_out) with ``fraction`` of the data held out."""
    n = len(data)
    k = int(round(n * fraction))
    if not 0 < k < n:
        raise CnnkitError(f"a split of {fraction} of {n} images leaves an empty part")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    return data.subset(perm[k:].sort().values), data.subset(perm[:k].sort().values)


def sample_indices(n: int, k: int, seed: int = 0) -> torch.Tensor:
    """A fixed random sample of ``k`` of ``n`` indices, in order (all of them if k >= n)."""
    if k <= 0 or k >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k].sort().values
