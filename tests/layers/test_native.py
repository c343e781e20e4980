"""The native 2x2 max-pooling kernel: bit-identical to PyTorch's, and a silent fallback where it cannot build."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnkit
from cnnkit.layers import Conv2d, MaxPool2d, native
from cnnkit.layers.native import ops

needs_compiler = pytest.mark.skipif(native._compiler() is None, reason="no C compiler on this machine")


@pytest.fixture
def fresh_library():
    """Forget the loaded library around a test that changes how it is found."""
    native.library.cache_clear()
    yield
    native.library.cache_clear()


def _both(x: torch.Tensor, pool: torch.nn.Module):
    """Output and input gradient of ``pool`` and of F.max_pool2d on the same input and upstream gradient."""
    results = []
    for f in (pool, lambda t: F.max_pool2d(t, 2)):
        xi = x.detach().clone().requires_grad_()
        out = f(xi)
        out.backward(torch.arange(out.numel(), dtype=out.dtype).reshape(out.shape).contiguous(
            memory_format=torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else
            torch.contiguous_format))
        results.append((out.detach(), xi.grad))
    return results


def _assert_identical(a, b):
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


@needs_compiler
@pytest.mark.parametrize("channels", [1, 3, 6, 16, 20])  # specialised counts and the generic loop
@pytest.mark.parametrize("channels_last", [True, False])
def test_kernel_matches_pytorch_with_ties_and_nans(channels, channels_last, monkeypatch):
    torch.manual_seed(channels)
    x = torch.randint(-3, 3, (3, channels, 8, 12)).float()  # few distinct values: many ties
    x[0, 0, 2, 3] = float("nan")
    x[1, -1, 5, 5] = float("nan")
    x[1, -1, 4, 4] = float("nan")  # two NaNs in one window: the last one wins, as in ATen
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    pool = MaxPool2d(2)
    assert pool._native(x) == (channels < 8 or not channels_last)
    monkeypatch.setattr(MaxPool2d, "_native", lambda self, x: True)  # the kernel itself, for every count
    (out, grad), (ref_out, ref_grad) = _both(x, pool)
    _assert_identical(out, ref_out)
    _assert_identical(grad, ref_grad)
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last or channels == 1
    assert grad.is_contiguous(memory_format=torch.channels_last) == channels_last or channels == 1


@needs_compiler
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 7), h=st.integers(1, 5), w=st.integers(1, 5),
       values=st.integers(1, 6), channels_last=st.booleans(), seed=st.integers(0, 2**16))
def test_kernel_matches_pytorch_on_random_shapes(n, c, h, w, values, channels_last, seed):
    assert MaxPool2d(2)._native(torch.empty(n, c, 2 * h, 2 * w))
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, values, (n, c, 2 * h, 2 * w), generator=g).float() - values / 2
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    (out, grad), (ref_out, ref_grad) = _both(x, MaxPool2d(2))
    _assert_identical(out, ref_out)
    _assert_identical(grad, ref_grad)
    assert grad.sum() == ref_grad.sum()  # every upstream gradient lands exactly once


@needs_compiler
def test_other_windows_and_inputs_use_pytorch():
    x = torch.randn(2, 3, 8, 8)
    assert not MaxPool2d(3, 2)._native(x)
    assert not MaxPool2d(2, 1)._native(x)
    assert not MaxPool2d(2, padding=1)._native(x)
    assert not MaxPool2d(2)._native(torch.randn(2, 3, 7, 8))  # odd height: floor mode stays ATen's
    assert not MaxPool2d(2)._native(x.double())
    strided = torch.randn(2, 3, 8, 16)[:, :, :, ::2].transpose(2, 3)  # neither layout: copied, then pooled
    (out, grad), (ref_out, ref_grad) = _both(strided, MaxPool2d(2))
    _assert_identical(out, ref_out)
    _assert_identical(grad, ref_grad)
    odd = torch.randn(2, 3, 7, 7)
    _assert_identical(MaxPool2d(3, 2)(odd), F.max_pool2d(odd, 3, 2))
    _assert_identical(MaxPool2d(2, ceil_mode=True)(odd), F.max_pool2d(odd, 2, ceil_mode=True))


@needs_compiler
def test_lenet5_trains_identically_with_and_without_the_kernel(fresh_library, monkeypatch):
    """Two training steps of LeNet-5 (channels-last, as the fast recipe) give the same weights bit for bit."""
    monkeypatch.setattr(Conv2d, "NATIVE_MAX_CHANNEL_PAIRS", 0)  # oneDNN convolutions both times: only pooling differs
    x = torch.randn(16, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (16,))
    weights = []
    for flag in ("1", "0"):
        monkeypatch.setenv("CNNKIT_NATIVE", flag)
        native.library.cache_clear()
        assert (native.library() is not None) == (flag == "1")
        torch.manual_seed(0)
        net = cnnkit.build("lenet5").to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
        weights.append(net.state_dict())
        with torch.inference_mode():  # evaluation path: no autograd graph
            assert net.eval()(x).shape == (16, 10)
    for k in weights[0]:
        _assert_identical(weights[0][k], weights[1][k])


def test_no_compiler_or_a_failing_build_falls_back(fresh_library, monkeypatch, tmp_path):
    monkeypatch.setenv("CNNKIT_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    monkeypatch.setattr(native, "_compiler", lambda: "false")
    assert native.library() is None
    assert not list((tmp_path / "native").glob("*.so"))  # nothing half-written left behind
    x = torch.randn(2, 6, 4, 4, requires_grad=True)
    pool = MaxPool2d(2)
    assert not pool._native(x)
    _assert_identical(pool(x), F.max_pool2d(x, 2))


@needs_compiler
def test_library_is_cached_on_disk_and_reused(fresh_library, monkeypatch, tmp_path):
    monkeypatch.setenv("CNNKIT_CACHE", str(tmp_path))
    assert native.needs_build()  # the trainer then says it is compiling
    assert native.library() is not None
    assert not native.needs_build()
    built = list((tmp_path / "native").glob("cnnkit-*.so"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    native.library.cache_clear()
    monkeypatch.setattr(native, "_build", lambda cc, target: pytest.fail("rebuilt a cached library"))
    assert native.library() is not None
    assert built[0].stat().st_mtime_ns == stamp


def test_built_models_use_the_native_pool_class():
    net = cnnkit.build("lenet5")
    pools = [m for m in net.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 2 and all(isinstance(m, MaxPool2d) for m in pools)


@needs_compiler
@pytest.mark.parametrize("channels_last", [True, False])
def test_double_backward_matches_pytorch(channels_last):
    """create_graph=True through the kernel (gradient penalties, Hessian-vector products) works as ATen's."""
    torch.manual_seed(0)
    x = torch.randint(-2, 3, (2, 3, 4, 6)).float()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    results = []
    for pool in (MaxPool2d(2), lambda t: F.max_pool2d(t, 2)):
        xi = x.clone().requires_grad_()
        out = pool(xi)
        (g,) = torch.autograd.grad((out ** 3).sum(), xi, create_graph=True)
        (h,) = torch.autograd.grad((g * torch.arange(g.numel()).view_as(g)).sum(), xi)
        results.append((g.detach(), h))
    assert MaxPool2d(2)._native(x)
    for a, b in zip(*results):
        _assert_identical(a, b)


@needs_compiler
@pytest.mark.parametrize("batch", [3, 8, 24, 128])  # the 8-lane path needs a multiple of 8 above 16
def test_batch_last_maps_pool_identically(batch):
    """Maps stored (C, H, W, N), as the native convolutions write them, pool in place and bit for bit."""
    torch.manual_seed(batch)
    x = torch.randint(-3, 3, (batch, 6, 8, 10)).float()
    x[0, 1, 2, 2] = float("nan")
    stored = x.permute(1, 2, 3, 0).contiguous().permute(3, 0, 1, 2)
    assert ops.is_batch_last(stored) and MaxPool2d(2)._native(stored)
    (out, grad), (ref_out, ref_grad) = _both(stored, MaxPool2d(2))
    _assert_identical(out, ref_out)
    _assert_identical(grad, ref_grad)
    assert ops.is_batch_last(out) and ops.is_batch_last(grad)
    out.relu_()  # a new tensor, not a view: in-place activations after pooling are allowed
