"""Exact per-layer arithmetic on specs: shapes, weights, neurons, connections, MACs, RF.

Pure integer arithmetic over a :class:`~cnnkit.spec.ModelSpec`; nothing here
touches torch.  Definitions follow the lecture notes:

* **params** = weights + biases (batch norm's gamma counts as a weight, beta as
  a bias; running statistics and LeNet's fixed RBF centres are not parameters).
* **neurons** = output units of layers that create new units (conv, pooling,
  fc, maxout, ...).  Element-wise layers (activations, dropout, batch/response
  norm, softmax, flatten) transform existing neurons and add none.  The total
  includes the input layer.
* **connections** = output neurons x fan-in, the fan-in excluding the bias:
  F*F*C_in/groups for conv (padded positions count), the window for pooling,
  in_features for fc, 0 for element-wise layers.
* **macs** = multiply-adds of the forward pass: connections of conv-like and fc
  layers, one per output of LeNet's trainable subsampling, 0 for max/avg
  pooling and element-wise layers.
* **receptive_field** = side of the input patch one output neuron sees,
  ``r_out = r_in + (F - 1) * jump_in`` with ``jump_out = jump_in * S``.
  Decoders divide the jump: a transposed convolution (stride S, filter F)
  reads at most ceil(F / S) inputs per axis, ``r_out = r_in + (ceil(F/S) - 1)
  * jump_in``, ``jump_out = jump_in / S`` (a fraction, kept exact; the
  reported field is rounded up); nearest upsampling keeps r, bilinear adds
  one jump.  A transposed convolution's connections and MACs count the
  products that land inside its output (padding crops the others).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction

from cnnkit.errors import GeometryError, SpecError
from cnnkit.inspect.geometry import output_size, rounding_of
from cnnkit.spec import LayerSpec, ModelSpec
from cnnkit.spec.parse import as_2d
from cnnkit.spec.schema import ELEMENTWISE, FLAT, MERGE, RESHAPE, SPATIAL, suggest


@dataclass(frozen=True)
class Flow:
    """What flows between layers: the volume (C, H, W) and receptive-field state."""

    c: int
    h: int
    w: int
    rf_h: int = 1
    rf_w: int = 1
    jump_h: int = 1
    jump_w: int = 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.c, self.h, self.w)

    @property
    def size(self) -> int:
        return self.c * self.h * self.w


@dataclass
class LayerStats:
    name: str
    type: str
    output: tuple[int, int, int]
    weights: int = 0
    biases: int = 0
    neurons: int = 0
    connections: int = 0
    macs: int = 0
    receptive_field: int | tuple[int, int] = 1
    description: str = ""
    children: list[LayerStats] = field(default_factory=list)
    inputs: tuple[str, ...] = ()  # graph specs: the nodes this layer reads

    @property
    def params(self) -> int:
        return self.weights + self.biases

    def to_dict(self) -> dict:
        rf = self.receptive_field
        d = {"name": self.name, "type": self.type, "output": list(self.output), "weights": self.weights,
             "biases": self.biases, "params": self.params, "neurons": self.neurons,
             "connections": self.connections, "macs": self.macs,
             "receptive_field": list(rf) if isinstance(rf, tuple) else rf}
        if self.children:
            d["children"] = [c.to_dict() for c in self.children]
        if self.inputs:
            d["inputs"] = list(self.inputs)
        return d


@dataclass
class Summary:
    """The inspector's report on one model; ``str()`` gives the readable table."""

    name: str
    input: tuple[int, int, int]
    layers: list[LayerStats]
    #: graph specs: every named input (name, shape) and the output nodes (name, shape)
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()
    outputs: tuple[tuple[str, tuple[int, int, int]], ...] = ()

    @property
    def totals(self) -> dict[str, int]:
        c, h, w = self.input
        first = sum(math.prod(shape) for _, shape in self.inputs) if self.inputs else c * h * w
        return {
            "weights": sum(s.weights for s in self.layers),
            "biases": sum(s.biases for s in self.layers),
            "params": sum(s.params for s in self.layers),
            "neurons": first + sum(s.neurons for s in self.layers),
            "connections": sum(s.connections for s in self.layers),
            "macs": sum(s.macs for s in self.layers),
        }

    @property
    def output(self) -> tuple[int, int, int]:
        return self.outputs[0][1] if self.outputs else self.layers[-1].output

    def to_dict(self) -> dict:
        d = {"name": self.name, "input": list(self.input), "layers": [s.to_dict() for s in self.layers],
             "totals": self.totals}
        if self.inputs:
            d["inputs"] = {k: list(v) for k, v in self.inputs}
        if self.outputs:
            d["outputs"] = {k: list(v) for k, v in self.outputs}
        return d

    def __str__(self) -> str:
        return format_table(self)


