"""The vocabulary of specs: which layer types exist and which keys each accepts.

Each layer type maps key -> :class:`Field`.  A field knows how to check and
normalise one value (``size: 5`` -> ``(5, 5)``), its default, and whether it is
required.  Keeping the whole vocabulary in one table means a typo anywhere is
answered with the exact list of accepted names, and the inspector and the
builder never see an unchecked value.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnnkit.errors import SpecError

#: Sizes beyond this are refused while parsing, so that a typo like
#: ``filters: 40960000`` is reported instead of allocating gigabytes.
MAX_DIM = 1 << 20


class FieldError(ValueError):
    """A single value failed its check; the parser adds the layer and key."""


@dataclass(frozen=True)
class Field:
    check: Callable[[Any], Any]
    default: Any = None
    required: bool = False
    doc: str = ""


def _int(value: Any, lo: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise FieldError(f"expected {what}, got {value!r}")
    if value < lo:
        raise FieldError(f"expected {what}, got {value}")
    if value > MAX_DIM:
        raise FieldError(f"{value} is too large (limit {MAX_DIM})")
    return value


def pos_int(value: Any) -> int:
    return _int(value, 1, "a positive integer")


def nonneg_int(value: Any) -> int:
    return _int(value, 0, "a non-negative integer")


def _pair(value: Any, one: Callable[[Any], int]) -> tuple[int, int]:
    if isinstance(value, str) and "x" in value.lower():
        parts = value.lower().split("x")
        try:
            value = [int(p) for p in parts]
        except ValueError:
            raise FieldError(f"expected N or HxW, got {value!r}") from None
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise FieldError(f"expected one number or [height, width], got {value!r}")
        return one(value[0]), one(value[1])
    v = one(value)
    return v, v


def size2(value: Any) -> tuple[int, int]:
    return _pair(value, pos_int)


def _pair_nonneg(value: Any) -> tuple[int, int]:
    return _pair(value, nonneg_int)


def pad2(value: Any) -> tuple[int, int] | str:
    if isinstance(value, str) and value.lower() in PAD_MODES:
        return value.lower()
    return _pair(value, nonneg_int)


PAD_MODES = ("same", "valid", "full")


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise FieldError(f"expected true or false, got {value!r}")


def batchnorm_flag(value: Any) -> bool | float:
    """``true`` (batch norm with eps 1e-5), ``false``, or a number: batch norm with that eps."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and 0 < value < 1:
        return float(value)
    raise FieldError(f"expected true, false or an epsilon in (0, 1), got {value!r}")


def probability(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise FieldError(f"expected a probability in [0, 1), got {value!r}")
    return float(value)


def pos_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise FieldError(f"expected a positive number, got {value!r}")
    return float(value)


def number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(f"expected a number, got {value!r}")
    return float(value)


def table(value: Any) -> tuple[tuple[int, ...], ...]:
    """A connection table: for each output map, the input maps it reads."""
    if not isinstance(value, (list, tuple)) or not value:
        raise FieldError("expected a list with, for each output map, a list of input maps")
    rows = []
    for row in value:
        if not isinstance(row, (list, tuple)) or not row:
            raise FieldError(f"each table row must be a non-empty list of input maps, got {row!r}")
        idx = tuple(nonneg_int(i) for i in row)
        if len(set(idx)) != len(idx):
            raise FieldError(f"table row {list(row)} repeats an input map")
        rows.append(idx)
    return tuple(rows)


def choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, str) and value.lower() in options:
            return value.lower()
        raise FieldError(f"expected one of {', '.join(options)}, got {value!r}")
    return check


def volume(value: Any) -> tuple[int, int, int]:
    """[C, H, W] of a reshape."""
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise FieldError(f"expected [channels, height, width], got {value!r}")
    return tuple(pos_int(v) for v in value)  # type: ignore[return-value]


