"""Inspector arithmetic against hand-computed figures from the lecture notes."""

import cnnkit
from cnnkit.inspect import output_size


def one(layer, shape=(3, 32, 32)):
    return cnnkit.summary({"input": list(shape), "layers": [layer]}).layers[0]


def test_slide_example_456_weights_352800_connections():
    s = one({"type": "conv", "filters": 6, "size": 5})
    assert s.output == (6, 28, 28)
    assert (s.weights, s.biases, s.params) == (450, 6, 456)
    assert s.connections == 352_800 and s.macs == 352_800
    assert s.neurons == 6 * 28 * 28


def test_output_size_formula():
    assert output_size(227, 11, 0, 4) == 55
    assert output_size(7, 3, 1, 1) == 7
    assert output_size(7, 3, 0, 2) == 3
    assert output_size(112, 3, 1, 2, rounding="floor") == 56
    assert output_size(55, 3, 0, 2) == 27


def test_receptive_field_grows_with_jump():
    s = cnnkit.summary({"input": [1, 32, 32], "layers": ["conv3-4", "maxpool", "conv3-4", "conv3-4"]})
    assert [layer.receptive_field for layer in s.layers] == [3, 4, 8, 12]


def test_pooling_connections_and_no_params():
    s = one({"type": "maxpool", "size": 2})
    assert (s.params, s.neurons, s.connections, s.macs) == (0, 3 * 16 * 16, 3 * 16 * 16 * 4, 0)


def test_grouped_conv_halves_fan_in():
    s = one({"type": "conv", "filters": 8, "size": 3, "pad": 1, "groups": 2}, (4, 8, 8))
    assert s.weights == 8 * 2 * 9
    assert s.connections == 8 * 64 * 2 * 9


def test_locally_connected_and_tiled_counts():
    lc = one({"type": "locally_connected", "filters": 4, "size": 3}, (2, 6, 6))
    assert lc.output == (4, 4, 4)
    assert lc.weights == 16 * 4 * 2 * 9 and lc.biases == 16 * 4
    tc = one({"type": "tiled_conv", "filters": 4, "size": 3, "tile": 2}, (2, 6, 6))
    assert tc.weights == 4 * 4 * 2 * 9 and tc.biases == 4 * 4
    assert tc.connections == lc.connections == 4 * 16 * 18


def test_elementwise_layers_add_no_neurons():
    s = cnnkit.summary({"input": [3, 8, 8], "layers": ["conv3-4", "bn", "relu", "dropout", "LRN", "softmax"]})
    assert [layer.neurons for layer in s.layers] == [256, 0, 0, 0, 0, 0]
    assert s.layers[1].params == 8  # gamma and beta
    assert s.totals["neurons"] == 3 * 64 + 256


def test_maxout_divides_channels():
    s = cnnkit.summary({"input": [3, 8, 8], "layers": [
        {"type": "conv", "filters": 8, "size": 3, "pad": 1, "activation": {"type": "maxout", "pieces": 4}}]})
    assert s.layers[0].output == (2, 8, 8)


def test_inception_and_residual_totals():
    spec = {"input": [8, 8, 8], "layers": [
        {"type": "inception", "branches": [["conv1-4"], ["conv1-2", "conv3-6"], ["maxpool3/1", "conv1-2"]]}]}
    try:
        cnnkit.summary(spec)
        raise AssertionError("unpadded 3x3 pool branch must not concatenate with 8x8 branches")
    except cnnkit.SpecError as e:
        assert "same spatial size" in str(e)
    spec["layers"][0]["branches"][2] = [{"type": "maxpool", "size": 3, "stride": 1, "pad": 1}, "conv1-2"]
    s = cnnkit.summary(spec).layers[0]
    assert s.output == (12, 8, 8)
    assert s.params == (8 * 4 + 4) + (8 * 2 + 2) + (2 * 9 * 6 + 6) + (8 * 2 + 2)
    res = cnnkit.summary({"input": [4, 8, 8], "layers": [
        {"type": "residual", "body": ["conv3-8"], "shortcut": [{"type": "conv", "filters": 8, "size": 1}]}]})
    assert res.layers[0].params == (4 * 9 * 8 + 8) + (4 * 8 + 8)


def test_json_schema_of_summary():
    d = cnnkit.summary("lenet5").to_dict()
    assert set(d) == {"name", "input", "layers", "totals"}
    assert set(d["totals"]) >= {"params", "neurons", "connections", "macs"}
    keys = {"name", "type", "output", "weights", "biases", "params", "neurons", "connections", "macs",
            "receptive_field"}
    assert all(keys <= set(layer) for layer in d["layers"])
    assert d["totals"]["params"] == 61_706


def test_text_table_reads_like_the_slides():
    text = str(cnnkit.summary("alexnet"))
    assert "96x55x55" in text and "60,965,224" in text and "conv 11x11, stride 4, pad 0, 96 filters" in text