# ------------------------------------------------------------------ per-type rules
Rule = Callable[[LayerSpec, Flow, str], tuple[LayerStats, Flow]]
RULES: dict[str, Rule] = {}


def rule(*types: str):
    def deco(fn: Rule) -> Rule:
        for t in types:
            RULES[t] = fn
        return fn
    return deco


def _rf(flow: Flow) -> int | tuple[int, int]:
    h, w = math.ceil(flow.rf_h), math.ceil(flow.rf_w)  # exact fractions after decoders, whole pixels shown
    return h if h == w else (h, w)


def _window(flow: Flow, size, stride, pad, rounding: str, where: str) -> Flow:
    """Slide a window over ``flow``: new spatial size and receptive-field state."""
    (fh, fw), (sh, sw), (ph, pw) = size, stride, pad
    axis_h, axis_w = ("", "") if (flow.h, fh, sh, ph) == (flow.w, fw, sw, pw) else ("height ", "width ")
    h = output_size(flow.h, fh, ph, sh, rounding=rounding, where=where, axis=axis_h)
    w = h if not axis_w else output_size(flow.w, fw, pw, sw, rounding=rounding, where=where, axis=axis_w)
    return replace(flow, h=h, w=w, rf_h=flow.rf_h + (fh - 1) * flow.jump_h, rf_w=flow.rf_w + (fw - 1) * flow.jump_w,
                   jump_h=flow.jump_h * sh, jump_w=flow.jump_w * sw)


def _describe_window(kind: str, a) -> str:
    (fh, fw), (sh, sw) = a["size"], a["stride"]
    pad = a.get("pad", (0, 0))
    size = f"{fh}x{fw}" if fh != fw else f"{fh}x{fh}"
    stride = sh if sh == sw else f"{sh}x{sw}"
    p = pad[0] if pad[0] == pad[1] else f"{pad[0]}x{pad[1]}"
    return f"{kind} {size}, stride {stride}, pad {p}"


def _where(layer: LayerSpec, where: str) -> str:
    return f"{where} '{layer.name}' ({layer.type})"


