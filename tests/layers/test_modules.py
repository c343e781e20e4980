"""Layers PyTorch lacks, checked against PyTorch's own convolution where they coincide."""

import pytest
import torch
import torch.nn.functional as F

import cnnkit
from cnnkit.layers import LocallyConnected2d, Maxout, Subsample2d, TableConv2d, TiledConv2d


def test_locally_connected_with_equal_banks_is_a_convolution():
    torch.manual_seed(0)
    lc = LocallyConnected2d(2, 3, (3, 3), (1, 1), (1, 1), (5, 5))
    w = torch.randn(3, 2, 3, 3)
    b = torch.randn(3)
    with torch.no_grad():
        lc.weight.copy_(w.reshape(1, 3, -1).expand_as(lc.weight))
        lc.bias.copy_(b.expand_as(lc.bias))
    x = torch.randn(4, 2, 5, 5)
    torch.testing.assert_close(lc(x), F.conv2d(x, w, b, padding=1))


def test_tiled_conv_tile1_is_conv_and_tiles_repeat():
    torch.manual_seed(0)
    t = TiledConv2d(2, 3, (3, 3), (1, 1), (0, 0), (6, 6), tile=1)
    x = torch.randn(2, 2, 6, 6)
    torch.testing.assert_close(t(x), F.conv2d(x, t.weight[0].reshape(3, 2, 3, 3), t.bias[0]))
    t2 = TiledConv2d(1, 1, (1, 1), (1, 1), (0, 0), (4, 4), tile=2, bias=False)
    with torch.no_grad():
        t2.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]).view(4, 1, 1))
    out = t2(torch.ones(1, 1, 4, 4))[0, 0]
    assert out.tolist() == [[1, 2, 1, 2], [3, 4, 3, 4], [1, 2, 1, 2], [3, 4, 3, 4]]


def test_table_conv_full_table_is_conv_and_counts_links():
    torch.manual_seed(0)
    tc = TableConv2d(3, [[0, 1, 2], [0, 1, 2]], (3, 3))
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(tc(x), F.conv2d(x, tc.weight.view(2, 3, 3, 3), tc.bias))
    partial = TableConv2d(3, [[0], [1, 2]], (3, 3))
    assert partial.weight.numel() == 3 * 9
    dense = partial.dense_weight()
    assert dense[0, 1:].abs().sum() == 0 and dense[1, 0].abs().sum() == 0


def test_subsample_and_maxout():
    s = Subsample2d(2, (2, 2), (2, 2))
    with torch.no_grad():
        s.weight.copy_(torch.tensor([1.0, 2.0]))
        s.bias.copy_(torch.tensor([0.0, 1.0]))
    out = s(torch.ones(1, 2, 4, 4))
    assert out[0, 0].unique().tolist() == [4.0] and out[0, 1].unique().tolist() == [9.0]
    m = Maxout(2)
    assert m(torch.tensor([[1.0, 5.0, -1.0, -2.0]])).tolist() == [[5.0, -1.0]]


def test_activation_moved_after_max_pooling_is_exact():
    import cnnkit

    base = {"input": [3, 12, 12], "layers": [
        {"type": "conv", "filters": 4, "size": 3, "pad": 1, "batchnorm": True, "activation": "leaky_relu"},
        {"type": "maxpool", "size": 3, "stride": 2, "ceil_mode": True}, "FC-5"]}
    plain = {"input": [3, 12, 12], "layers": [
        {"type": "conv", "filters": 4, "size": 3, "pad": 1, "batchnorm": True}, {"type": "leaky_relu"},
        {"type": "maxpool", "size": 3, "stride": 2, "ceil_mode": True}, "FC-5"]}
    torch.manual_seed(0)
    a = cnnkit.build(base).train()
    b = cnnkit.build(plain).train()
    assert a.features.deferred == {0}  # the optimisation takes place...
    assert isinstance(a.features.conv1.act, torch.nn.LeakyReLU)  # ...while conv1 still ends in its activation
    with torch.no_grad():  # same parameters, in the same order
        for pa, pb in zip(a.parameters(), b.parameters()):
            pb.copy_(pa)
    x = torch.randn(4, 3, 12, 12)
    ya, yb = a(x), b(x)
    torch.testing.assert_close(ya, yb)
    ya.square().sum().backward()
    yb.square().sum().backward()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad)


def test_a_watched_layer_reads_post_activation_values_and_the_output_is_unchanged():
    import cnnkit

    net = cnnkit.build("lenet5").eval()
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        fast = net(x)
        seen = []
        hook = net.features.conv1.register_forward_hook(lambda m, i, o: seen.append(o.clone()))
        watched = net(x)
        hook.remove()
        expected = torch.relu(net.features.conv1.conv(x))
    assert torch.equal(fast, watched)
    torch.testing.assert_close(seen[0], expected)
    assert seen[0].min() >= 0
    assert "conv1.act after pool1" in repr(net)  # print(net) says what runs where, and why


def test_scale_layer_multiplies_and_counts_nothing():
    spec = {"input": [1, 4, 4], "layers": [{"type": "fc", "units": 3}, {"type": "scale", "factor": 0.25}]}
    m = cnnkit.build(spec)
    x = torch.randn(2, 1, 4, 4)
    fc = next(mod for mod in m.modules() if isinstance(mod, torch.nn.Linear))
    torch.testing.assert_close(m(x), 0.25 * fc(x.flatten(1)))
    s = cnnkit.summary(spec)
    assert s.layers[-1].params == 0 and "scale x0.25" in s.layers[-1].description


@pytest.mark.parametrize("size,c", [(5, 16), (3, 7), (4, 5), (5, 2), (1, 3)])
def test_local_response_norm_equals_pytorch(size, c):
    from cnnkit.layers.modules import LocalResponseNorm

    x = torch.randn(3, c, 6, 5) * 3
    ours = LocalResponseNorm(size, alpha=1e-3, beta=0.75, k=2.0)(x)
    assert torch.allclose(ours, torch.nn.LocalResponseNorm(size, alpha=1e-3, beta=0.75, k=2.0)(x), atol=1e-6)
