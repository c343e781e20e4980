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


def any_value(value: Any) -> Any:
    return value


# Placeholders: the parser treats these keys itself (they hold nested layers).
def nested_layers(value: Any) -> Any:
    return value


def activation_ref(value: Any) -> Any:
    return value


def shortcut_ref(value: Any) -> Any:
    return value


#: Activation layers.  Their names are also what ``activation:`` accepts.
ACTIVATIONS: dict[str, dict[str, Field]] = {
    "relu": {},
    "leaky_relu": {"slope": Field(pos_float, 0.01, doc="negative slope")},
    "elu": {"alpha": Field(pos_float, 1.0)},
    "tanh": {},
    "gelu": {},
    "scaled_tanh": {  # LeCun 1998: f(a) = A tanh(S a)
        "amplitude": Field(pos_float, 1.7159),
        "slope": Field(pos_float, 2.0 / 3.0),
    },
    "sigmoid": {},
    "maxout": {"pieces": Field(pos_int, 2, doc="units pooled by each max")},
    "identity": {},
    "softmax": {},
}

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

LAYER_TYPES: dict[str, dict[str, Field]] = {
    "conv": {
        **_CONV_COMMON,
        "groups": Field(pos_int, 1, doc="split channels into groups (AlexNet's 2 GPUs)"),
        "table": Field(table, None, doc="partial connection table (LeNet-5 C3)"),
    },
    "locally_connected": dict(_CONV_COMMON),
    "tiled_conv": {**_CONV_COMMON, "tile": Field(pos_int, 2, doc="weights repeat every k positions")},
    "maxpool": dict(_POOL),
    "avgpool": dict(_POOL),
    "subsample": {  # LeNet 1998 S-layers: a*sum(window)+b per map
        "size": Field(size2, (2, 2)),
        "stride": Field(size2, None),
        "activation": Field(activation_ref, None),
        "floor": Field(boolean, False),
    },
    "fc": {
        "units": Field(pos_int, required=True),
        "bias": Field(boolean, True),
        "activation": Field(activation_ref, None),
        "batchnorm": Field(batchnorm_flag, False),
    },
    "rbf": {  # LeNet 1998 output: Euclidean RBF units with fixed centres
        "units": Field(pos_int, required=True),
        "seed": Field(nonneg_int, 0, doc="seed of the fixed +-1 centres"),
    },
    "flatten": {},
    "dropout": {"p": Field(probability, 0.5)},
    "scale": {"factor": Field(number, required=True, doc="multiply every value by this (airbench: 1/9 on the logits)")},
    "batchnorm": {"eps": Field(pos_float, 1e-5), "momentum": Field(probability, 0.1)},
    "lrn": {
        "size": Field(pos_int, 5, doc="n, adjacent maps summed over"),
        "alpha": Field(pos_float, 1e-4),
        "beta": Field(pos_float, 0.75),
        "k": Field(number, 2.0),
    },
    "inception": {"branches": Field(nested_layers, required=True, doc="list of layer lists")},
    "residual": {
        "body": Field(nested_layers, required=True),
        "shortcut": Field(shortcut_ref, "identity", doc="identity, pad, or a list of layers"),
        "activation": Field(activation_ref, "relu"),
    },
    **ACTIVATIONS,
}

#: Other spellings users reach for, mapped to the canonical type.
TYPE_ALIASES = {
    "convolution": "conv",
    "conv2d": "conv",
    "max_pool": "maxpool",
    "maxpooling": "maxpool",
    "pool": "maxpool",
    "avg_pool": "avgpool",
    "average_pool": "avgpool",
    "dense": "fc",
    "linear": "fc",
    "fully_connected": "fc",
    "norm": "lrn",
    "local_response_norm": "lrn",
    "bn": "batchnorm",
    "batch_norm": "batchnorm",
    "local": "locally_connected",
    "locally-connected": "locally_connected",
    "tiled": "tiled_conv",
    "leakyrelu": "leaky_relu",
    "leaky-relu": "leaky_relu",
    "soft-max": "softmax",
    "gaussian": "rbf",
    "none": "identity",
}

#: Layers that only transform values in place: no neurons of their own, no fan-in.
ELEMENTWISE = frozenset(set(ACTIVATIONS) - {"maxout"} | {"dropout", "batchnorm", "lrn", "flatten", "scale"})


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