def _apply_activation(layer: LayerSpec, stats: LayerStats, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    act = layer.args.get("activation")
    if act is None:
        return stats, flow
    stats.description += f", {act.type}"
    if act.type == "maxout":
        flow = _maxout_flow(act, flow, where)
        stats.output = flow.shape
        stats.neurons = flow.size
        # each maxout unit reads `pieces` inputs
        stats.connections += flow.size * act["pieces"]
    return stats, flow


def _maxout_flow(act: LayerSpec, flow: Flow, where: str) -> Flow:
    k = act["pieces"]
    if flow.c % k:
        raise SpecError(f"{where}: maxout with {k} pieces needs a channel count divisible by {k}, got {flow.c}")
    return replace(flow, c=flow.c // k)


def _batchnorm(layer: LayerSpec, stats: LayerStats, channels: int) -> None:
    if layer.args.get("batchnorm"):
        stats.weights += channels
        stats.biases += channels
        stats.description += ", batchnorm"


@rule("conv", "locally_connected", "tiled_conv")
def _conv(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    a = layer.args
    where = _where(layer, where)
    k = a["filters"]
    fh, fw = a["size"]
    groups = a.get("groups", 1)
    if flow.c % groups or k % groups:
        raise SpecError(f"{where}: groups={groups} must divide both the {flow.c} input channels and the {k} filters")
    out = _window(flow, a["size"], a["stride"], a["pad"], rounding_of(a), where)
    out = replace(out, c=k)
    positions = out.h * out.w
    table = a.get("table")
    if table is not None:
        bad = [i for row in table for i in row if i >= flow.c]
        if bad:
            raise SpecError(f"{where}: the connection table names input map {bad[0]} "
                            f"but the input has only {flow.c} maps (0..{flow.c - 1})")
        fan_ins = [len(row) * fh * fw for row in table]
        weights = sum(fan_ins)
        connections = positions * weights
    else:
        fan_in = flow.c // groups * fh * fw
        weights = k * fan_in
        connections = k * positions * fan_in
    biases = k if a["bias"] else 0
    kind = {"conv": "conv", "locally_connected": "local", "tiled_conv": "tiled conv"}[layer.type]
    desc = _describe_window(kind, a) + f", {k} filters"
    if layer.type == "locally_connected":  # nothing shared: one filter bank per output position
        weights *= positions
        biases *= positions
    elif layer.type == "tiled_conv":  # tile x tile filter banks, repeating across the map
        t = a["tile"] ** 2
        weights *= t
        biases *= t
        desc += f", tile {a['tile']}"
    if groups > 1:
        desc += f", groups {groups}"
    if table is not None:
        desc += f", table ({sum(len(r) for r in table)} links)"
    stats = LayerStats(layer.name, layer.type, out.shape, weights, biases, neurons=out.size,
                       connections=connections, macs=connections, description=desc)
    _batchnorm(layer, stats, k)
    stats, out = _apply_activation(layer, stats, out, where)
    stats.receptive_field = _rf(out)
    return stats, out


@rule("maxpool", "avgpool", "subsample")
def _pool(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    a = dict(layer.args)
    where = _where(layer, where)
    if a.get("global"):
        a.update(size=(flow.h, flow.w), stride=(flow.h, flow.w), pad=(0, 0))
    a.setdefault("pad", (0, 0))
    (fh, fw), (ph, pw) = a["size"], a["pad"]
    if ph * 2 > fh or pw * 2 > fw:
        raise SpecError(f"{where}: pooling pad {a['pad']} must be at most half the window {a['size']}")
    out = _window(flow, a["size"], a["stride"], a["pad"], rounding_of(a), where)
    window = fh * fw
    kind = {"maxpool": "max pool", "avgpool": "avg pool", "subsample": "subsample"}[layer.type]
    desc = f"global {kind}" if a.get("global") else _describe_window(kind, a)
    stats = LayerStats(layer.name, layer.type, out.shape, neurons=out.size, connections=out.size * window,
                       description=desc)
    if layer.type == "subsample":  # one trainable coefficient and bias per map
        stats.weights = stats.biases = flow.c
        stats.macs = out.size
    stats, out = _apply_activation(layer, stats, out, where)
    stats.receptive_field = _rf(out)
    return stats, out


@rule("embedding")
def _embedding(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    """A lookup table: each of the L token ids picks its row of D numbers (no multiplications)."""
    a = layer.args
    if (flow.c, flow.h) != (1, 1):
        raise SpecError(f"{_where(layer, where)}: an embedding reads 1 x 1 x L token ids, got {flow.shape}")
    copies = int(a["channels"])
    out = replace(flow, c=a["dim"] * copies)
    desc = f"embedding {a['vocab']:,} words x {a['dim']}"
    if copies == 2:
        desc += ", a fixed and a fine-tuned copy"
    elif a["freeze"]:
        desc += ", fixed"
    if a["vectors"]:
        desc += f", from {a['vectors']}"
    return LayerStats(layer.name, layer.type, out.shape, weights=a["vocab"] * a["dim"] * copies,
                      neurons=out.size, connections=out.size, description=desc), out


@rule("conv1d", "maxpool1d")
def _one_d(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    """Computed as the 2-D layer with 1 x h windows over C x 1 x L maps: the same arithmetic."""
    if flow.h != 1:
        raise SpecError(f"{_where(layer, where)}: a 1-D layer needs C x 1 x L maps (a sequence), got "
                        f"{'x'.join(map(str, flow.shape))}; 2-D maps take conv/maxpool")
    stats, out = RULES[as_2d(layer).type](as_2d(layer), flow, where)
    stats.type = layer.type
    return stats, out


GATES = {"rnn": ("", 1), "gru": ("r, z, n", 3), "lstm": ("i, f, g, o", 4)}


@rule("rnn", "lstm", "gru")
def _recurrent(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    """Parameters as PyTorch counts them: per layer and direction, U (gates x H x input), W (gates x H x H)
    and two bias vectors (b_ih, b_hh), gates = 1 (RNN), 3 (GRU), 4 (LSTM).  The lecture's V (hidden to
    output) is the layer that follows."""
    a = layer.args
    if flow.h != 1:
        raise SpecError(f"{_where(layer, where)}: a recurrent layer reads a sequence, C x 1 x L; got "
                        f"{'x'.join(map(str, flow.shape))} (put it after an embedding or a conv1d)")
    names, gates = GATES[layer.type]
    h, dirs, steps = a["hidden"], 2 if a["bidirectional"] else 1, flow.w
    weights = biases = macs = 0
    width = flow.c
    for _ in range(a["layers"]):
        weights += dirs * gates * h * (width + h)
        biases += dirs * 2 * gates * h
        macs += dirs * steps * gates * h * (width + h)
        width = h * dirs
    out = replace(flow, c=width, w=steps if a["output"] == "sequence" else 1,
                  rf_w=flow.rf_w + (steps - 1) * flow.jump_w if a["output"] == "last" else flow.rf_w)
    matrices = f"U {gates}x{h}x{flow.c}, W {gates}x{h}x{h}" if gates > 1 else f"U {h}x{flow.c}, W {h}x{h}"
    stacked = f", {a['layers']} layers" if a["layers"] > 1 else ""
    gate_names = f" (gates {names})" if names else ""
    desc = (f"{layer.type} {flow.c} -> {h}{' x 2 directions' if dirs == 2 else ''}{stacked}, {matrices}"
            f"{gate_names}, {a['output']} state out")
    stats = LayerStats(layer.name, layer.type, out.shape, weights, biases, neurons=width * steps,
                       connections=macs, macs=macs, description=desc)
    stats.receptive_field = _rf(out)
    return stats, out


def _dense_flow(flow: Flow, units: int) -> Flow:
    """An fc layer is a conv whose window is the whole map; its output is units x 1 x 1."""
    return Flow(units, 1, 1, flow.rf_h + (flow.h - 1) * flow.jump_h, flow.rf_w + (flow.w - 1) * flow.jump_w,
                flow.jump_h * flow.h, flow.jump_w * flow.w)


@rule("fc", "rbf")
def _fc(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    units = layer["units"]
    fan_in = flow.size
    out = _dense_flow(flow, units)
    conns = units * fan_in
    if layer.type == "rbf":  # fixed centres: no trainable parameters
        stats = LayerStats(layer.name, layer.type, out.shape, neurons=units, connections=conns, macs=conns,
                           description=f"rbf {fan_in} -> {units} (fixed centres)")
    else:
        stats = LayerStats(layer.name, layer.type, out.shape, weights=conns,
                           biases=units if layer["bias"] else 0, neurons=units, connections=conns, macs=conns,
                           description=f"fc {fan_in} -> {units}")
        _batchnorm(layer, stats, units)
        stats, out = _apply_activation(layer, stats, out, _where(layer, where))
    stats.receptive_field = _rf(out)
    return stats, out


def _taps_inside(n_in: int, f: int, s: int, p: int, n_out: int) -> int:
    """How many (input position, filter tap) pairs of a transposed convolution land inside its output."""
    return sum(max(0, min(f, n_out + p - i * s) - max(0, p - i * s)) for i in range(n_in))


@rule("conv_transpose")
def _conv_transpose(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    a = layer.args
    where = _where(layer, where)
    k, groups = a["filters"], a["groups"]
    (fh, fw), (sh, sw), (ph, pw), (oh, ow) = a["size"], a["stride"], a["pad"], a["output_padding"]
    if flow.c % groups or k % groups:
        raise SpecError(f"{where}: groups={groups} must divide both the {flow.c} input channels and the {k} filters")
    if oh >= sh or ow >= sw:
        raise SpecError(f"{where}: output_padding {a['output_padding']} must be smaller than the stride "
                        f"{a['stride']}")
    h = (flow.h - 1) * sh - 2 * ph + fh + oh
    w = (flow.w - 1) * sw - 2 * pw + fw + ow
    if h < 1 or w < 1:
        raise SpecError(f"{where}: output ({flow.h}−1)·{sh} − 2·{ph} + {fh} + {oh} = {h} is not a positive size; "
                        f"use less padding")
    per_pair = flow.c // groups * k  # products per (input position, tap) pair, summed over channels
    links = _taps_inside(flow.h, fh, sh, ph, h) * _taps_inside(flow.w, fw, sw, pw, w) * per_pair
    out = Flow(k, h, w, flow.rf_h + (math.ceil(fh / sh) - 1) * flow.jump_h,
               flow.rf_w + (math.ceil(fw / sw) - 1) * flow.jump_w,
               Fraction(flow.jump_h) / sh, Fraction(flow.jump_w) / sw)
    desc = _describe_window("conv transpose", a) + f", {k} filters"
    if (oh, ow) != (0, 0):
        desc += f", output padding {oh if oh == ow else a['output_padding']}"
    stats = LayerStats(layer.name, layer.type, out.shape, weights=flow.c * (k // groups) * fh * fw,
                       biases=k if a["bias"] else 0, neurons=out.size, connections=links, macs=links,
                       description=desc + (f", groups {groups}" if groups > 1 else ""))
    _batchnorm(layer, stats, k)
    stats, out = _apply_activation(layer, stats, out, where)
    stats.receptive_field = _rf(out)
    return stats, out


@rule("upsample")
def _upsample(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    (sh, sw), mode = layer["scale"], layer["mode"]
    reads = 1 if mode == "nearest" else 4  # bilinear: the 2x2 nearest inputs, weighted
    grow = 0 if mode == "nearest" else 1
    out = Flow(flow.c, flow.h * sh, flow.w * sw, flow.rf_h + grow * flow.jump_h, flow.rf_w + grow * flow.jump_w,
               Fraction(flow.jump_h) / sh, Fraction(flow.jump_w) / sw)
    scale = sh if sh == sw else f"{sh}x{sw}"
    stats = LayerStats(layer.name, layer.type, out.shape, neurons=out.size, connections=out.size * reads,
                       macs=0 if mode == "nearest" else out.size * reads, receptive_field=_rf(out),
                       description=f"upsample x{scale}, {mode}")
    return stats, out


@rule("reparameterize")
def _reparameterize(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    z = layer["latent"]
    if flow.size != 2 * z:
        raise SpecError(f"{_where(layer, where)}: needs 2 x latent = {2 * z} inputs (mu and log sigma^2 of each "
                        f"of the {z} latent variables), got {flow.size:,}: end the encoder in FC-{2 * z}")
    out = _dense_flow(flow, z)
    return LayerStats(layer.name, layer.type, out.shape, neurons=z, connections=2 * z, macs=z,
                      receptive_field=_rf(out),
                      description=f"z = mu + sigma * eps, latent {z} (mu, log sigma^2 from the {2 * z} inputs)"), out


@rule("reshape")
def _reshape(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    c, h, w = layer["shape"]
    if c * h * w != flow.size:
        raise SpecError(f"{_where(layer, where)}: cannot reshape {'x'.join(map(str, flow.shape))} = {flow.size:,} "
                        f"values into {c}x{h}x{w} = {c * h * w:,}")
    # positions of the new maps are not positions of the input: each already sees what the input to the
    # reshape saw, and later windows add nothing to that (jump 0)
    out = replace(flow, c=c, h=h, w=w, jump_h=0, jump_w=0)
    return LayerStats(layer.name, layer.type, out.shape, receptive_field=_rf(out),
                      description=f"reshape to {c}x{h}x{w}"), out


@rule("concat", "add", "multiply")
def _merge_outside_graph(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    raise SpecError(f"{_where(layer, where)} merges several inputs: give it inputs: [a, b] (a graph spec), "
                    f"outside a block")


@rule("flatten")
def _flatten(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    out = _dense_flow(flow, flow.size)
    return LayerStats(layer.name, layer.type, out.shape, receptive_field=_rf(out), description="flatten"), out


@rule("maxout")
def _maxout(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    out = _maxout_flow(layer, flow, _where(layer, where))
    return LayerStats(layer.name, layer.type, out.shape, neurons=out.size, connections=out.size * layer["pieces"],
                      receptive_field=_rf(out), description=f"maxout, {layer['pieces']} pieces"), out


def _elementwise(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    stats = LayerStats(layer.name, layer.type, flow.shape, receptive_field=_rf(flow), description=layer.type)
    if layer.type == "batchnorm":
        stats.weights = stats.biases = flow.c
    elif layer.type == "lrn":
        stats.description = f"local response norm, size {layer['size']}"
    elif layer.type == "dropout":
        stats.description = f"dropout p={layer['p']:g}"
    elif layer.type == "scale":
        stats.description = f"scale x{layer['factor']:g}"
    return stats, flow


for _t in ELEMENTWISE:
    RULES.setdefault(_t, _elementwise)




def _run(layers, flow: Flow, where: str) -> tuple[list[LayerStats], Flow]:
    out = []
    flat_after = None
    for i, layer in enumerate(layers):
        if flat_after is not None and layer.type in SPATIAL:
            raise SpecError(f"{where}{i + 1} '{layer.name}' ({layer.type}) needs a spatial input, but "
                            f"'{flat_after}' already flattened the data; move it before the fc layers")
        stats, flow = RULES[layer.type](layer, flow, f"{where}{i + 1}")
        if layer.type in FLAT and flat_after is None:
            flat_after = layer.name
        elif layer.type in RESHAPE:  # a flat vector becomes maps again (decoders)
            flat_after = None
        out.append(stats)
    return out, flow


def _spatial_only(layers, here: str, part: str) -> None:
    """Blocks add or concatenate maps; a flattening layer inside one would broadcast instead of fail."""
    for sub in layers:
        if sub.type in FLAT:
            raise SpecError(f"{here}: its {part} holds '{sub.name}' ({sub.type}), which flattens the maps; "
                            f"blocks must keep (C, H, W) maps - put fc/flatten layers after the block")


def _block_stats(layer: LayerSpec, out: Flow, children: list[LayerStats], desc: str) -> LayerStats:
    return LayerStats(layer.name, layer.type, out.shape,
                      weights=sum(c.weights for c in children), biases=sum(c.biases for c in children),
                      neurons=sum(c.neurons for c in children), connections=sum(c.connections for c in children),
                      macs=sum(c.macs for c in children), receptive_field=_rf(out), description=desc,
                      children=children)


@rule("inception")
def _inception(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    here = _where(layer, where)
    children, outs = [], []
    for j, branch in enumerate(layer["branches"]):
        _spatial_only(branch, here, f"branch {j + 1}")
        stats, out = _run(branch, flow, f"{where}.branch{j + 1}.layer ")
        for s in stats:
            s.name = f"branch{j + 1}.{s.name}"
        children += stats
        outs.append(out)
    sizes = {(o.h, o.w) for o in outs}
    if len(sizes) > 1:
        shapes = ", ".join(f"branch {j + 1}: {o.h}x{o.w}" for j, o in enumerate(outs))
        raise SpecError(f"{here}: branches must keep the same spatial size to be concatenated ({shapes})")
    out = replace(outs[0], c=sum(o.c for o in outs), rf_h=max(o.rf_h for o in outs),
                  rf_w=max(o.rf_w for o in outs))
    desc = "inception " + " + ".join(str(o.c) for o in outs)
    return _block_stats(layer, out, children, desc), out


@rule("residual")
def _residual(layer: LayerSpec, flow: Flow, where: str) -> tuple[LayerStats, Flow]:
    here = _where(layer, where)
    _spatial_only(layer["body"], here, "body")
    if isinstance(layer["shortcut"], tuple):
        _spatial_only(layer["shortcut"], here, "shortcut")
    body, out = _run(layer["body"], flow, f"{where}.body.layer ")
    for s in body:
        s.name = f"body.{s.name}"
    children = list(body)
    shortcut = layer["shortcut"]
    if shortcut == "identity":
        if out.shape != flow.shape:
            raise SpecError(f"{here}: the body maps {'x'.join(map(str, flow.shape))} to "
                            f"{'x'.join(map(str, out.shape))}, so an identity shortcut cannot be added; "
                            f"use shortcut: pad or a projection (a list of layers, e.g. a 1x1 conv)")
        desc = "residual, identity shortcut"
    elif shortcut == "pad":
        if flow.h % out.h or flow.w % out.w or out.c < flow.c or flow.h // out.h != flow.w // out.w:
            raise SpecError(f"{here}: a 'pad' shortcut subsamples and zero-pads channels; it cannot map "
                            f"{'x'.join(map(str, flow.shape))} to {'x'.join(map(str, out.shape))}")
        desc = "residual, zero-pad shortcut"
    else:
        short, sout = _run(shortcut, flow, f"{where}.shortcut.layer ")
        if sout.shape != out.shape:
            raise SpecError(f"{here}: the shortcut gives {'x'.join(map(str, sout.shape))} but the body gives "
                            f"{'x'.join(map(str, out.shape))}; they must match to be added")
        for s in short:
            s.name = f"shortcut.{s.name}"
        children += short
        out = replace(out, rf_h=max(out.rf_h, sout.rf_h), rf_w=max(out.rf_w, sout.rf_w))
        desc = "residual, projection shortcut"
    if layer["activation"] is not None:
        desc += f", {layer['activation'].type}"
    return _block_stats(layer, out, children, desc), out


def summarize(spec: ModelSpec) -> Summary:
    """Run the arithmetic over every layer; raises SpecError/GeometryError on a misfit."""
    if spec.is_graph:
        return _summarize_graph(spec)
    c, h, w = spec.input
    layers, _ = _run(spec.layers, Flow(c, h, w), "layer ")
    return Summary(spec.name, spec.input, layers)


def graph_flows(spec: ModelSpec) -> tuple[dict[str, Flow], set[str], list[tuple[str, ...]]]:
    """Per node of a graph spec its Flow, which nodes are flat vectors, and each layer's inputs."""
    return _graph(spec)[1:]


def _summarize_graph(spec: ModelSpec) -> Summary:
    stats, flows, _, _ = _graph(spec)
    outputs = spec.outputs or (spec.layers[-1].name,)
    inputs = spec.inputs or (("input", spec.input),)
    return Summary(spec.name, spec.input, stats, tuple(inputs), tuple((o, flows[o].shape) for o in outputs))


def _graph(spec: ModelSpec):
    """Walk a graph spec in declaration order: each layer reads earlier nodes only, so no cycle can form."""
    flows: dict[str, Flow] = {}
    flat: set[str] = set()
    for name, shape in spec.inputs or (("input", spec.input),):
        flows[name] = Flow(*shape) if len(shape) == 3 else Flow(shape[0], 1, 1)
        if len(shape) == 1:
            flat.add(name)
    layer_names = [layer.name for layer in spec.layers]
    clash = sorted(set(flows) & set(layer_names))
    if clash:
        raise SpecError(f"spec: {clash[0]!r} names both an input and a layer; names must be unique")
    used: set[str] = set()
    prev = next(iter(flows)) if len(flows) == 1 else None
    all_stats, wiring = [], []
    for i, layer in enumerate(spec.layers):
        where = f"layer {i + 1} '{layer.name}' ({layer.type})"
        srcs = list(layer.inputs) or ([prev] if prev else [])
        if not srcs:
            raise SpecError(f"{where}: the network has several inputs ({', '.join(flows)}); say which this layer "
                            f"reads with inputs: [...]")
        for src in srcs:
            if src not in flows:
                if src in layer_names:
                    raise SpecError(f"{where} reads '{src}', which comes later: a layer reads only earlier layers "
                                    f"or the network's inputs, so the graph has no cycles")
                raise SpecError(f"{where} reads unknown '{src}'{suggest(src, list(flows))}; known: "
                                f"{', '.join(flows)}")
        used.update(srcs)
        if layer.type in MERGE:
            if len(srcs) < 2:
                raise SpecError(f"{where}: a merge needs at least two inputs, got {srcs}")
            st, out = _merge(layer, [(s, flows[s], s in flat) for s in srcs], where)
            is_flat = all(s in flat for s in srcs)
        else:
            if len(srcs) != 1:
                raise SpecError(f"{where} reads one input, got {len(srcs)} ({', '.join(srcs)}); join them first "
                                f"with a concat, add or multiply layer")
            src = srcs[0]
            if src in flat and layer.type in SPATIAL:
                raise SpecError(f"{where} needs (C, H, W) maps, but '{src}' is a flat vector of "
                                f"{flows[src].size:,}; reshape it first or read maps")
            st, out = RULES[layer.type](layer, flows[src], f"layer {i + 1}")
            is_flat = (src in flat or layer.type in FLAT) and layer.type not in RESHAPE
        st.inputs = tuple(srcs)
        all_stats.append(st)
        wiring.append(tuple(srcs))
        flows[layer.name] = out
        if is_flat:
            flat.add(layer.name)
        prev = layer.name
    outputs = spec.outputs or (spec.layers[-1].name,)
    for o in outputs:
        if o not in layer_names:
            raise SpecError(f"spec: output {o!r} is not a layer{suggest(o, layer_names)}; layers: "
                            f"{', '.join(layer_names)}")
    unused = [n for n in flows if n not in used and n not in outputs]
    if unused:
        raise SpecError(f"spec: '{unused[0]}' is never used: no layer reads it and it is not an output; connect it "
                        f"(inputs: [{unused[0]}]) or remove it")
    return all_stats, flows, flat, wiring


def _merge(layer: LayerSpec, parts, where: str) -> tuple[LayerStats, Flow]:
    """concat / add / multiply of (name, flow, is_flat) parts."""
    def show(name, f, is_flat):
        return f"'{name}' is {f.size:,} values (flat)" if is_flat else f"'{name}' is {'x'.join(map(str, f.shape))}"

    flats = [p[2] for p in parts]
    flows = [p[1] for p in parts]
    if any(flats) and not all(flats):
        raise SpecError(f"{where}: cannot merge flat vectors with maps: " + ", ".join(show(*p) for p in parts)
                        + "; flatten the maps first (a flatten layer) or reshape the vector")
    rf_h, rf_w = max(f.rf_h for f in flows), max(f.rf_w for f in flows)
    jump_h, jump_w = max(f.jump_h for f in flows), max(f.jump_w for f in flows)
    names = " + ".join(p[0] for p in parts)
    if layer.type == "concat":
        if all(flats):
            out = Flow(sum(f.size for f in flows), 1, 1, rf_h, rf_w, jump_h, jump_w)
        else:
            if len({(f.h, f.w) for f in flows}) > 1:
                raise SpecError(f"{where}: concat stacks channels of maps of one size: "
                                + ", ".join(show(*p) for p in parts))
            out = Flow(sum(f.c for f in flows), flows[0].h, flows[0].w, rf_h, rf_w, jump_h, jump_w)
        desc = f"concat {names}"
    else:
        sizes = {f.size if flats[0] else f.shape for f in flows}
        if len(sizes) > 1:
            raise SpecError(f"{where}: {layer.type} needs inputs of one shape: " + ", ".join(show(*p) for p in parts))
        out = replace(flows[0], rf_h=rf_h, rf_w=rf_w, jump_h=jump_h, jump_w=jump_w)
        desc = f"{layer.type} {names}"
    return LayerStats(layer.name, layer.type, out.shape, receptive_field=_rf(out), description=desc), out


def block_input_shapes(layers, in_shape: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """Input volume of each layer of a nested list, given the list's input."""
    flow = Flow(*in_shape)
    shapes = []
    for i, layer in enumerate(layers):
        shapes.append(flow.shape)
        _, flow = RULES[layer.type](layer, flow, f"layer {i + 1}")
    return shapes


def _fmt(n: int) -> str:
    return f"{n:,}"


def format_table(summary: Summary) -> str:
    graph = bool(summary.inputs)
    head = ("#", "name", *(("inputs",) if graph else ()), "layer", "output", "weights", "biases", "params",
            "neurons", "connections", "MACs", "RF")
    rows = []
    for i, s in enumerate(summary.layers, 1):
        rf = s.receptive_field if isinstance(s.receptive_field, int) else "x".join(map(str, s.receptive_field))
        rows.append((str(i), s.name, *((", ".join(s.inputs),) if graph else ()), s.description,
                     "x".join(map(str, s.output)), _fmt(s.weights), _fmt(s.biases),
                     _fmt(s.params), _fmt(s.neurons), _fmt(s.connections), _fmt(s.macs), str(rf)))
    t = summary.totals
    c, h, w = summary.input
    for j, (name, shape) in reversed(list(enumerate(summary.inputs or (("input", (c, h, w)),)))):
        rows.insert(0, ("0" if not graph else f"in{j + 1}", name, *(("",) if graph else ()), "input",
                        "x".join(map(str, shape)), "", "", "", _fmt(math.prod(shape)), "", "", "1"))
    total = ("", "total", *(("",) if graph else ()), "", "", _fmt(t["weights"]), _fmt(t["biases"]),
             _fmt(t["params"]), _fmt(t["neurons"]), _fmt(t["connections"]), _fmt(t["macs"]), "")
    widths = [max(len(r[k]) for r in [head, total, *rows]) for k in range(len(head))]
    left = {1, 2, 3} if graph else {1, 2}

    def line(r):
        return "  ".join(r[k].ljust(widths[k]) if k in left else r[k].rjust(widths[k]) for k in range(len(r)))

    rule_ = "-" * len(line(head))
    title = (f"{summary.name}: inputs " + ", ".join(f"{n} {'x'.join(map(str, sh))}" for n, sh in summary.inputs)
             + "; outputs " + ", ".join(f"{n} {'x'.join(map(str, sh))}" for n, sh in summary.outputs)
             if graph else f"{summary.name}: input {c}x{h}x{w}")
    out = [title, rule_, line(head), rule_, *map(line, rows), rule_, line(total)]
    return "\n".join(s.rstrip() for s in out)


__all__ = ["Summary", "LayerStats", "Flow", "summarize", "block_input_shapes", "GeometryError"]
