"""Each layer type is one declaration (spec/schema.TYPES); its arithmetic and its module must exist."""

import pytest
import torch

from cnnkit.inspect.summary import RULES
from cnnkit.layers.build import ACTIVATION_FACTORIES, FACTORIES
from cnnkit.spec.schema import ELEMENTWISE, FLAT, MONOTONE, OUTPUT_TYPES, SPATIAL, TYPES


@pytest.mark.parametrize("name", sorted(TYPES))
def test_every_layer_type_has_its_arithmetic_and_its_module(name):
    t = TYPES[name]
    assert name in RULES, f"layer type {name!r} has no inspector rule (@rule in cnnkit/inspect/summary.py)"
    assert name in FACTORIES or name in ACTIVATION_FACTORIES, (
        f"layer type {name!r} has no module factory (FACTORIES in cnnkit/layers/build.py)")
    assert t.role and isinstance(t.fields, dict)


def test_derived_sets_follow_the_rows():
    assert {"relu", "tanh", "sigmoid", "identity"} <= MONOTONE and "maxout" not in MONOTONE
    assert FLAT == {"fc", "rbf", "flatten", "reparameterize"} and OUTPUT_TYPES == {"conv", "fc", "rbf"}
    assert "maxout" not in ELEMENTWISE and {"lrn", "flatten", "dropout"} <= ELEMENTWISE
    assert {"conv", "maxpool", "inception", "residual"} <= SPATIAL


@pytest.mark.parametrize("name", sorted(n for n, t in TYPES.items() if t.monotone))
def test_monotone_types_commute_with_max_pooling(name):
    from cnnkit.layers import get_activation

    act = get_activation(name)
    x = torch.randn(2, 3, 8, 8)
    pool = torch.nn.functional.max_pool2d
    torch.testing.assert_close(pool(act(x.clone()), 2), act(pool(x, 2)))
