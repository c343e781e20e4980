"""A drawing of a network as the inspector sees it: one box per layer with its output volume.

Drawn with matplotlib alone (no graphviz binary): layers top to bottom in
declaration order; a layer that continues its input's line stays in that
lane, a branch opens a new lane, and an arrow joins every layer to each node
it reads, so the two inputs of a merge and the heads of a graph are visible.
"""

from __future__ import annotations

from pathlib import Path

from cnnkit.errors import CnnkitError
from cnnkit.inspect import summarize
from cnnkit.spec import ModelSpec


def _lanes(names: list[str], reads: dict[str, tuple[str, ...]]) -> dict[str, int]:
    lane, tip = {}, {}  # node -> lane; lane -> its last node
    for name in names:
        srcs = reads.get(name, ())
        first = srcs[0] if srcs else None
        if first is not None and tip.get(lane[first]) == first:
            lane[name] = lane[first]
        else:
            taken = {lane[n] for n in tip.values()}
            lane[name] = next(i for i in range(len(names) + 1) if i not in tip or i not in taken)
        tip[lane[name]] = name
    return lane


def draw(spec: ModelSpec, path: str | Path) -> Path:
    """Write the diagram to ``path`` (.svg, .png or .pdf)."""
    path = Path(path)
    if path.suffix.lower() not in (".svg", ".png", ".pdf"):
        raise CnnkitError(f"--diagram writes .svg, .png or .pdf, not {path.suffix or 'a file without extension'}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import FancyBboxPatch
    except ImportError:
        raise CnnkitError("diagrams need matplotlib: pip install 'cnnkit[report]'") from None
    s = summarize(spec)
    inputs = list(s.inputs) or [("input", s.input)]
    nodes = [(n, "input", "x".join(map(str, shape)), ()) for n, shape in inputs]
    prev = inputs[0][0] if len(inputs) == 1 else None
    for layer in s.layers:
        srcs = layer.inputs or ((prev,) if prev else ())
        nodes.append((layer.name, layer.description, "x".join(map(str, layer.output)), tuple(srcs)))
        prev = layer.name
    reads = {n: srcs for n, _, _, srcs in nodes}
    lane = _lanes([n for n, *_ in nodes], reads)
    width = max(lane.values()) + 1
    row = {n: i for i, (n, *_) in enumerate(nodes)}
    fig, ax = plt.subplots(figsize=(3.6 * width + 1, 0.62 * len(nodes) + 1))
    outputs = {n for n, _ in s.outputs} or {nodes[-1][0]}
    for name, desc, shape, srcs in nodes:
        x, y = lane[name] * 3.6, -row[name]
        color = "#dbeafe" if desc == "input" else "#dcfce7" if name in outputs else "#f3f4f6"
        ax.add_patch(FancyBboxPatch((x, y - 0.22), 3.2, 0.44, boxstyle="round,pad=0.02", fc=color, ec="#555"))
        text = desc if len(desc) <= 44 else desc[:42] + "…"
        ax.text(x + 0.08, y + 0.06, f"{name}: {text}", fontsize=7, va="center")
        ax.text(x + 0.08, y - 0.12, shape, fontsize=7, va="center", color="#1d4ed8")
        for src in srcs:
            sx, sy = lane[src] * 3.6 + 1.6, -row[src] - 0.24
            ax.annotate("", xy=(x + 1.6, y + 0.24), xytext=(sx, sy),
                        arrowprops={"arrowstyle": "->", "color": "#666", "lw": 0.8})
    ax.set_xlim(-0.2, 3.6 * width)
    ax.set_ylim(-len(nodes) + 0.4, 0.6)
    ax.axis("off")
    t = s.totals
    ax.set_title(f"{spec.name}: {t['params']:,} parameters, {t['macs']:,} MACs", fontsize=9)
    try:
        fig.savefig(path, bbox_inches="tight")
    except OSError as exc:
        raise CnnkitError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return path
