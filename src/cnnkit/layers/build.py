"""Name-keyed factories: one validated LayerSpec in, one ``nn.Module`` out.

Shapes come from the inspector (one source of truth for geometry), so every
factory receives the exact (C, H, W) its layer will see.  Each spec layer
becomes one named child module, so ``features.conv1`` in a state dict is
``conv1`` in the spec and in the inspector's table.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from torch import nn

from cnnkit.errors import SpecError
from cnnkit.inspect import block_input_shapes, summarize
from cnnkit.layers import modules as M
from cnnkit.spec import LayerSpec, ModelSpec
from cnnkit.spec.parse import as_2d
from cnnkit.spec.schema import ACTIVATIONS, FLAT, MONOTONE, RESHAPE

Shape = tuple[int, int, int]

ACTIVATION_FACTORIES: dict[str, Callable[[LayerSpec], nn.Module]] = {
    "relu": lambda a: nn.ReLU(inplace=True),
    "leaky_relu": lambda a: nn.LeakyReLU(a["slope"], inplace=True),
    "elu": lambda a: nn.ELU(a["alpha"], inplace=True),
    "tanh": lambda a: nn.Tanh(),
    "gelu": lambda a: nn.GELU(),
    "scaled_tanh": lambda a: M.ScaledTanh(a["amplitude"], a["slope"]),
    "sigmoid": lambda a: nn.Sigmoid(),
    "maxout": lambda a: M.Maxout(a["pieces"]),
    "identity": lambda a: nn.Identity(),
    "softmax": lambda a: nn.Softmax(dim=1),
}
assert set(ACTIVATION_FACTORIES) == set(ACTIVATIONS), "every activation in the schema needs a factory"


def get_activation(spec: LayerSpec | str) -> nn.Module:
    """The module for an activation name or spec (``relu``, ``maxout``, ...)."""
    if isinstance(spec, str):
        from cnnkit.spec.parse import parse_activation

        spec = parse_activation(spec, "activation")
        if spec is None:
            return nn.Identity()
    return ACTIVATION_FACTORIES[spec.type](spec)


def _with_tail(main: nn.Module, layer: LayerSpec, channels: int, flat: bool, key: str) -> nn.Sequential:
    parts = OrderedDict([(key, main)])
    bn = layer.args.get("batchnorm")
    if bn:
        eps = 1e-5 if bn is True else bn
        parts["bn"] = nn.BatchNorm1d(channels, eps=eps) if flat else nn.BatchNorm2d(channels, eps=eps)
    if layer.args.get("activation") is not None:
        parts["act"] = get_activation(layer["activation"])
    return nn.Sequential(parts)


def _conv(layer: LayerSpec, shape: Shape) -> nn.Module:
    a = layer.args
    c, h, w = shape
    if a["table"] is not None:
        main: nn.Module = M.TableConv2d(c, a["table"], a["size"], a["stride"], a["pad"], bias=a["bias"])
    else:
        main = M.Conv2d(c, a["filters"], a["size"], a["stride"], a["pad"], groups=a["groups"], bias=a["bias"])
    return _with_tail(main, layer, a["filters"], False, "conv")


def _conv_transpose(layer: LayerSpec, shape: Shape) -> nn.Module:
    a = layer.args
    main = nn.ConvTranspose2d(shape[0], a["filters"], a["size"], a["stride"], a["pad"], a["output_padding"],
                              groups=a["groups"], bias=a["bias"])
    return _with_tail(main, layer, a["filters"], False, "conv")


def _local(layer: LayerSpec, shape: Shape) -> nn.Module:
    a = layer.args
    c, h, w = shape
    if layer.type == "tiled_conv":
        main: nn.Module = M.TiledConv2d(c, a["filters"], a["size"], a["stride"], a["pad"], (h, w), a["tile"],
                                        bias=a["bias"])
    else:
        main = M.LocallyConnected2d(c, a["filters"], a["size"], a["stride"], a["pad"], (h, w), bias=a["bias"])
    return _with_tail(main, layer, a["filters"], False, "conv")


def _pool(layer: LayerSpec, shape: Shape) -> nn.Module:
    a = layer.args
    if layer.type == "subsample":
        return _with_tail(M.Subsample2d(shape[0], a["size"], a["stride"]), layer, shape[0], False, "pool")
    if a["global"]:
        main: nn.Module = nn.AdaptiveMaxPool2d(1) if layer.type == "maxpool" else nn.AdaptiveAvgPool2d(1)
    elif layer.type == "maxpool":
        main = M.MaxPool2d(a["size"], a["stride"], a["pad"], ceil_mode=a["ceil_mode"])
    else:
        main = nn.AvgPool2d(a["size"], a["stride"], a["pad"], ceil_mode=a["ceil_mode"])
    return main


def _embedding(layer: LayerSpec, shape: Shape) -> nn.Module:
    a = layer.args
    # ``vectors`` are matched to the run's vocabulary when training starts (cnnkit.train.run)
    return M.TokenEmbedding(a["vocab"], a["dim"], a["freeze"], int(a["channels"]))


def _recurrent(layer: LayerSpec, shape: Shape) -> nn.Module:
    a = layer.args
    return M.Recurrent(layer.type, shape[0], a["hidden"], a["layers"], a["bidirectional"], a["output"], a["dropout"])


def _fc(layer: LayerSpec, shape: Shape) -> nn.Module:
    c, h, w = shape
    seq = _with_tail(nn.Linear(c * h * w, layer["units"], bias=layer["bias"]), layer, layer["units"], True, "fc")
    # (N, C, H, W) -> (N, C*H*W) first, so an fc may follow a conv directly.
    return nn.Sequential(OrderedDict([("flatten", nn.Flatten()), *seq.named_children()]))


def _rbf(layer: LayerSpec, shape: Shape) -> nn.Module:
    c, h, w = shape
    return M.RBFOutput(c * h * w, layer["units"], layer["seed"])


def _batchnorm(layer: LayerSpec, shape: Shape, flat: bool = False) -> nn.Module:
    cls = nn.BatchNorm1d if flat else nn.BatchNorm2d
    return cls(shape[0], eps=layer["eps"], momentum=layer["momentum"])




def build_sequence(layers, shape: Shape, flat: bool = False) -> M.Chain:
    """A :class:`~cnnkit.layers.modules.Chain` of the layers' modules, named as in the spec.

    Each layer is built whole (a conv keeps its activation); where a monotone
    activation is directly followed by max pooling, the chain is told it may
    apply it after the pool, an exact rewrite that stays invisible to anyone
    who looks at a layer (see :class:`~cnnkit.layers.modules.Chain`).
    """
    return M.Chain(*_sequence(layers, shape, flat))


def _sequence(layers, shape: Shape, flat: bool = False) -> tuple[OrderedDict[str, nn.Module], tuple[int, ...]]:
    shapes = block_input_shapes(layers, shape)
    mods: OrderedDict[str, nn.Module] = OrderedDict()
    deferred = []
    for i, (layer, s) in enumerate(zip(layers, shapes)):
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        act = layer.args.get("activation") if layer.type != "residual" else None
        module = build_layer(layer, s, flat)
        if (act is not None and act.type in MONOTONE and nxt is not None and nxt.type == "maxpool"
                and isinstance(module, nn.Sequential) and list(module._modules)[-1] == "act"):
            deferred.append(i)
        mods[layer.name] = module
        flat = (flat or layer.type in FLAT) and layer.type not in RESHAPE
    return mods, tuple(deferred)


def _block_list(layers, shape: Shape, flat: bool = False) -> M.Chain:
    return build_sequence(layers, shape, flat)


def _inception(layer: LayerSpec, shape: Shape) -> nn.Module:
    return M.Inception([_block_list(branch, shape) for branch in layer["branches"]])


def _residual(layer: LayerSpec, shape: Shape) -> nn.Module:
    body = _block_list(layer["body"], shape)
    sc = layer["shortcut"]
    if sc == "identity":
        shortcut: nn.Module = nn.Identity()
    elif sc == "pad":
        out = summarize(ModelSpec("block", shape, layer["body"])).output
        shortcut = M.ZeroPadShortcut(shape[1] // out[1], out[0] - shape[0])
    else:
        shortcut = _block_list(sc, shape)
    act = get_activation(layer["activation"]) if layer["activation"] is not None else nn.Identity()
    return M.Residual(body, shortcut, act)


FACTORIES: dict[str, Callable[..., nn.Module]] = {
    "conv": _conv,
    "locally_connected": _local,
    "tiled_conv": _local,
    "maxpool": _pool,
    "avgpool": _pool,
    "subsample": _pool,
    "fc": _fc,
    "rbf": _rbf,
    "embedding": _embedding,
    "conv1d": lambda layer, shape: _conv(as_2d(layer), shape),
    "maxpool1d": lambda layer, shape: _pool(as_2d(layer), shape),
    "rnn": _recurrent,
    "lstm": _recurrent,
    "gru": _recurrent,
    "flatten": lambda layer, shape: nn.Flatten(),
    "conv_transpose": _conv_transpose,
    "upsample": lambda layer, shape: nn.Upsample(scale_factor=tuple(float(v) for v in layer["scale"]),
                                                 mode=layer["mode"]),
    "reshape": lambda layer, shape: M.Reshape(layer["shape"]),
    "reparameterize": lambda layer, shape: M.Reparameterize(layer["latent"]),
    "concat": lambda layer, shape: M.Merge("concat"),
    "add": lambda layer, shape: M.Merge("add"),
    "multiply": lambda layer, shape: M.Merge("multiply"),
    "dropout": lambda layer, shape: nn.Dropout(layer["p"]),
    "scale": lambda layer, shape: M.Scale(layer["factor"]),
    "lrn": lambda layer, shape: M.LocalResponseNorm(layer["size"], layer["alpha"], layer["beta"], layer["k"]),
    "inception": _inception,
    "residual": _residual,
    "batchnorm": _batchnorm,
}
#: factories that also need to know whether the incoming tensor is already flat (N, features)
FLAT_AWARE = frozenset({"batchnorm"})


def build_layer(layer: LayerSpec, shape: Shape, flat: bool = False) -> nn.Module:
    """The module for one layer whose input volume is ``shape``.

    ``flat`` says the incoming tensor is already (N, features): batch norm then
    needs its 1-d flavour.
    """
    if layer.type in ACTIVATION_FACTORIES:
        return ACTIVATION_FACTORIES[layer.type](layer)
    try:
        factory = FACTORIES[layer.type]
    except KeyError:
        raise SpecError(f"no builder for layer type {layer.type!r}") from None
    return factory(layer, shape, flat) if layer.type in FLAT_AWARE else factory(layer, shape)
