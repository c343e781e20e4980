"""The network every spec becomes: ``features`` then ``classifier``.

One transfer interface for every model (timm / torchvision style):
``forward_features``, ``forward_head``, ``reset_classifier(num_classes)``.

``forward`` returns class *scores* (logits).  A spec's trailing ``softmax`` is
part of the architecture the inspector reports, but in the module it is folded
into the loss (cross-entropy) and into :meth:`CNN.predict_proba`, as in every
PyTorch classifier; applying it twice would silently slow learning.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

import torch
from torch import nn

from cnnkit.errors import CnnkitError
from cnnkit.inspect import block_input_shapes, summarize
from cnnkit.layers import modules as M
from cnnkit.layers.build import _sequence, build_layer
from cnnkit.spec import LayerSpec, ModelSpec
from cnnkit.spec.schema import FLAT, OUTPUT_TYPES

#: Refuse to allocate beyond this: 4 GiB of float32 weights, far above VGG-E's 144M.
MAX_PARAMS = 1 << 30


#: Layers that act on each value alone, so a batch-last map passes through them without a copy.
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Dropout, nn.Identity,
               M.ScaledTanh)


def plan_native_convolutions(model: nn.Module) -> None:
    """Let a :class:`~cnnkit.layers.Conv2d` use its native kernel only where that pays for the whole network.

    The kernel returns maps batch-last; native 2x2 max pooling and elementwise
    layers read them as they are, but batch norm, LeNet-1998's subsampling or
    a oneDNN convolution right after would first reorder them (measured: the
    network's training step 0.85-0.94x as fast as without the kernel).  So a
    convolution stays native only when, through elementwise layers only, it
    feeds a native-sized 2x2 max pooling (LeNet-5, cifar10-net), and never
    inside a residual or inception block.
    """
    leaves = [m for m in model.modules() if not list(m.children())]
    in_blocks = {id(m) for block in model.modules() if isinstance(block, (M.Residual, M.Inception))
                 for m in block.modules()}
    for i, conv in enumerate(leaves):
        if not isinstance(conv, M.Conv2d):
            continue
        feeds_pool = False
        if id(conv) not in in_blocks:
            for layer in leaves[i + 1:]:
                if isinstance(layer, M.MaxPool2d):
                    feeds_pool = layer.is_2x2()
                    break
                if not isinstance(layer, ELEMENTWISE):
                    break
        conv.native_allowed = feeds_pool


def _split_point(layers: tuple[LayerSpec, ...]) -> int:
    """Index of the first classifier layer: the first flat layer, with the dropouts just before it."""
    first = next((i for i, layer in enumerate(layers) if layer.type in FLAT), len(layers))
    while first > 0 and layers[first - 1].type == "dropout":
        first -= 1
    return first


class CNN(nn.Module):
    """A network built from a :class:`ModelSpec` (kept as ``self.spec``)."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        # validate the geometry, and the size, with a clear message before allocating anything
        params = summarize(spec).totals["params"]
        if params > MAX_PARAMS:
            raise CnnkitError(f"model {spec.name!r} would have {params:,} parameters "
                              f"({params * 4 / 2**30:,.1f} GiB in float32), more than the {MAX_PARAMS:,} cnnkit "
                              f"builds; check the layer sizes")
        self.spec = spec
        layers = spec.layers
        self.output_softmax = layers[-1].type == "softmax"
        cut = _split_point(layers)
        body = layers[:-1] if self.output_softmax else layers
        modules, deferred = _sequence(body, spec.input)
        if self.output_softmax:
            modules[layers[-1].name] = nn.Identity()  # folded into the loss; see the module docstring
        features, classifier = OrderedDict(), OrderedDict()
        for i, (name, module) in enumerate(modules.items()):
            (features if i < cut else classifier)[name] = module
        # a deferred activation moves past the next layer, so both must sit in the same part
        self.features = M.Chain(features, tuple(i for i in deferred if i + 1 < cut))
        self.classifier = M.Chain(classifier, tuple(i - cut for i in deferred if i >= cut))
        plan_native_convolutions(self)

    #: names of top-level layers kept in eval mode (frozen batch-norm statistics); see :meth:`train`
    frozen: frozenset[str] = frozenset()

    def train(self, mode: bool = True) -> CNN:
        """Like ``nn.Module.train``, but frozen layers stay in eval mode so their BN statistics are kept."""
        super().train(mode)
        for name, module in [*self.features.named_children(), *self.classifier.named_children()]:
            if name in self.frozen:
                module.eval()
        return self

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.spec.input

    @property
    def num_classes(self) -> int:
        return summarize(self.spec).output[0]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x).flatten(1)  # (N, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def _latent_index(self) -> tuple[list[nn.Module], int]:
        parts = [*self.features.children(), *self.classifier.children()]
        at = next((i for i, m in enumerate(parts) if isinstance(m, M.Reparameterize)), None)
        if at is None:
            raise CnnkitError(f"{self.spec.name} has no latent code (a reparameterize layer): it is not a VAE")
        return parts, at

    def latent_size(self) -> int:
        """The size of a VAE's latent code (a method, not a property: tracing reads every property)."""
        parts, at = self._latent_index()
        return parts[at].latent

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A VAE's (mu, log sigma^2) of q(z|x)."""
        parts, at = self._latent_index()
        for m in parts[:at + 1]:
            x = m(x)
        latent = parts[at]
        return latent.mu, latent.logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """A VAE's decoder output (Bernoulli logits) for latent codes z, (N, Z)."""
        parts, at = self._latent_index()
        for m in parts[at + 1:]:
            z = m(z)
        return z.flatten(1)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self(x), dim=1)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the output layer with a fresh one of ``num_classes`` units."""
        spec = with_num_classes(self.spec, num_classes)
        name = spec.layers[output_layer_index(spec)].name
        shapes = block_input_shapes(spec.layers, spec.input)
        idx = output_layer_index(spec)
        new = build_layer(spec.layers[idx], shapes[idx], flat=any(lt.type in FLAT for lt in spec.layers[:idx]))
        old = self.classifier if name in self.classifier._modules else self.features
        ref = old._modules[name]
        try:
            ref_param = next(ref.parameters())
            new = new.to(device=ref_param.device, dtype=ref_param.dtype)
        except StopIteration:
            pass
        old._modules[name] = new
        self.spec = spec


def output_layer_index(spec: ModelSpec) -> int:
    for i in range(len(spec.layers) - 1, -1, -1):
        if spec.layers[i].type in OUTPUT_TYPES:
            return i
    raise CnnkitError(f"model {spec.name!r} has no output layer ({', '.join(sorted(OUTPUT_TYPES))}) whose classes "
                      f"could be changed")


def with_num_classes(spec: ModelSpec, num_classes: int) -> ModelSpec:
    """The same spec with its output layer resized to ``num_classes``."""
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise CnnkitError(f"num_classes must be a positive integer, got {num_classes!r}")
    i = output_layer_index(spec)
    layer = spec.layers[i]
    key = "filters" if layer.type == "conv" else "units"
    if layer.args[key] == num_classes:
        return spec
    args = dict(layer.args)
    args[key] = num_classes
    if layer.type == "conv" and args.get("table") is not None:
        raise CnnkitError("cannot resize an output layer that has a connection table")
    layers = list(spec.layers)
    layers[i] = replace(layer, args=args)
    classes = spec.classes if spec.classes and len(spec.classes) == num_classes else None
    return replace(spec, layers=tuple(layers), classes=classes)


def with_units(spec: ModelSpec, layer_name: str, units: int) -> ModelSpec:
    """The same spec with layer ``layer_name`` (an fc, rbf or conv head) resized to ``units`` outputs."""
    for i, layer in enumerate(spec.layers):
        if layer.name == layer_name:
            if layer.type not in OUTPUT_TYPES:
                raise CnnkitError(f"head {layer_name!r} is a {layer.type} layer; a head that is sized to its targets "
                                  f"must be one of {', '.join(sorted(OUTPUT_TYPES))}")
            key = "filters" if layer.type == "conv" else "units"
            if layer.args[key] == units:
                return spec
            layers = list(spec.layers)
            layers[i] = replace(layer, args={**layer.args, key: units})
            return replace(spec, layers=tuple(layers))
    raise CnnkitError(f"no layer {layer_name!r} in {spec.name}")


def with_layer_args(spec: ModelSpec, layer_name: str, **args) -> ModelSpec:
    """The same spec with some arguments of the top-level layer ``layer_name`` replaced."""
    layers = [replace(la, args={**la.args, **args}) if la.name == layer_name else la for la in spec.layers]
    return replace(spec, layers=tuple(layers))


def build_from_spec(spec: ModelSpec):
    """A :class:`CNN` for a chain of layers, a :class:`~cnnkit.layers.graph.GraphNet` for a graph spec."""
    if spec.is_graph:
        from cnnkit.layers.graph import GraphNet

        params = summarize(spec).totals["params"]
        if params > MAX_PARAMS:
            raise CnnkitError(f"model {spec.name!r} would have {params:,} parameters, more than the {MAX_PARAMS:,} "
                              f"cnnkit builds; check the layer sizes")
        return GraphNet(spec)
    return CNN(spec)


def with_head(spec: ModelSpec, head, num_classes: int) -> tuple[ModelSpec, list[str]]:
    """The notes' "add your custom network on top": the base cut where its classifier begins, then ``head``.

    ``head``: a comma list of layers in shorthand (``"FC-256,relu,dropout0.5"``), a list of layer
    items, or a YAML/JSON file holding such a list (or a mapping with ``layers:``).  A final FC to
    ``num_classes`` follows unless the head already ends in one of that size.  Returns the new spec
    and the names of its head layers (the ones a ``head`` stage trains).
    """
    from pathlib import Path

    from cnnkit.spec import parse_spec, spec_to_data

    items = head
    if isinstance(head, str):
        path = Path(head)
        if path.suffix.lower() in (".yaml", ".yml", ".json"):
            from cnnkit.spec.parse import load_spec_file

            if not path.exists():
                raise CnnkitError(f"head file {head!r} does not exist")
            try:
                data = load_spec_file(path)
            except CnnkitError:
                import yaml

                data = yaml.safe_load(path.read_text())
            items = data.get("layers") if isinstance(data, dict) else data
        else:
            items = [part.strip() for part in head.split(",") if part.strip()]
    if not isinstance(items, (list, tuple)) or not items:
        raise CnnkitError("--head needs at least one layer, e.g. FC-256,relu,dropout0.5 or a .yaml file")
    cut = _split_point(spec.layers)
    base = spec_to_data(spec)
    layers = base["layers"][:cut] + list(items)
    trial = parse_spec({**base, "layers": layers})  # names the head's layers, checks every item
    last = trial.layers[-1]
    if not (last.type == "fc" and last.args["units"] == num_classes):
        layers.append({"type": "fc", "name": "head_out", "units": num_classes})
    new = parse_spec({**base, "name": f"{spec.name}+head", "layers": layers, "classes": None})
    return new, [layer.name for layer in new.layers[cut:]]
