"""Output-size arithmetic, ``(W - F + 2P) / S + 1``, with no silent rounding.

A window that does not tile its padded input is an error unless the layer opts
in to ``floor`` (round down, PyTorch's convolution default) or ``ceil_mode``
(round up, Caffe's pooling).  The error shows the arithmetic and suggests the
paddings, strides and input sizes that would fit.
"""

from __future__ import annotations

from cnnkit.errors import GeometryError


def output_size(n: int, f: int, p: int, s: int, *, rounding: str = "exact", where: str = "",
                axis: str = "") -> int:
    """Spatial output size of a window of extent ``f``, padding ``p``, stride ``s`` on ``n``.

    ``rounding`` is ``exact`` (the default: refuse what does not fit), ``floor`` or
    ``ceil`` (with PyTorch's rule that the last window must start inside the
    input or its left padding).
    """
    span = n - f + 2 * p
    if span < 0:
        raise GeometryError(f"{where}: the {f}-wide window does not fit the {axis}{n}-wide input even with "
                            f"padding {p} (needs {n} + 2·{p} ≥ {f}); use a smaller filter or more padding")
    if span % s == 0:
        return span // s + 1
    if rounding == "floor":
        return span // s + 1
    if rounding == "ceil":
        out = -(-span // s) + 1
        if (out - 1) * s >= n + p:
            out -= 1
        return out
    value = span / s + 1
    raise GeometryError(f"{where} does not fit its {axis}input of {n}: ({n}−{f}+{2 * p})/{s}+1 = "
                        f"{value:.2f} is not a whole number. {_suggest(n, f, p, s)}")


def _suggest(n: int, f: int, p: int, s: int) -> str:
    pads = [q for q in range(0, f + 1) if (n - f + 2 * q) >= 0 and (n - f + 2 * q) % s == 0][:3]
    span = n - f + 2 * p
    strides = [t for t in range(1, max(f, s) + 2) if t != s and span % t == 0][:4]
    below = next((m for m in range(n - 1, max(f - 2 * p, 0) - 1, -1) if (m - f + 2 * p) % s == 0), None)
    above = next(m for m in range(n + 1, n + s + 1) if (m - f + 2 * p) % s == 0)
    parts = []
    if pads:
        parts.append("pad " + " or ".join(map(str, pads)))
    if strides:
        parts.append("stride " + " or ".join(map(str, strides)))
    sizes = [str(m) for m in (below, above) if m is not None]
    parts.append("input size " + " or ".join(sizes))
    return ("It would fit with " + "; or ".join(parts)
            + " — or set 'floor: true' on the layer to round down on purpose.")


def rounding_of(args) -> str:
    if args.get("floor"):
        return "floor"
    if args.get("ceil_mode"):
        return "ceil"
    return "exact"
