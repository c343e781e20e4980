"""Decoder layers (conv_transpose, upsample, reshape): the inspector's arithmetic against PyTorch."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnkit
from cnnkit.errors import SpecError


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 9), f=st.integers(1, 5), s=st.integers(1, 3),
       p=st.integers(0, 2), extra=st.integers(0, 2), bias=st.booleans())
def test_conv_transpose_matches_pytorch(c, k, n, f, s, p, extra, bias):
    op = min(extra, s - 1)
    spec = {"input": [c, n, n], "layers": [{"type": "conv_transpose", "filters": k, "size": f, "stride": s,
                                            "pad": p, "output_padding": op, "bias": bias}]}
    out = (n - 1) * s - 2 * p + f + op
    if out < 1:
        with pytest.raises(SpecError):
            cnnkit.summary(spec)
        return
    layer = cnnkit.summary(spec).layers[0]
    ref = torch.nn.ConvTranspose2d(c, k, f, s, p, op, bias=bias)
    y = ref(torch.zeros(1, c, n, n))
    assert layer.output == tuple(y.shape[1:])
    assert layer.params == sum(t.numel() for t in ref.parameters())
    assert cnnkit.build(spec)(torch.zeros(2, c, n, n)).shape == (2, k * out * out)
    # every product that lands inside the output adds 1 when inputs and weights are all ones
    with torch.no_grad():
        ref.weight.fill_(1.0)
        ones = torch.nn.functional.conv_transpose2d(torch.ones(1, c, n, n), ref.weight, None, s, p, op)
    assert layer.macs == layer.connections == int(ones.sum())


@pytest.mark.parametrize("mode,reads", [("nearest", 1), ("bilinear", 4)])
def test_upsample(mode, reads):
    spec = {"input": [3, 5, 7], "layers": [{"type": "upsample", "scale": [2, 3], "mode": mode}]}
    layer = cnnkit.summary(spec).layers[0]
    y = torch.nn.Upsample(scale_factor=(2, 3), mode=mode)(torch.zeros(1, 3, 5, 7))
    assert layer.output == tuple(y.shape[1:]) == (3, 10, 21)
    assert layer.params == 0 and layer.connections == 3 * 10 * 21 * reads
    assert cnnkit.build(spec)(torch.zeros(2, 3, 5, 7)).shape == (2, 3 * 10 * 21)


def test_reshape_back_to_maps_and_its_errors():
    spec = {"input": [1, 8, 8], "layers": ["FC-48", {"type": "reshape", "shape": [3, 4, 4]}, "conv3-2"]}
    s = cnnkit.summary(spec)
    assert s.layers[1].output == (3, 4, 4) and s.output == (2, 4, 4)  # conv3-2: VGG shorthand, pad 1
    assert cnnkit.build(spec)(torch.zeros(5, 1, 8, 8)).shape == (5, 32)
    with pytest.raises(SpecError, match="48 values into 2x4x4 = 32"):
        cnnkit.summary({"input": [1, 8, 8], "layers": ["FC-48", {"type": "reshape", "shape": [2, 4, 4]}]})


def test_receptive_field_of_a_decoder_stays_whole_numbers():
    s = cnnkit.summary({"input": [1, 16, 16], "layers": [
        "conv3-4", "maxpool", {"type": "conv_transpose", "filters": 4, "size": 2, "stride": 2},
        {"type": "upsample", "scale": 2, "mode": "bilinear"}, "conv3-1"]})
    assert [layer.receptive_field for layer in s.layers] == [3, 4, 4, 5, 6]
