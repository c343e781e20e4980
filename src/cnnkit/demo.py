"""The lectures' worked examples, with the student's own numbers (``cnnkit demo NAME``).

* ``cross-correlation``: the Zhang/d2l example (input 0..8 as 3x3, kernel 0..3 as 2x2 -> 19 25 37 43),
  every output written out as its sum of products, for any input, kernels, stride and padding.
* ``output-size``: ``(W - F + 2P)/S + 1`` with the numbers filled in; Kalogeiton's questions by default.
* ``backprop``: forward values and backward gradients on every node of an expression of + - * max
  (``(x + y) * z`` at x=-2, y=5, z=-4 by default), checked against autograd.
* ``kernels``: fixed filters (edge, blur, sharpen, Sobel) applied to a picture.
* ``activations``: sigmoid, tanh, ReLU, leaky ReLU, ELU and maxout with their derivatives, plotted.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cnnkit.errors import CnnkitError


# ------------------------------------------------------------------ cross-correlation
def parse_grid(text: str, what: str) -> np.ndarray:
    """'0,1,2;3,4,5' -> (1, 2, 3); channels separated by '|' -> (C, H, W)."""
    channels = []
    for part in str(text).split("|"):
        rows = [r for r in part.strip().split(";") if r.strip()]
        try:
            grid = [[float(v) for v in r.replace(" ", "").split(",") if v != ""] for r in rows]
        except ValueError:
            raise CnnkitError(f"{what} {text!r}: values must be numbers, rows separated by ';', channels by '|' "
                              f"(for negative values write --{what}=-1,0;0,1)") from None
        if not grid or any(len(r) != len(grid[0]) for r in grid) or not grid[0]:
            raise CnnkitError(f"{what} {text!r}: every row needs the same number of values")
        channels.append(grid)
    if any(np.shape(c) != np.shape(channels[0]) for c in channels):
        raise CnnkitError(f"{what} {text!r}: every channel needs the same rows and columns")
    return np.array(channels, dtype=np.float64)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def cross_correlation(x: np.ndarray, kernels: list[np.ndarray], stride: int = 1, pad: int = 0) -> dict:
    """Every output of each kernel over ``x`` (C, H, W), with its products written out, as the slide does."""
    if stride < 1 or pad < 0:
        raise CnnkitError("stride must be at least 1 and pad at least 0")
    c, h, w = x.shape
    for k in kernels:
        if k.shape[0] != c:
            raise CnnkitError(f"a kernel has {k.shape[0]} channel(s) but the input has {c}: give each kernel the "
                              f"input's channels, separated by '|'")
        if k.shape[1:] != kernels[0].shape[1:]:
            raise CnnkitError("every kernel needs the same height and width")
    kh, kw = kernels[0].shape[1:]
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) / stride + 1, (w + 2 * pad - kw) / stride + 1
    if oh < 1 or ow < 1:
        raise CnnkitError(f"the {kh}x{kw} kernel does not fit the {h}x{w} input with pad {pad}")
    if not float(oh).is_integer() or not float(ow).is_integer():
        raise CnnkitError(f"({h}-{kh}+2*{pad})/{stride}+1 = {oh:g} is not a whole number: the kernel does not tile "
                          f"the input with stride {stride}; change the stride or the padding")
    oh, ow = int(oh), int(ow)
    outputs, steps = [], []
    for n, k in enumerate(kernels):
        out = np.zeros((oh, ow))
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
                terms = [f"{_num(a)}×{_num(b)}" for a, b in zip(patch.ravel(), k.ravel())]
                out[i, j] = float((patch * k).sum())
                steps.append(f"kernel {n + 1}, output ({i}, {j}): {' + '.join(terms)} = {_num(out[i, j])}")
        outputs.append(out)
    return {"steps": steps, "outputs": [o.tolist() for o in outputs], "shape": [len(kernels), oh, ow]}


# ------------------------------------------------------------------ output size
KALOGEITON = [(7, 3, 1, 0), (7, 3, 2, 0), (7, 3, 3, 0), (7, 3, 3, 1)]


def output_size_lines(w: int, f: int, s: int, p: int) -> list[str]:
    from cnnkit.inspect.geometry import _suggest

    span = w - f + 2 * p
    value = span / s + 1
    line = f"input {w}, filter {f}, stride {s}, pad {p}: ({w} − {f} + 2·{p}) / {s} + 1 = {span}/{s} + 1 = {value:g}"
    if span < 0:
        return [line, f"  does not fit: the {f}-wide filter is larger than the padded input ({w} + 2·{p})"]
    if span % s:
        return [line, f"  does not fit: {value:.2f} is not a whole number. {_suggest(w, f, p, s)}"]
    return [line, f"  fits: the output is {int(value)}x{int(value)}"]


# ------------------------------------------------------------------ backprop
@dataclass
class Node:
    label: str
    op: str  # "input", "const", "+", "-", "*", "max", "neg"
    inputs: list[Node] = field(default_factory=list)
    value: float = 0.0
    grad: float = 0.0


_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}


def parse_expression(text: str, at: dict[str, float]) -> tuple[Node, list[Node]]:
    """An expression of + - * max over named variables -> (root, nodes in evaluation order)."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise CnnkitError(f"--expr {text!r} is not an expression; use + - * max( , ) and names, e.g. (x+y)*z") \
            from None
    nodes: list[Node] = []
    leaves: dict[str, Node] = {}

    def build(t) -> Node:
        if isinstance(t, ast.Name):
            if t.id not in at:
                raise CnnkitError(f"--expr uses {t.id!r} but --at gives no value for it (e.g. --at {t.id}=1)")
            if t.id not in leaves:
                leaves[t.id] = Node(t.id, "input", value=float(at[t.id]))
                nodes.append(leaves[t.id])
            return leaves[t.id]
        if isinstance(t, ast.Constant) and isinstance(t.value, (int, float)) and not isinstance(t.value, bool):
            node = Node(_num(t.value), "const", value=float(t.value))
        elif isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.USub):
            a = build(t.operand)
            node = Node(f"-{a.label}", "neg", [a])
        elif isinstance(t, ast.BinOp) and type(t.op) in _OPS:
            a, b = build(t.left), build(t.right)
            node = Node(f"({a.label} {_OPS[type(t.op)]} {b.label})", _OPS[type(t.op)], [a, b])
        elif (isinstance(t, ast.Call) and isinstance(t.func, ast.Name) and t.func.id == "max" and len(t.args) >= 2
              and not t.keywords):
            args = [build(a) for a in t.args]
            node = Node(f"max({', '.join(a.label for a in args)})", "max", args)
        else:
            raise CnnkitError(f"--expr {text!r}: only + - * max(…), numbers and names are gates of the lecture")
        nodes.append(node)
        return node

    return build(tree), nodes


