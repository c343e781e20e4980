"""The native batch-vectorised convolution: PyTorch's results up to rounding, in and out of any layout."""

import subprocess

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnkit
from cnnkit.layers import Conv2d, native
from cnnkit.layers.native import ops

needs_compiler = pytest.mark.skipif(native._compiler() is None, reason="no C compiler on this machine")
TOL = {"rtol": 1e-5, "atol": 1e-5}


def _compare(x, conv: torch.nn.Conv2d, upstream_seed: int = 0):
    """Output and gradients (input, weight, bias) of ``conv`` and of ``F.conv2d`` with the same parameters."""
    results = []
    for native_path in (True, False):
        xi = x.detach().clone().requires_grad_()
        conv.zero_grad()
        out = conv(xi) if native_path else F.conv2d(xi, conv.weight, conv.bias, conv.stride, conv.padding)
        g = torch.randn(out.shape, generator=torch.Generator().manual_seed(upstream_seed))
        out.backward(g)
        results.append((out.detach(), xi.grad, conv.weight.grad.clone(),
                        None if conv.bias is None else conv.bias.grad.clone()))
    return results


@needs_compiler
@settings(max_examples=40, deadline=None)
@given(n=st.sampled_from([8, 16, 24, 40]), c=st.integers(1, 8), k=st.integers(1, 16), f=st.integers(1, 7),
       stride=st.integers(1, 3), pad=st.integers(0, 3), extra=st.integers(0, 6), bias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_matches_pytorch_on_random_geometry(n, c, k, f, stride, pad, extra, bias, seed):
    size = f + extra
    torch.manual_seed(seed)
    conv = Conv2d(c, k, f, stride, pad, bias=bias)
    x = torch.randn(n, c, size, size + 1)
    assert conv._native(x)
    (out, gx, gw, gb), (ref_out, ref_gx, ref_gw, ref_gb) = _compare(x, conv, seed)
    assert ops.is_batch_last(out) or n == 1
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(gx, ref_gx, **TOL)
    terms = n * out.shape[2] * out.shape[3]  # the weight and bias gradients sum this many products each
    torch.testing.assert_close(gw, ref_gw, rtol=1e-4, atol=1e-6 * terms)
    if bias:
        torch.testing.assert_close(gb, ref_gb, rtol=1e-4, atol=1e-6 * terms)


@needs_compiler
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "batch_last"])
def test_every_input_layout_gives_the_same_result(layout):
    torch.manual_seed(0)
    conv = Conv2d(6, 16, 5)
    x = torch.randn(16, 6, 14, 14)
    stored = {"contiguous": x, "channels_last": x.contiguous(memory_format=torch.channels_last),
              "batch_last": x.permute(1, 2, 3, 0).contiguous().permute(3, 0, 1, 2)}[layout]
    assert torch.equal(stored, x)
    (out, gx, gw, _), (ref_out, ref_gx, ref_gw, _) = _compare(stored, conv)
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(gx, ref_gx, **TOL)
    torch.testing.assert_close(gw, ref_gw, rtol=1e-4, atol=1e-4)


@needs_compiler
def test_results_do_not_depend_on_the_thread_count():
    torch.manual_seed(0)
    conv = Conv2d(1, 6, 5, padding=2)
    x = torch.randn(64, 1, 28, 28)
    threads = torch.get_num_threads()
    runs = []
    try:
        for t in (1, max(2, threads)):
            torch.set_num_threads(t)
            runs.append(_compare(x, conv)[0])
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*runs):
        assert torch.equal(a, b)


