"""cnnkit: define, inspect, train, evaluate and transfer convolutional networks.

The top-level API::

    import cnnkit
    cnnkit.list_models()                    # the zoo
    s = cnnkit.summary("alexnet")           # exact per-layer arithmetic
    print(s); s.to_dict()
    net = cnnkit.build("lenet5")            # a torch.nn.Module
"""

from __future__ import annotations

from typing import Any

from cnnkit.errors import CnnkitError, GeometryError, SpecError
from cnnkit.inspect import Summary, summarize
from cnnkit.layers import CNN, build_from_spec, with_num_classes
from cnnkit.models import get_entry, list_models, register_model, resolve_spec
from cnnkit.spec import ModelSpec, parse_spec

__version__ = "0.1.0"


def build(model: Any, input_shape: Any = None, num_classes: int | None = None) -> CNN:
    """A ``torch.nn.Module`` for a zoo name, a spec file path, or spec data.

    ``input_shape`` (C, H, W) overrides the spec's input; ``num_classes``
    resizes the output layer.
    """
    spec = resolve_spec(model, input_shape)
    if num_classes is not None:
        spec = with_num_classes(spec, num_classes)
    return build_from_spec(spec)


def summary(model: Any, input_shape: Any = None) -> Summary:
    """Exact per-layer arithmetic (shapes, params, neurons, connections, MACs, RF)."""
    return summarize(resolve_spec(model, input_shape))


# Defined last: the names 'train' and 'evaluate' are also subpackages, already imported above.
from cnnkit.data import load_dataset  # noqa: E402
from cnnkit.evaluate.evaluation import evaluate, predict  # noqa: E402
from cnnkit.train import load, train  # noqa: E402

__all__ = [
    "CNN", "CnnkitError", "GeometryError", "ModelSpec", "SpecError", "Summary", "__version__", "build", "evaluate",
    "get_entry", "list_models", "load", "load_dataset", "parse_spec", "predict", "register_model", "resolve_spec",
    "summary", "train",
]
