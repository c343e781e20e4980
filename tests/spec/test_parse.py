"""Spec parsing: long form, shorthand, named paddings, and errors that point at the problem."""

import pytest
import torch

import cnnkit
from cnnkit.errors import SpecError
from cnnkit.spec import parse_spec, spec_to_data
from cnnkit.spec.parse import expand_shorthand

EXAMPLE = {
    "name": "example",
    "input": [3, 32, 32],
    "layers": [
        {"type": "conv", "filters": 6, "size": 5, "stride": 1, "pad": 0, "activation": "relu"},
        {"type": "maxpool", "size": 2, "stride": 2},
        {"type": "fc", "units": 10},
        {"type": "softmax"},
    ],
}


def test_long_form_example():
    spec = parse_spec(EXAMPLE)
    assert spec.input == (3, 32, 32)
    assert [layer.name for layer in spec.layers] == ["conv1", "pool1", "fc1", "softmax1"]
    conv = spec.layers[0]
    assert conv["size"] == (5, 5) and conv["stride"] == (1, 1) and conv["pad"] == (0, 0)
    assert conv["activation"].type == "relu"
    assert cnnkit.summary(EXAMPLE).output == (10, 1, 1)


def test_yaml_file(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("input: [1, 28, 28]\nlayers:\n  - conv5-8\n  - maxpool\n  - FC-10\n  - softmax\n")
    s = cnnkit.summary(str(path))
    assert s.name == "net"
    assert s.layers[0].output == (8, 28, 28)
    assert s.totals["params"] == 8 * 25 + 8 + 8 * 14 * 14 * 10 + 10


def test_shorthand_cells():
    assert expand_shorthand("conv3-64", False) == {"type": "conv", "size": [3, 3], "filters": 64, "stride": 1,
                                                    "pad": "same", "activation": "relu"}
    assert expand_shorthand("maxpool", False) == {"type": "maxpool", "size": 2, "stride": 2}
    assert expand_shorthand("maxpool3/2", False) == {"type": "maxpool", "size": 3, "stride": 2}
    assert expand_shorthand("FC-4096", False)["activation"] == "relu"
    assert expand_shorthand("FC-1000", True)["activation"] is None
    assert expand_shorthand("dropout0.3", False) == {"type": "dropout", "p": 0.3}
    assert expand_shorthand("soft-max", False) == {"type": "soft-max"}
    assert expand_shorthand("gap", False) == {"type": "avgpool", "global": True}


def test_named_paddings():
    def out(pad, size=3):
        return cnnkit.summary({"input": [1, 7, 7], "layers": [{"type": "conv", "filters": 1, "size": size,
                                                                  "pad": pad}]}).output
    assert out("same") == (1, 7, 7)
    assert out("valid") == (1, 5, 5)
    assert out("full") == (1, 9, 9)
    with pytest.raises(SpecError, match="odd filter size"):
        out("same", size=2)


def test_stride_that_does_not_fit_shows_arithmetic_and_fixes():
    spec = {"input": [1, 7, 7], "layers": [{"type": "conv", "filters": 1, "size": 3, "stride": 3}]}
    with pytest.raises(cnnkit.GeometryError) as err:
        cnnkit.summary(spec)
    msg = str(err.value)
    assert "layer 1 'conv1'" in msg
    assert "(7−3+0)/3+1 = 2.33" in msg
    assert "pad 1" in msg and "stride 1 or 2 or 4" in msg and "input size 6 or 9" in msg
    spec["layers"][0]["floor"] = True
    assert cnnkit.summary(spec).output == (1, 2, 2)


def test_ceil_mode_pooling_matches_pytorch():
    spec = {"input": [1, 6, 6], "layers": [{"type": "maxpool", "size": 3, "stride": 2, "ceil_mode": True}]}
    assert cnnkit.summary(spec).output == (1, 3, 3)
    assert cnnkit.build(spec)(torch.zeros(1, 1, 6, 6)).shape == (1, 9)


@pytest.mark.parametrize("layer, needle", [
    ({"type": "conv", "filter": 6, "size": 5}, "layer 1 (conv): unknown key 'filter' (did you mean 'filters'?)"),
    ({"type": "convv", "filters": 6, "size": 5}, "layer 1: unknown layer type 'convv' (did you mean 'conv'?)"),
    ({"type": "conv", "size": 5}, "layer 1 (conv): missing required key 'filters'"),
    ({"type": "conv", "filters": -3, "size": 5}, "key 'filters': expected a positive integer, got -3"),
    ({"type": "conv", "filters": 3, "size": 5, "activation": "rleu"}, "unknown activation 'rleu'"),
    ({"type": "dropout", "p": 1.5}, "probability"),
    ({"type": "conv", "filters": 3, "size": 5, "groups": 2}, "groups=2 must divide"),
    ({"type": "conv", "filters": 9999999, "size": 5}, "too large"),
])
def test_errors_name_layer_and_key(layer, needle):
    with pytest.raises(SpecError) as err:
        cnnkit.summary({"input": [3, 32, 32], "layers": [layer]})
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_key_lists_accepted_values():
    with pytest.raises(SpecError, match="accepted: activation, batchnorm, bias, filters, floor, groups, pad, size"):
        parse_spec({"input": [3, 8, 8], "layers": [{"type": "conv", "filters": 1, "size": 1, "colour": 1}]})


def test_round_trip_through_plain_data():
    for name in cnnkit.list_models():
        spec = cnnkit.resolve_spec(name)
        assert parse_spec(spec_to_data(spec)) == spec


def test_input_override_and_string_shapes():
    assert cnnkit.summary("lenet5", "1,32,32").input == (1, 32, 32)
    assert cnnkit.summary("lenet5", "1x28x28").input == (1, 28, 28)
    with pytest.raises(SpecError, match="C,H,W"):
        cnnkit.summary("lenet5", "1,a,28")


def test_conv_after_fc_is_refused():
    with pytest.raises(SpecError, match="needs a spatial input"):
        cnnkit.summary({"input": [1, 8, 8], "layers": ["FC-10", "conv3-4"]})