@needs_compiler
def test_which_convolutions_run_natively():
    x = torch.randn(16, 3, 12, 12)
    assert Conv2d(3, 8, 3)._native(x)
    assert not Conv2d(3, 8, 3)._native(torch.randn(12, 3, 12, 12))  # batch not a multiple of 8
    assert not Conv2d(3, 8, 3)._native(x.double())
    assert not Conv2d(3, 8, 9)._native(torch.randn(16, 3, 20, 20))  # filters over 7x7
    assert not Conv2d(3, 8, 3)._native(torch.randn(8, 3, 96, 96))  # large maps
    assert not Conv2d(3, 9, 3, groups=3)._native(x)
    assert not Conv2d(3, 8, 3, dilation=2)._native(x)
    assert not Conv2d(3, 8, 3, padding="same")._native(x)
    assert not Conv2d(3, 8, (3, 1))._native(x)
    assert Conv2d(8, 16, 3)._native(torch.randn(16, 8, 8, 8))
    assert not Conv2d(8, 32, 3)._native(torch.randn(16, 8, 8, 8))  # oneDNN's ground: more channels
    assert not Conv2d(64, 64, 3)._native(torch.randn(16, 64, 8, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not Conv2d(3, 8, 3)._native(x)
    for bad in (Conv2d(3, 9, 3, groups=3), Conv2d(3, 8, 3, padding="same")):  # PyTorch's path still works
        assert bad(x).shape[:2] == (16, bad.out_channels)


@needs_compiler
def test_double_backward_matches_pytorch():
    torch.manual_seed(0)
    conv = Conv2d(2, 4, 3, padding=1)
    x = torch.randn(8, 2, 6, 6)
    results = []
    for native_path in (True, False):
        xi = x.clone().requires_grad_()
        out = conv(xi) if native_path else F.conv2d(xi, conv.weight, conv.bias, 1, 1)
        (g,) = torch.autograd.grad((out ** 2).sum(), xi, create_graph=True)
        hw = torch.autograd.grad(g.pow(2).sum(), (xi, conv.weight))
        results.append((g.detach(), *hw))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@needs_compiler
def test_lenet5_trains_the_same_with_and_without_native_kernels(monkeypatch, mnist):
    """Five SGD steps of LeNet-5 on a real MNIST slice: the same weights up to float rounding."""
    data = mnist["train"]
    x = (data.images[:64].float() / 255).contiguous(memory_format=torch.channels_last)
    y = data.labels[:64]
    results = []
    for flag in ("1", "0"):
        monkeypatch.setenv("CNNKIT_NATIVE", flag)
        native.library.cache_clear()
        torch.manual_seed(0)
        net = cnnkit.build("lenet5").to(memory_format=torch.channels_last)
        assert any(isinstance(m, Conv2d) and m._native(x) for m in net.modules()) == (flag == "1")
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        losses = []
        for _ in range(5):
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results.append((net.state_dict(), losses))
    native.library.cache_clear()
    (w1, l1), (w0, l0) = results
    assert l1[-1] < l1[0]  # it learns
    torch.testing.assert_close(l1, l0, rtol=1e-4, atol=1e-5)
    for key in w0:
        torch.testing.assert_close(w1[key], w0[key], rtol=1e-4, atol=1e-5)


@needs_compiler
def test_built_with_openmp_where_the_compiler_has_it(tmp_path):
    """A failing OpenMP build would silently cost half the speed on 2 cores: catch it here."""
    probe = tmp_path / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    has_openmp = subprocess.run([native._compiler(), "-fopenmp", "-o", str(tmp_path / "probe"), str(probe)],
                                capture_output=True).returncode == 0
    lib = native.library()
    assert lib is not None
    assert lib.cnnkit_openmp() == int(has_openmp)


def test_built_models_use_the_native_conv_class():
    net = cnnkit.build("lenet5")
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2 and all(isinstance(m, Conv2d) for m in convs)


@pytest.mark.parametrize("model, expected", [
    ("lenet5", [True, True]),  # conv -> 2x2 max pool -> ReLU: batch-last maps end to end
    ("cifar10-net", [True, True, True]),
    ("lenet5-1998", [False, False]),  # trainable subsampling would reorder the map
    ("resnet20", [False] * 19),  # batch norm after every convolution, residual blocks
])
def test_networks_keep_native_convolutions_where_a_pool_reads_their_maps(model, expected):
    net = cnnkit.build(model)
    allowed = [m.native_allowed for m in net.modules() if isinstance(m, Conv2d)]
    assert allowed[:len(expected)] == expected
    x = torch.randn(8, *net.input_shape)
    if not expected[0]:
        assert not any(m._native(x) for m in net.modules() if isinstance(m, Conv2d))


@needs_compiler
def test_traced_and_exported_graphs_record_pytorch_operators():
    net = cnnkit.build("lenet5").eval()
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        eager = net(x)
        traced = torch.jit.trace(net, x)
        graph = str(traced.inlined_graph)
        assert "PythonOp" not in graph and "aten::_convolution" in graph
        torch.testing.assert_close(traced(x), eager, rtol=1e-4, atol=1e-5)
    exported = torch.export.export(net, (x,))
    torch.testing.assert_close(exported.module()(x), eager, rtol=1e-4, atol=1e-5)


@needs_compiler
def test_torch_func_transforms_work_on_native_layers():
    """Per-sample gradients with torch.func (grad inside vmap) run through PyTorch's operators."""
    torch.manual_seed(0)
    net = cnnkit.build("lenet5")
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    params = {k: v.detach() for k, v in net.named_parameters()}

    def loss(p, xi, yi):
        out = torch.func.functional_call(net, p, (xi.unsqueeze(0),))
        return F.cross_entropy(out, yi.unsqueeze(0))

    per_sample = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(params, x, y)
    net.zero_grad()
    F.cross_entropy(net(x), y, reduction="sum").backward()  # the batch's gradient: native kernels, batch of 8
    weight = "features.conv1.conv.weight"
    torch.testing.assert_close(per_sample[weight].sum(0), dict(net.named_parameters())[weight].grad,
                               rtol=1e-4, atol=1e-5)