def text_value(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError(f"expected a non-empty string, got {value!r}")
    return value


def any_value(value: Any) -> Any:
    return value


# Placeholders: the parser treats these keys itself (they hold nested layers).
def nested_layers(value: Any) -> Any:
    return value


def activation_ref(value: Any) -> Any:
    return value


def shortcut_ref(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class LayerType:
    """Everything the spec level knows about one layer type, declared once.

    ``role`` places the type in the flow of a network: ``spatial`` layers need
    (C, H, W) maps, ``flat`` ones flatten them (fc, rbf), ``elementwise`` ones
    transform values in place (no neurons, no fan-in), ``activation`` ones too
    and may also be named in another layer's ``activation:``, ``block`` ones
    hold nested layers, ``shape`` ones reshape without computing.  The other
    sets of types (elementwise, spatial, flat, monotone, output, aliases,
    default name prefixes) are derived from these rows.  The exact arithmetic
    of a type lives in :mod:`cnnkit.inspect` (``@rule``) and its module in
    :mod:`cnnkit.layers.build` (``FACTORIES``), keyed by the same name and
    checked against this table by a test that names any type missing a part:
    the spec level stays free of torch, as the inspector must.
    """

    name: str
    fields: dict[str, Field]
    role: str
    aliases: tuple[str, ...] = ()
    monotone: bool = False  # never decreasing: commutes with max pooling
    output: bool = False  # can be a network's output layer (resized by num_classes)
    prefix: str = ""  # default name prefix (pool1, norm1, ...); the type name when empty
    in_place: bool | None = None  # no neurons of its own, no fan-in; default: elementwise and activation roles
    doc: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"layer type {self.name!r}: role must be one of {ROLES}, got {self.role!r}")
        if self.in_place is None:
            object.__setattr__(self, "in_place", self.role in ("elementwise", "activation"))


ROLES = ("spatial", "flat", "elementwise", "activation", "block", "shape", "merge")

_CONV_COMMON = {
    "filters": Field(pos_int, required=True, doc="K, the number of filters"),
    "size": Field(size2, required=True, doc="F, the filter's spatial extent"),
    "stride": Field(size2, 1, doc="S"),
    "pad": Field(pad2, 0, doc="P: a number, [h, w], same, valid or full"),
    "bias": Field(boolean, True),
    "activation": Field(activation_ref, None),
    "batchnorm": Field(batchnorm_flag, False, doc="batch norm between the layer and its activation (or its eps)"),
    "floor": Field(boolean, False, doc="round a non-integer output size down"),
}

_POOL = {
    "size": Field(size2, (2, 2)),
    "stride": Field(size2, None, doc="defaults to size"),
    "pad": Field(pad2, 0),
    "global": Field(boolean, False, doc="pool the whole feature map"),
    "ceil_mode": Field(boolean, False, doc="round a non-integer output size up (Caffe)"),
    "floor": Field(boolean, False, doc="round a non-integer output size down"),
}

TYPES: dict[str, LayerType] = {t.name: t for t in (
    # ---- activations (also what ``activation:`` accepts)
    LayerType("relu", {}, "activation", monotone=True),
    LayerType("leaky_relu", {"slope": Field(pos_float, 0.01, doc="negative slope")}, "activation",
              aliases=("leakyrelu", "leaky-relu"), monotone=True),
    LayerType("elu", {"alpha": Field(pos_float, 1.0)}, "activation", monotone=True),
    LayerType("tanh", {}, "activation", monotone=True),
    LayerType("gelu", {}, "activation"),
    LayerType("scaled_tanh", {"amplitude": Field(pos_float, 1.7159), "slope": Field(pos_float, 2.0 / 3.0)},
              "activation", monotone=True, doc="LeCun 1998: f(a) = A tanh(S a)"),
    LayerType("sigmoid", {}, "activation", monotone=True),
    LayerType("maxout", {"pieces": Field(pos_int, 2, doc="units pooled by each max")}, "activation",
              in_place=False, doc="creates neurons: its output has 1/pieces of the channels"),
    LayerType("identity", {}, "activation", aliases=("none",), monotone=True),
    LayerType("softmax", {}, "activation", aliases=("soft-max",)),
    # ---- layers with weights
    LayerType("conv", {**_CONV_COMMON,
                       "groups": Field(pos_int, 1, doc="split channels into groups (AlexNet's 2 GPUs)"),
                       "table": Field(table, None, doc="partial connection table (LeNet-5 C3)")},
              "spatial", aliases=("convolution", "conv2d"), output=True),
    LayerType("locally_connected", dict(_CONV_COMMON), "spatial", aliases=("local", "locally-connected"),
              prefix="local"),
    LayerType("tiled_conv", {**_CONV_COMMON, "tile": Field(pos_int, 2, doc="weights repeat every k positions")},
              "spatial", aliases=("tiled",), prefix="tiled"),
    LayerType("maxpool", dict(_POOL), "spatial", aliases=("max_pool", "maxpooling", "pool"), prefix="pool"),
    LayerType("avgpool", dict(_POOL), "spatial", aliases=("avg_pool", "average_pool"), prefix="pool"),
    LayerType("subsample", {"size": Field(size2, (2, 2)), "stride": Field(size2, None),
                            "activation": Field(activation_ref, None), "floor": Field(boolean, False)},
              "spatial", prefix="pool", doc="LeNet 1998 S-layers: a*sum(window)+b per map"),
    LayerType("fc", {"units": Field(pos_int, required=True), "bias": Field(boolean, True),
                     "activation": Field(activation_ref, None), "batchnorm": Field(batchnorm_flag, False)},
              "flat", aliases=("dense", "linear", "fully_connected"), output=True),
    LayerType("rbf", {"units": Field(pos_int, required=True),
                      "seed": Field(nonneg_int, 0, doc="seed of the fixed +-1 centres")},
              "flat", aliases=("gaussian",), output=True, doc="LeNet 1998 output: Euclidean RBF units"),
    # ---- text and sequences: token ids (1 x 1 x L) in, feature maps of one row (C x 1 x L) through
    LayerType("embedding", {"dim": Field(pos_int, required=True, doc="D, numbers per word"),
                            "vocab": Field(pos_int, 20000, doc="words (set from the data's vocabulary when trained)"),
                            "vectors": Field(text_value, None, doc="start from a word2vec text/binary file"),
                            "freeze": Field(boolean, False, doc="keep the vectors fixed (Kim's CNN-static)"),
                            "channels": Field(choice("1", "2"), "1",
                                              doc="2: a fixed and a fine-tuned copy (Kim's multichannel)")},
              "spatial", aliases=("embed", "word_embedding"), prefix="embed",
              doc="token ids -> D x 1 x L maps; <pad> stays a zero vector"),
    LayerType("conv1d", {**_CONV_COMMON, "size": Field(pos_int, required=True, doc="h, the words a filter spans"),
                         "stride": Field(pos_int, 1), "pad": Field(nonneg_int, 0)},
              "spatial", aliases=("convolution1d", "temporal_conv"), prefix="conv",
              doc="a conv over the sequence: filters span all channels and h positions"),
    LayerType("maxpool1d", {"size": Field(pos_int, 2), "stride": Field(pos_int, None, doc="defaults to size"),
                            "global": Field(boolean, False, doc="max over time: the whole sequence"),
                            "floor": Field(boolean, False)},
              "spatial", aliases=("max_pool1d",), prefix="pool"),
    *(LayerType(kind, {"hidden": Field(pos_int, required=True, doc="H, the hidden state's size"),
                       "layers": Field(pos_int, 1, doc="stacked recurrent layers"),
                       "bidirectional": Field(boolean, False),
                       "output": Field(choice("last", "sequence"), "last",
                                       doc="last: the final hidden state; sequence: every step's"),
                       "dropout": Field(probability, 0.0, doc="between stacked layers")},
                "spatial", prefix=kind, doc=doc)
      for kind, doc in (("rnn", "Elman RNN: h_t = tanh(U x_t + W h_(t-1) + b)"),
                        ("lstm", "LSTM: input, forget and output gates, cell and hidden state"),
                        ("gru", "GRU: update and reset gates"))),
    # ---- decoders (autoencoders, generators)
    LayerType("conv_transpose", {"filters": Field(pos_int, required=True, doc="K, output maps"),
                                 "size": Field(size2, required=True, doc="F"),
                                 "stride": Field(size2, 1, doc="S: the upsampling factor"),
                                 "pad": Field(_pair_nonneg, 0, doc="P: cropped from each side of the output"),
                                 "output_padding": Field(_pair_nonneg, 0, doc="extra rows/columns at the end"),
                                 "groups": Field(pos_int, 1),
                                 "bias": Field(boolean, True),
                                 "activation": Field(activation_ref, None),
                                 "batchnorm": Field(batchnorm_flag, False)},
              "spatial", aliases=("deconv", "convtranspose", "conv_transpose2d", "transposed_conv"),
              prefix="deconv", doc="output (W-1)S - 2P + F + output_padding"),
    LayerType("upsample", {"scale": Field(size2, 2, doc="factor per axis"),
                           "mode": Field(choice("nearest", "bilinear"), "nearest")},
              "spatial", aliases=("upsampling", "unpool"), prefix="up"),
    LayerType("reparameterize", {"latent": Field(pos_int, required=True, doc="Z, the latent code's size")},
              "flat", aliases=("sample_latent", "latent_sample"), prefix="z",
              doc="VAE: reads 2Z numbers (mu, log sigma^2), outputs z = mu + sigma * eps (the mean at inference)"),
    LayerType("reshape", {"shape": Field(volume, required=True, doc="[C, H, W], the same number of values")},
              "shape", aliases=("unflatten", "view"), in_place=True),
    # ---- in place
    LayerType("flatten", {}, "flat", in_place=True),
    LayerType("dropout", {"p": Field(probability, 0.5)}, "elementwise"),
    LayerType("scale", {"factor": Field(number, required=True,
                                        doc="multiply every value by this (airbench: 1/9 on the logits)")},
              "elementwise"),
    LayerType("batchnorm", {"eps": Field(pos_float, 1e-5), "momentum": Field(probability, 0.1)}, "elementwise",
              aliases=("bn", "batch_norm"), prefix="bn"),
    LayerType("lrn", {"size": Field(pos_int, 5, doc="n, adjacent maps summed over"), "alpha": Field(pos_float, 1e-4),
                      "beta": Field(pos_float, 0.75), "k": Field(number, 2.0)},
              "spatial", aliases=("norm", "local_response_norm"), prefix="norm", in_place=True),
    # ---- merges (graph specs): several inputs, one output
    LayerType("concat", {}, "merge", aliases=("concatenate",), in_place=True,
              doc="stack the inputs' channels (maps of one size) or join vectors"),
    LayerType("add", {}, "merge", aliases=("sum",), in_place=True, doc="element-wise sum of equal shapes"),
    LayerType("multiply", {}, "merge", aliases=("mul", "product"), in_place=True,
              doc="element-wise product of equal shapes"),
    # ---- blocks
    LayerType("inception", {"branches": Field(nested_layers, required=True, doc="list of layer lists")}, "block"),
    LayerType("residual", {"body": Field(nested_layers, required=True),
                           "shortcut": Field(shortcut_ref, "identity", doc="identity, pad, or a list of layers"),
                           "activation": Field(activation_ref, "relu")}, "block"),
)}

#: derived views of the table above
LAYER_TYPES: dict[str, dict[str, Field]] = {n: t.fields for n, t in TYPES.items()}
ACTIVATIONS: dict[str, dict[str, Field]] = {n: t.fields for n, t in TYPES.items() if t.role == "activation"}
TYPE_ALIASES: dict[str, str] = {a: t.name for t in TYPES.values() for a in t.aliases}
#: Layers that only transform values in place: no neurons of their own, no fan-in.
ELEMENTWISE = frozenset(n for n, t in TYPES.items() if t.in_place)
#: Layers that need a spatial (C, H, W) input; after a flat layer the data is a vector.
SPATIAL = frozenset(n for n, t in TYPES.items() if t.role in ("spatial", "block"))
FLAT = frozenset(n for n, t in TYPES.items() if t.role == "flat")
RESHAPE = frozenset(n for n, t in TYPES.items() if t.role == "shape")
MERGE = frozenset(n for n, t in TYPES.items() if t.role == "merge")
MONOTONE = frozenset(n for n, t in TYPES.items() if t.monotone)
OUTPUT_TYPES = frozenset(n for n, t in TYPES.items() if t.output)
NAME_PREFIX = {n: t.prefix or n for n, t in TYPES.items()}


def canonical_type(name: Any, where: str) -> str:
    if not isinstance(name, str):
        raise SpecError(f"{where}: 'type' must be a string, got {name!r}")
    key = name.strip().lower()
    key = TYPE_ALIASES.get(key, key)
    if key not in LAYER_TYPES:
        raise SpecError(f"{where}: unknown layer type {name!r}{suggest(name, LAYER_TYPES)}; "
                        f"accepted: {', '.join(sorted(LAYER_TYPES))}")
    return key


def suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word).lower(), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