def backprop(text: str, at: dict[str, float]) -> dict:
    root, nodes = parse_expression(text, at)
    if not any(n.op == "input" for n in nodes):
        raise CnnkitError(f"--expr {text!r} has no variables: nothing to take a gradient with respect to")
    for n in nodes:  # forward
        a = [i.value for i in n.inputs]
        if n.op == "+":
            n.value = a[0] + a[1]
        elif n.op == "-":
            n.value = a[0] - a[1]
        elif n.op == "*":
            n.value = a[0] * a[1]
        elif n.op == "max":
            n.value = max(a)
        elif n.op == "neg":
            n.value = -a[0]
    root.grad = 1.0
    edges = []
    for n in reversed(nodes):  # backward: each gate passes its output's gradient to its inputs
        if not n.inputs:
            continue
        if n.op == "+":
            local = [1.0, 1.0]
            rule = "add gate: passes the gradient to both inputs"
        elif n.op == "-":
            local = [1.0, -1.0]
            rule = "subtract gate: the gradient, and its negative to the right input"
        elif n.op == "*":
            local = [n.inputs[1].value, n.inputs[0].value]
            rule = "multiply gate: each input gets the gradient times the other input"
        elif n.op == "neg":
            local = [-1.0]
            rule = "negation: the gradient's negative"
        else:
            win = max(range(len(n.inputs)), key=lambda i: n.inputs[i].value)
            local = [1.0 if i == win else 0.0 for i in range(len(n.inputs))]
            rule = "max gate: routes the gradient to the largest input only"
        for child, d in zip(n.inputs, local):
            child.grad += n.grad * d
            edges.append(f"{n.label} → {child.label}: {_num(n.grad)} × {_num(d)} = {_num(n.grad * d)}  ({rule})")
    grads = {n.label: n.grad for n in nodes if n.op == "input"}
    # the independent check: PyTorch's autograd on the same expression
    env = {k: torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for k, v in at.items()}
    def tmax(*a):  # routes the gradient to the first largest input, as the lecture's max gate
        return torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in a]).max(0).values

    value = eval(compile(ast.parse(text, mode="eval"), "<expr>", "eval"),  # noqa: S307 - the tree was checked
                 {"__builtins__": {}, "max": tmax}, dict(env))
    value.backward()
    auto = {k: float(env[k].grad) for k in grads}
    return {"expr": text, "at": at, "forward": [f"{n.label} = {_num(n.value)}" for n in nodes if n.op != "input"],
            "value": root.value, "backward": edges, "gradients": grads, "autograd": auto,
            "agrees": all(abs(grads[k] - auto[k]) < 1e-9 for k in grads)}


# ------------------------------------------------------------------ kernels and activations
KERNELS = {
    "edge": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "blur": [[1 / 9] * 3] * 3,
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel-y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
}


def apply_kernels(image: str | Path, out_dir: str | Path, names: list[str] | None = None) -> list[Path]:
    """Each fixed filter applied to the picture (grey, zero padding); one PNG each, and a contact sheet."""
    from PIL import Image

    from cnnkit.data.images import open_picture

    names = names or list(KERNELS)
    bad = [n for n in names if n not in KERNELS]
    if bad:
        raise CnnkitError(f"unknown kernel {bad[0]!r}; kernels: {', '.join(KERNELS)}")
    grey = torch.from_numpy(np.asarray(open_picture(image).convert("L"), dtype=np.float32) / 255)[None, None]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        k = torch.tensor(KERNELS[name], dtype=torch.float32)[None, None]
        y = F.conv2d(grey, k, padding=1)[0, 0]
        y = (y - y.min()) / (y.max() - y.min() + 1e-8)
        path = out / f"{Path(image).stem}.{name}.png"
        Image.fromarray((y.numpy() * 255 + 0.5).astype(np.uint8)).save(path)
        written.append(path)
    return written


def plot_activations(path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = torch.linspace(-4, 4, 401, requires_grad=True)
    funcs = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "ReLU": torch.relu,
             "leaky ReLU (0.1)": lambda v: F.leaky_relu(v, 0.1), "ELU": F.elu,
             "maxout (x, -x/2, 0.5)": lambda v: torch.stack([v, -v / 2, torch.full_like(v, 0.5)]).max(0).values}
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, (name, f) in zip(axes.flat, funcs.items()):
        y = f(x)
        (g,) = torch.autograd.grad(y.sum(), x)
        ax.plot(x.detach(), y.detach(), label=name)
        ax.plot(x.detach(), g, ls="--", label="derivative")
        ax.axhline(0, color="#999", lw=0.5)
        ax.axvline(0, color="#999", lw=0.5)
        ax.set_title(name)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
