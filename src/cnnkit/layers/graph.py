"""The network a graph spec becomes: named inputs, layers that read any earlier node, merges, several heads.

Nodes run in declaration order (each reads only earlier nodes, so the order is
a topological one).  ``forward`` takes one tensor for a one-input network or a
``{name: tensor}`` mapping (images (N, C, H, W), vectors (N, F)); it returns
the output's scores flattened to (N, D), or ``{head: (N, D)}`` with several
outputs.  Each node is one module named as in the spec, so hooks, reports
and state dicts read it by that name.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnkit.errors import CnnkitError
from cnnkit.inspect.summary import graph_flows
from cnnkit.layers.build import build_layer
from cnnkit.spec import ModelSpec


class GraphNet(nn.Module):
    """A network built from a graph :class:`ModelSpec` (kept as ``self.spec``)."""

    frozen: frozenset[str] = frozenset()

    def __init__(self, spec: ModelSpec):
        super().__init__()
        flows, flat, wiring = graph_flows(spec)  # validates the whole graph first
        self.spec = spec
        self.input_names = [n for n, _ in spec.inputs] or ["input"]
        #: the input that carries images (normalised and augmented by the trainer); the rest are vectors
        self.image_input = next((n for n, s in spec.inputs if len(s) == 3), self.input_names[0])
        self.wiring = {layer.name: srcs for layer, srcs in zip(spec.layers, wiring)}
        self.outputs = list(spec.outputs or (spec.layers[-1].name,))
        self.nodes = nn.ModuleDict()
        for layer, srcs in zip(spec.layers, wiring):
            src = srcs[0]
            self.nodes[layer.name] = build_layer(layer, flows[src].shape, flat=src in flat)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.spec.input

    @property
    def num_classes(self) -> int:
        from cnnkit.inspect import summarize

        c, h, w = summarize(self.spec).output
        return c * h * w

    def forward(self, x):
        if isinstance(x, dict):
            missing = [n for n in self.input_names if n not in x]
            if missing:
                raise CnnkitError(f"{self.spec.name} needs inputs {', '.join(self.input_names)}; missing "
                                  f"{', '.join(missing)}")
            values = dict(x)
        elif len(self.input_names) == 1:
            values = {self.input_names[0]: x}
        else:
            raise CnnkitError(f"{self.spec.name} has several inputs ({', '.join(self.input_names)}): pass a "
                              f"mapping of name to tensor")
        for name, module in self.nodes.items():
            args = [values[s] for s in self.wiring[name]]
            values[name] = module(*args)
        if len(self.outputs) == 1:
            return values[self.outputs[0]].flatten(1)
        return {o: values[o].flatten(1) for o in self.outputs}

    @torch.no_grad()
    def predict_proba(self, x) -> torch.Tensor:
        return torch.softmax(self(x), dim=1)

    def train(self, mode: bool = True) -> GraphNet:
        super().train(mode)
        for name in self.frozen:
            self.nodes[name].eval()
        return self
