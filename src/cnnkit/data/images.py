"""Image files -> uint8 arrays shaped for a model, the same way for training and predict.

Any mode Pillow opens is accepted: grey, RGB, palette, 16-bit and 32-bit
integer or float grey (scaled to 8 bits), and transparent images (composited
onto the background that contrasts with their opaque pixels: black strokes on
a transparent PNG become black on white, not black on black).  A camera's EXIF
orientation is applied, so a phone photo is not read sideways.  The image is
centre-cropped to the target aspect ratio and resized (bilinear, antialiased).
Decompression bombs are refused rather than decoded.

For ``predict`` on people's own pictures, :func:`picture_to_input` also
inverts pictures whose polarity is the opposite of the training images'
(a dark-on-light drawing for an MNIST network) and applies MNIST's own
normalisation to free-form digits (ink box scaled into 20x20 keeping the
aspect ratio, centred by centre of mass in 28x28).
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


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite a transparent image onto white or black, whichever contrasts with its opaque pixels."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode not in ("RGBA", "LA", "PA", "RGBa", "La"):
        return img
    rgba = img.convert("RGBA")
    arr = np.asarray(rgba)
    alpha = arr[..., 3].astype(np.float32)
    if alpha.min() == alpha.max():  # one opacity everywhere carries no shape: the colours are the picture
        return rgba.convert("RGB")
    grey = arr[..., :3].astype(np.float32).mean(-1)
    ink = float((grey * alpha).sum() / alpha.sum())  # the colour of what is drawn, weighted by its opacity
    background = (255, 255, 255, 255) if ink < 128 else (0, 0, 0, 255)
    return Image.alpha_composite(Image.new("RGBA", rgba.size, background), rgba).convert("RGB")


def _upright(img: Image.Image) -> Image.Image:
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(img)
    except (OSError, ValueError, TypeError, SyntaxError, KeyError):
        return img  # a damaged EXIF block: the pixels as stored


def convert_image(img: Image.Image, channels: int, size: tuple[int, int]) -> np.ndarray:
    """A PIL image -> (channels, H, W) uint8, upright, alpha composited, centre-cropped to the aspect and resized."""
    img = _flatten_alpha(_to_8bit(_upright(img)))
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
    return _decoded(fileobj, name, lambda img: convert_image(img, channels, size))


def _decoded(fileobj, name: str, convert):
    """``convert(image)`` of a decoded file; every way a file can fail becomes a BadImageError naming it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fileobj) as img:
                img.load()
                return convert(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImageError(f"{name}: refused as a decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise BadImageError(f"{name}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImageError(f"{name}: damaged or truncated image ({exc})") from None


# ---------------------------------------------------------------- people's own pictures (predict)
def _opaque(img: Image.Image) -> Image.Image:
    out = _flatten_alpha(_to_8bit(_upright(img)))
    return out if out.mode in ("L", "RGB") else out.convert("RGB")


def open_picture(path: str | Path) -> Image.Image:
    """A picture file, upright and opaque, in L or RGB at its own size (BadImageError if unusable)."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise BadImageError(f"{path}: empty file")
        with open(path, "rb") as f:
            return _decoded(f, str(path), _opaque)
    except FileNotFoundError:
        raise BadImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadImageError(f"{path}: is a folder, not an image") from None


def border_level(grey: np.ndarray) -> float:
    """Median grey level (0-255) of the outer frame (5% of each side, at least one pixel) of an (H, W) image."""
    h, w = grey.shape
    bh, bw = max(1, h // 20), max(1, w // 20)
    frame = np.concatenate([grey[:bh].ravel(), grey[-bh:].ravel(), grey[:, :bw].ravel(), grey[:, -bw:].ravel()])
    return float(np.median(frame))


def polarity(grey: np.ndarray) -> str | None:
    """'dark' or 'light' background of an (H, W) uint8 image, or None when its frame is mid-grey."""
    level = border_level(grey)
    return "dark" if level < 80 else "light" if level > 175 else None


def background_of(images) -> str | None:
    """The training images' shared background ('dark' for MNIST), or None when they do not share one.

    ``images``: uint8 (N, C, H, W); a sample of up to 2,000 is read.  A
    background counts as shared when 90% of the images have it.
    """
    n = len(images)
    if n == 0:
        return None
    idx = np.linspace(0, n - 1, min(n, 2000)).astype(int)
    votes = [polarity(np.asarray(images[int(i)], dtype=np.uint8).mean(0)) for i in idx]
    for kind in ("dark", "light"):
        if votes.count(kind) >= 0.9 * len(votes):
            return kind
    return None


def normalize_digit(grey: np.ndarray, size: int = 28, box: int = 20) -> np.ndarray | None:
    """MNIST's normalisation of a light-on-dark (H, W) picture, or None when it holds no ink.

    The ink's bounding box is scaled (keeping its aspect ratio) so its longer
    side is ``box`` pixels, and placed in a ``size`` x ``size`` frame so that
    its centre of mass is the frame's centre (LeCun et al.'s procedure).
    """
    g = grey.astype(np.float32)
    bg = border_level(grey)
    top = float(g.max())
    if top - bg < 32:
        return None
    ink = np.clip(g - bg, 0, None)
    mask = ink > 0.25 * (top - bg)
    rows, cols = np.nonzero(mask)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop = ink[r0:r1, c0:c1]
    ch, cw = crop.shape
    scale = box / max(ch, cw)
    nh, nw = max(1, round(ch * scale)), max(1, round(cw * scale))
    small = np.asarray(Image.fromarray(crop).resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=None))
    small = np.clip(small * (255.0 / max(1e-6, small.max())), 0, 255)
    total = small.sum()
    ys, xs = np.mgrid[0:nh, 0:nw]
    cy, cx = (ys * small).sum() / total, (xs * small).sum() / total
    oy = int(round(size / 2 - 0.5 - cy))
    ox = int(round(size / 2 - 0.5 - cx))
    oy, ox = min(max(oy, 0), size - nh), min(max(ox, 0), size - nw)
    out = np.zeros((size, size), np.float32)
    out[oy:oy + nh, ox:ox + nw] = small
    return np.rint(out).astype(np.uint8)


def picture_to_input(img: Image.Image, shape: tuple[int, int, int], background: str | None, digits: bool,
                     invert: str = "auto", digit_normalize: str = "auto") -> tuple[np.ndarray, dict]:
    """An opaque upright picture -> (C, H, W) uint8 like the training images, and what was done to it.

    ``background``: the training images' ('dark', 'light' or None);
    ``digits``: the network learnt MNIST-normalised digits.  ``invert`` and
    ``digit_normalize`` are ``auto``, ``yes`` or ``no``.  Returns the array and
    ``{"inverted": bool, "digit_normalized": bool, "notes": [...]}``.
    """
    c, h, w = shape
    notes: list[str] = []
    grey = np.asarray(img.convert("L"))
    mine = polarity(grey)
    if invert == "yes":
        inverted = True
    elif invert == "no" or background is None or mine is None:
        inverted = False
    else:
        inverted = mine != background
    if inverted:
        notes.append(f"inverted: the picture is {'light-on-dark' if mine == 'dark' else 'dark-on-light'}, the "
                     f"training images {'light-on-dark' if background == 'dark' else 'dark-on-light'} "
                     f"(--invert no to keep it)" if invert == "auto" else "inverted (--invert yes)")
    normalized = False
    want = digit_normalize == "yes" or (digit_normalize == "auto" and digits and img.size != (w, h))
    if want:
        seen = 255 - grey if inverted else grey  # as the network should see it
        light_ground = polarity(seen) == "light"  # the procedure reads light ink on a dark ground
        digit = normalize_digit(255 - seen if light_ground else seen, size=min(h, w), box=round(min(h, w) * 20 / 28))
        if digit is None:
            notes.append("no ink found for digit normalisation; centre-cropped instead")
        else:
            if light_ground:
                digit = 255 - digit
            if (h, w) != digit.shape:
                digit = np.asarray(Image.fromarray(digit).resize((w, h), Image.Resampling.BILINEAR))
            arr = np.repeat(digit[None], c, axis=0)
            normalized = True
            notes.append("digit-normalised as MNIST was: ink box scaled into 20x20, centred by mass in 28x28 "
                         "(--digit-normalize no for a centre crop)")
    if not normalized:
        arr = convert_image(img, c, (h, w))
        if inverted:
            arr = 255 - arr
    return np.ascontiguousarray(arr), {"inverted": inverted, "digit_normalized": normalized, "notes": notes}
