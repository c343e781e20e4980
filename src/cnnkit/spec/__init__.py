"""Declarative model specs: the architecture as data.

A spec is a YAML file or the same structure as Python data::

    name: example
    input: [3, 32, 32]
    layers:
      - {type: conv, filters: 6, size: 5, stride: 1, pad: 0, activation: relu}
      - {type: maxpool, size: 2, stride: 2}
      - {type: fc, units: 10}
      - {type: softmax}

Layers may also be written in the VGG table's shorthand (``conv3-64``,
``maxpool``, ``FC-4096``).  :func:`parse_spec` validates everything and returns
an immutable :class:`ModelSpec` that the inspector and the builder both read.
"""

from cnnkit.spec.parse import LayerSpec, ModelSpec, parse_spec, spec_to_data
from cnnkit.spec.schema import LAYER_TYPES, canonical_type

__all__ = ["LayerSpec", "ModelSpec", "parse_spec", "spec_to_data", "LAYER_TYPES", "canonical_type"]
