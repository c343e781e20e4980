"""Image files -> uint8 arrays shaped for a model, the same way for training and predict.

Any mode Pillow opens is accepted: grey, RGB, RGBA (alpha dropped), palette,
16-bit and 32-bit integer or float grey (scaled to 8 bits).  The image is
centre-cropped to the target aspect ratio and resized (bilinear, antialiased).
Decompression bombs are refused rather than decoded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnnkit.errors import CnnkitError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}


class BadImageError(CnnkitError):
    """A file that is not a usable image (truncated, empty, not an image, a bomb)."""


def _to_8bit(img: Image.Image) -> Image.Image:
    """16/32-bit integer and float images -> 8-bit 'L' without clipping the range."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 or img.mode.startswith("I;16") else 255.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return img


def convert_image(img: Image.Image, channels: int, size: tuple[int, int]) -> np.ndarray:
    """A PIL image -> (channels, H, W) uint8, centre-cropped to the aspect and resized."""
    img = _to_8bit(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    img = img.convert("L" if channels == 1 else "RGB")
    h, w = size
    iw, ih = img.size
    if (iw, ih) != (w, h):
        # crop the largest centred box with the target's aspect, then resize
        scale = min(iw / w, ih / h)
        cw, ch = w * scale, h * scale
        left, top = (iw - cw) / 2, (ih - ch) / 2
        img = img.resize((w, h), Image.Resampling.BILINEAR, box=(left, top, left + cw, top + ch))
    arr = np.array(img, dtype=np.uint8)  # a writable copy
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    if channels not in (1, 3):
        arr = np.repeat(arr[:1], channels, axis=0) if arr.shape[0] == 1 else arr[:channels]
    return np.ascontiguousarray(arr)


def load_image(path: str | Path, channels: int, size: tuple[int, int]) -> np.ndarray:
    """Decode and convert one file; BadImageError (naming the file) if it is not a usable image."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise BadImageError(f"{path}: empty file")
        with open(path, "rb") as f:
            return decode_image(f, str(path), channels, size)
    except FileNotFoundError:
        raise BadImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadImageError(f"{path}: is a folder, not an image") from None


def decode_image(fileobj, name: str, channels: int, size: tuple[int, int]) -> np.ndarray:
    """Decode an open binary file (or a tar member) into (channels, H, W) uint8."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fileobj) as img:
                img.load()
                return convert_image(img, channels, size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImageError(f"{name}: refused as a decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise BadImageError(f"{name}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImageError(f"{name}: damaged or truncated image ({exc})") from None
