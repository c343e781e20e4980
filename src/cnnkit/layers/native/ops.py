"""PyTorch operators backed by the C kernels, with their gradients (autograd Functions).

Layouts: a 4-D map (N, C, H, W) may be stored contiguously (NCHW),
channels-last (NHWC) or batch-last ((C, H, W, N): what :func:`conv2d`
returns, so that a following pooling, activation or convolution reads it
without a copy).  Every operator here accepts any layout; pooling keeps
its input's layout, the convolution returns maps and input gradients
batch-last.  PyTorch's own operators accept all three through strides, so a
model mixes them freely.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnnkit.layers.native import library


def is_batch_last(x: torch.Tensor) -> bool:
    """Stored (C, H, W, N): how the native convolutions write their maps."""
    return x.dim() == 4 and x.permute(1, 2, 3, 0).is_contiguous()


def _layout_of(x: torch.Tensor) -> str:
    if x.is_contiguous():
        return "contiguous"
    if x.is_contiguous(memory_format=torch.channels_last):
        return "channels_last"
    return "batch_last" if is_batch_last(x) else "contiguous"


def _in_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``x`` stored as ``layout`` (a copy only if it is not already)."""
    if layout == "batch_last":
        return x.permute(1, 2, 3, 0).contiguous().permute(3, 0, 1, 2)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    return x.contiguous(memory_format=fmt)


def _empty(shape, layout: str, dtype=torch.float32) -> torch.Tensor:
    """A new (N, C, H, W) tensor stored as ``layout`` (not a view: later in-place ops on it are allowed)."""
    if layout == "batch_last":
        n, c, h, w = shape
        return torch.empty_strided((n, c, h, w), (1, h * w * n, w * n, n), dtype=dtype)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    return torch.empty(shape, dtype=dtype, memory_format=fmt)


class _MaxPool2x2(torch.autograd.Function):
    """2x2/2 max pooling by the C kernel in ``native/maxpool.c``; float32 on the CPU only.

    Saves only the winner's position in each window (one byte per output)
    instead of the input and int64 indices that ATen keeps.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        layout = _layout_of(x)
        images, channels = {"batch_last": (c, b), "channels_last": (b, c), "contiguous": (b * c, 1)}[layout]
        x = _in_layout(x, layout)
        out = _empty((b, c, h // 2, w // 2), layout)
        arg = _empty(out.shape, layout, torch.uint8)
        library().cnnkit_maxpool2_forward(x.data_ptr(), out.data_ptr(), arg.data_ptr(), images, h, w, channels)
        ctx.save_for_backward(arg)
        ctx.geometry = (x.shape, layout, images, channels)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (arg,) = ctx.saved_tensors
        shape, layout, images, channels = ctx.geometry
        if torch.is_grad_enabled():  # create_graph=True (double backward): the same scatter from differentiable ops
            b, c, h, w = shape
            position = torch.arange(4, dtype=arg.dtype, device=arg.device).view(1, 1, 1, 2, 1, 2)
            won = arg[:, :, :, None, :, None] == position  # (B, C, Ho, 2, Wo, 2)
            return _in_layout((grad[:, :, :, None, :, None] * won).reshape(b, c, h, w), layout)
        grad = _in_layout(grad, layout)
        grad_in = _empty(shape, layout)
        library().cnnkit_maxpool2_backward(grad.data_ptr(), arg.data_ptr(), grad_in.data_ptr(), images, shape[2],
                                           shape[3], channels)
        return grad_in


def max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)`` for float32 CPU maps with even sides, bit for bit."""
    return _MaxPool2x2.apply(x)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int, padding: int) -> torch.Tensor:
    """``F.conv2d`` for float32 CPU maps with a batch that is a multiple of 8 and square filters up to 7x7.

    Returns the map batch-last.  Equal to ``F.conv2d`` up to float rounding
    (sums run in another order); gradients likewise.
    """
    return _Conv2d.apply(x, weight, bias, stride, padding)


def _check(code: int, what: str) -> None:
    if code == -2:
        raise MemoryError(f"native {what}: out of memory for its per-thread scratch")
    if code:
        raise ValueError(f"native {what}: unsupported geometry")


def _batch_last_data(x: torch.Tensor) -> torch.Tensor:
    """The (C, H, W, N) tensor holding ``x``'s values: a view if ``x`` is stored batch-last, else a copy."""
    return x.permute(1, 2, 3, 0).contiguous()


class _Conv2d(torch.autograd.Function):
    """Convolution by ``native/conv.c``: forward and input gradient by the direct kernel, weight gradient by its own."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        n, c, h, w = x.shape
        k, _, f, _ = weight.shape
        ho, wo = (h + 2 * padding - f) // stride + 1, (w + 2 * padding - f) // stride + 1
        xb, wc = _batch_last_data(x), weight.detach().contiguous()
        y = _empty((n, k, ho, wo), "batch_last")
        b = bias.detach().contiguous().data_ptr() if bias is not None else None
        _check(library().cnnkit_conv_forward(xb.data_ptr(), wc.data_ptr(), b, y.data_ptr(), n, c, h, w, k, f, stride,
                                             padding, ho, wo), "conv2d")
        ctx.save_for_backward(x, weight, bias)  # x: autograd checks it was not modified in place meanwhile
        ctx.x_batch_last, ctx.geometry = xb, (stride, padding)  # xb: x itself or a private copy
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias = ctx.saved_tensors
        stride, padding = ctx.geometry
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if torch.is_grad_enabled():  # create_graph=True (double backward): differentiate PyTorch's operator instead
            inputs = [t for t, need in ((x, need_x), (weight, need_w), (bias, need_b)) if need]
            with torch.enable_grad():
                out = F.conv2d(x, weight, bias, stride, padding)
            grads = iter(torch.autograd.grad(out, inputs, grad, create_graph=True))
            return (next(grads) if need_x else None, next(grads) if need_w else None,
                    next(grads) if need_b else None, None, None)
        n, c, h, w = x.shape
        k, _, f, _ = weight.shape
        g = _batch_last_data(grad)  # (K, Ho, Wo, N)
        _, ho, wo, _ = g.shape
        lib = library()
        grad_x = grad_w = grad_b = None
        if need_x:
            if stride == 1 and padding <= f - 1:  # a full correlation with the flipped filters: the forward kernel
                flipped = weight.detach().transpose(0, 1).flip(2, 3).contiguous()
                dx = _empty((n, c, h, w), "batch_last")
                _check(lib.cnnkit_conv_forward(g.data_ptr(), flipped.data_ptr(), None, dx.data_ptr(), n, k, ho, wo, c,
                                               f, 1, f - 1 - padding, h, w), "conv2d input gradient")
                grad_x = dx
            else:
                grad_x = torch.nn.grad.conv2d_input(x.shape, weight.detach(), grad, stride, padding)
        if need_w:
            xb = ctx.x_batch_last
            dw = torch.empty(k, c, f, f)
            part = torch.empty(n // 8, k * c * f * f)
            code = lib.cnnkit_conv_weight_grad(xb.data_ptr(), g.data_ptr(), dw.data_ptr(), part.data_ptr(), n, c, h,
                                               w, k, f, stride, padding, ho, wo)
            if code == -1:  # a filter size without a kernel instance
                dw = torch.nn.grad.conv2d_weight(x.detach(), weight.shape, grad, stride, padding)
            else:
                _check(code, "conv2d weight gradient")
            grad_w = dw
        if need_b:
            grad_b = g.sum((1, 2, 3))
        return grad_x, grad_w, grad_b, None, None
