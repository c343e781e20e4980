"""Layers that PyTorch lacks, from the lecture notes and the LeNet-5 paper.

* :class:`LocallyConnected2d` - a convolution without weight sharing.
* :class:`TiledConv2d` - weights shared only every ``tile`` positions.
* :class:`TableConv2d` - LeNet-5's C3: each output map reads a subset of inputs.
* :class:`Subsample2d` - LeNet-5's trainable subsampling ``a * sum(window) + b``.
* :class:`RBFOutput` - LeNet-5's Euclidean RBF ("Gaussian connections") output.
* :class:`Maxout`, :class:`ScaledTanh` - activations.
* :class:`ZeroPadShortcut` - ResNet's parameter-free "option A" shortcut.
* :class:`Scale` - a constant factor (a fixed temperature on the logits).
* :class:`MaxPool2d` - ``nn.MaxPool2d`` with a native CPU kernel for 2x2 windows.
* :class:`Conv2d` - ``nn.Conv2d`` with a native CPU kernel for few channels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.layers import native
from cnnkit.layers.native import ops


def _kaiming_uniform_(weight: torch.Tensor, fan_in: int) -> None:
    # Same scale as nn.Conv2d's default init (kaiming_uniform with a=sqrt(5)).
    bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
    nn.init.uniform_(weight, -bound, bound)


class _Unshared2d(nn.Module):
    """Shared machinery: unfold the input, then apply one filter bank per position."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, in_hw, banks: int, bias: bool):
        super().__init__()
        self.kernel_size, self.stride, self.padding = tuple(kernel_size), tuple(stride), tuple(padding)
        h, w = in_hw
        self.out_hw = tuple((n + 2 * p - k) // s + 1 for n, k, p, s in zip((h, w), kernel_size, padding, stride))
        fan_in = in_channels * kernel_size[0] * kernel_size[1]
        self.weight = nn.Parameter(torch.empty(banks, out_channels, fan_in))  # (banks, K, C*F*F)
        self.bias = nn.Parameter(torch.empty(banks, out_channels)) if bias else None
        _kaiming_uniform_(self.weight, fan_in)
        if self.bias is not None:
            _kaiming_uniform_(self.bias, fan_in)

    def bank_of_position(self) -> torch.Tensor | None:
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cols = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)  # (N, C*F*F, L)
        idx = self.bank_of_position()
        weight = self.weight if idx is None else self.weight[idx]  # (L, K, C*F*F)
        out = torch.einsum("ncl,lkc->nkl", cols, weight)  # (N, K, L)
        if self.bias is not None:
            bias = self.bias if idx is None else self.bias[idx]  # (L, K)
            out = out + bias.t().unsqueeze(0)
        return out.reshape(x.shape[0], -1, *self.out_hw)


class LocallyConnected2d(_Unshared2d):
    """Every output position has its own filters (and biases): local, but unshared."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, in_hw, bias=True):
        h, w = in_hw
        oh = (h + 2 * padding[0] - kernel_size[0]) // stride[0] + 1
        ow = (w + 2 * padding[1] - kernel_size[1]) // stride[1] + 1
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, in_hw, oh * ow, bias)


class TiledConv2d(_Unshared2d):
    """``tile**2`` filter banks; position (i, j) uses bank (i mod tile, j mod tile)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, in_hw, tile=2, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, in_hw, tile * tile, bias)
        oh, ow = self.out_hw
        rows = torch.arange(oh).remainder(tile).unsqueeze(1) * tile
        cols = torch.arange(ow).remainder(tile).unsqueeze(0)
        self.register_buffer("bank_index", (rows + cols).reshape(-1), persistent=False)

    def bank_of_position(self) -> torch.Tensor:
        return self.bank_index


class TableConv2d(nn.Module):
    """A convolution where output map ``k`` reads only the input maps ``table[k]``.

    Only the linked kernels are parameters (LeNet-5's C3 has 60 links x 25 = 1,500
    weights, not 16 x 6 x 25); they are scattered into a dense kernel per call.
    """

    def __init__(self, in_channels, table, kernel_size, stride=(1, 1), padding=(0, 0), bias=True):
        super().__init__()
        out_idx = [k for k, row in enumerate(table) for _ in row]
        in_idx = [i for row in table for i in row]
        self.in_channels, self.out_channels = in_channels, len(table)
        self.kernel_size, self.stride, self.padding = tuple(kernel_size), tuple(stride), tuple(padding)
        self.register_buffer("out_index", torch.tensor(out_idx), persistent=False)
        self.register_buffer("in_index", torch.tensor(in_idx), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(in_idx), *self.kernel_size))  # (links, F, F)
        self.bias = nn.Parameter(torch.zeros(self.out_channels)) if bias else None
        fan_in = max(len(r) for r in table) * self.kernel_size[0] * self.kernel_size[1]
        _kaiming_uniform_(self.weight, fan_in)
        if self.bias is not None:
            _kaiming_uniform_(self.bias, fan_in)

    def dense_weight(self) -> torch.Tensor:
        w = self.weight.new_zeros(self.out_channels, self.in_channels, *self.kernel_size)
        return w.index_put((self.out_index, self.in_index), self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias, self.stride, self.padding)


class Subsample2d(nn.Module):
    """LeNet-5's S-layers: per map, ``coefficient * sum(window) + bias``."""

    def __init__(self, channels, kernel_size, stride):
        super().__init__()
        self.kernel_size, self.stride = tuple(kernel_size), tuple(stride)
        window = self.kernel_size[0] * self.kernel_size[1]
        self.weight = nn.Parameter(torch.full((channels,), 1.0 / window))  # starts as an average
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window = self.kernel_size[0] * self.kernel_size[1]
        summed = F.avg_pool2d(x, self.kernel_size, self.stride) * window  # (N, C, H', W')
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class RBFOutput(nn.Module):
    """Euclidean RBF units with fixed +-1 centres; returns ``-||x - c||^2`` as class scores.

    LeCun et al. drew the centres as 7x12 bitmaps of the characters; we draw
    seeded random +-1 codes of the same length, which serve the same purpose
    (distinct, fixed targets for F6).  The centres are a buffer, not parameters.
    """

    def __init__(self, in_features, units, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        centres = torch.randint(0, 2, (units, in_features), generator=g).float() * 2 - 1
        self.register_buffer("centres", centres)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return -torch.cdist(x, self.centres).pow(2)


class Maxout(nn.Module):
    """Max over groups of ``pieces`` consecutive channels (or features)."""

    def __init__(self, pieces=2):
        super().__init__()
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        return x.reshape(n, c // self.pieces, self.pieces, *x.shape[2:]).amax(dim=2)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


class ScaledTanh(nn.Module):
    """LeCun's squashing function ``A * tanh(S * a)`` (A = 1.7159, S = 2/3)."""

    def __init__(self, amplitude=1.7159, slope=2.0 / 3.0):
        super().__init__()
        self.amplitude, self.slope = amplitude, slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4g}"


class Scale(nn.Module):
    """Multiply by a constant: a fixed temperature on the logits lets the optimizer run at
    a higher learning rate without the head's outputs blowing up (airbench's ``Mul(1/9)``)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = float(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:g}"


class Reshape(nn.Module):
    """(N, ...) -> (N, C, H, W): a decoder's code vector becomes maps again."""

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return "x".join(map(str, self.shape))


class Merge(nn.Module):
    """concat (channels of maps, or vectors end to end), add or multiply."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.kind == "concat":
            return torch.cat(xs if xs[0].dim() == 4 else [x.flatten(1) for x in xs], dim=1)
        out = xs[0]
        for x in xs[1:]:
            out = out + x if self.kind == "add" else out * x
        return out

    def extra_repr(self) -> str:
        return self.kind


class ZeroPadShortcut(nn.Module):
    """ResNet option A: subsample by ``stride`` and zero-pad the new channels."""

    def __init__(self, stride, extra_channels):
        super().__init__()
        self.stride, self.extra = stride, extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class Inception(nn.Module):
    """Parallel branches on the same input, concatenated along channels."""

    def __init__(self, branches: list[nn.Module]):
        super().__init__()
        for j, b in enumerate(branches, 1):
            self.add_module(f"branch{j}", b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.children()], dim=1)


class Residual(nn.Module):
    """``activation(body(x) + shortcut(x))``."""

    def __init__(self, body: nn.Module, shortcut: nn.Module, activation: nn.Module):
        super().__init__()
        self.body, self.shortcut, self.act = body, shortcut, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def _tracing() -> bool:
    """Inside ``torch.compile``: leave the layer to the compiler (a ctypes call would break its graph)."""
    is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)  # torch >= 2.3
    return bool(is_compiling and is_compiling())


def _native_ok(x: torch.Tensor) -> bool:
    """What every native path needs: float32 on the CPU, no tracing or scripting, autocast off, a built library.

    Traced or exported graphs (``torch.compile``, ``torch.export``, ``torch.jit.trace``, ONNX) and
    ``torch.func`` transforms (``grad``, ``vmap``: per-sample gradients) get PyTorch's own operators,
    which they can record or batch; a ctypes call they could not.
    """
    return (x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4 and x.numel() > 0
            and not _tracing() and not torch.jit.is_scripting() and not torch.jit.is_tracing()
            and not _FUNCTORCH_ACTIVE() and not torch.is_autocast_enabled("cpu") and native.library() is not None)


_FUNCTORCH_ACTIVE = getattr(torch._C, "_are_functorch_transforms_active", lambda: False)


class MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` that runs 2x2 windows with stride 2 through a native CPU kernel.

    Same results and gradients bit for bit (ties and NaNs included); only
    the speed differs.  Used where it measured faster: channels-last maps
    with fewer than 8 channels (LeNet-5's first pool: forward and backward
    1.8x faster), where ATen's loop is scalar, and NCHW maps (1.1-3x).
    Every other case - other windows, odd sizes, GPUs, other dtypes,
    ``torch.compile`` tracing, no C compiler - is ``nn.MaxPool2d`` itself.
    """

    def is_2x2(self) -> bool:
        """2x2 windows, stride 2, no padding or dilation: the windows the kernel computes."""
        pair = lambda v: v if isinstance(v, tuple) else (v, v)
        return (pair(self.kernel_size) == (2, 2) and pair(self.stride) == (2, 2) and pair(self.padding) == (0, 0)
                and pair(self.dilation) == (1, 1) and not self.return_indices)

    def _native(self, x: torch.Tensor) -> bool:
        return (self.is_2x2() and _native_ok(x)
                and x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0
                # ATen vectorises channels-last pooling over 8+ channels and is then as fast or faster
                and (x.shape[1] < 8 or not x.is_contiguous(memory_format=torch.channels_last)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._native(x):
            return ops.max_pool2x2(x)
        return super().forward(x)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that runs convolutions with few channels through a native CPU kernel.

    oneDNN keeps its vectors busy by working across channels, so with LeNet's
    1 or 6 input channels it reaches a fifth of the CPU's peak; the kernel in
    ``native/conv.c`` works across the batch instead (8 images per vector) and
    returns the map batch-last, (C, H, W, N), which the next pooling,
    activation and convolution read as they are.  Results equal
    ``nn.Conv2d``'s up to float rounding.

    Used where it measured faster: float32 CPU batches that are multiples of
    8, maps up to 64x64, square filters up to 7x7, ``groups=1``, no dilation,
    and in x out channels at most :attr:`NATIVE_MAX_CHANNEL_PAIRS` (one
    layer's training step, batch 128, 2-core AVX2 CPU: 1->6 and 6->16 5x5
    2.3x and 1.8x, 8->16 3x3 1.4x, 3->32 5x5 1.2x; 8->32 3x3 0.8x, 16->16
    0.65x), and in a built network only where a 2x2 max pool reads its map
    (:func:`cnnkit.layers.network.plan_native_convolutions` sets
    :attr:`native_allowed`).  Everything else (more channels, GPUs, autocast,
    ``torch.compile``, no C compiler) is ``nn.Conv2d`` itself.
    """

    NATIVE_MAX_CHANNEL_PAIRS = 128
    NATIVE_MAX_PIXELS = 64 * 64  # measured on MNIST and CIFAR sizes; larger maps also need more scratch per thread
    #: False where the layers after it would have to reorder a batch-last map (set by the network builder)
    native_allowed = True

    def _native(self, x: torch.Tensor) -> bool:
        f, s, p = self.kernel_size, self.stride, self.padding
        return (self.native_allowed and self.groups == 1 and self.dilation == (1, 1) and self.padding_mode == "zeros"
                and not isinstance(p, str) and f[0] == f[1] <= 7 and s[0] == s[1] and p[0] == p[1]
                and self.in_channels * self.out_channels <= self.NATIVE_MAX_CHANNEL_PAIRS
                and x.shape[0] % 8 == 0 and x.shape[2] * x.shape[3] <= self.NATIVE_MAX_PIXELS
                and self.weight.dtype == torch.float32 and _native_ok(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._native(x):
            return ops.conv2d(x, self.weight, self.bias, self.stride[0], self.padding[0])
        return super().forward(x)


def _observed(module: nn.Module) -> bool:
    """Whether anyone hooks this module (features, explanations, captum, guided backprop...)."""
    return bool(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
                or getattr(module, "_backward_pre_hooks", None))


def _global_hooks() -> bool:
    from torch.nn.modules import module as _m

    return bool(_m._global_forward_hooks or _m._global_forward_pre_hooks or _m._global_backward_hooks
                or getattr(_m, "_global_backward_pre_hooks", None))


class Chain(nn.Sequential):
    """``nn.Sequential`` whose modules are exactly the spec's layers, run in a faster but equal order.

    A layer such as ``conv1`` keeps its activation (``conv1.act``), so its
    output - what a hook, ``features --layer conv1``, a report or an
    explanation reads - is post-activation, as the spec says.  Where a
    non-decreasing activation is followed by max pooling, the forward pass
    applies it after the pool instead: max commutes with a non-decreasing
    function, so the network's output is identical while the activation
    touches a quarter of the values (LeNet-5 trains ~1.4x faster on a CPU).
    Whenever a hook watches any module involved, the plain order runs, so
    every observer sees the values the definition promises.
    """

    def __init__(self, modules, deferred: tuple[int, ...] = ()):
        super().__init__(modules)
        #: indices i whose module ends in an ``act`` child that may run after module i + 1 (a max pool)
        self.deferred = frozenset(deferred)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mods = list(self._modules.values())
        if not self.deferred or _global_hooks():
            for m in mods:
                x = m(x)
            return x
        i = 0
        while i < len(mods):
            m = mods[i]
            if i in self.deferred and not (_observed(m) or _observed(mods[i + 1])
                                           or any(_observed(c) for c in m.children())):
                parts = list(m.children())
                for part in parts[:-1]:
                    x = part(x)
                x = parts[-1](mods[i + 1](x))  # act(pool(x)) == pool(act(x)) for non-decreasing act
                i += 2
                continue
            x = m(x)
            i += 1
        return x

    def extra_repr(self) -> str:
        if not self.deferred:
            return ""
        names = list(self._modules)
        moved = ", ".join(f"{names[i]}.act after {names[i + 1]}" for i in sorted(self.deferred))
        return f"runs {moved} (same values: max pooling commutes with a non-decreasing activation)"


class LocalResponseNorm(nn.Module):
    """AlexNet's local response normalisation across channels, with ``nn.LocalResponseNorm``'s arithmetic:
    ``b = a / (k + alpha / n * sum of a^2 over the n adjacent maps) ** beta``.

    The window sum is ``n`` shifted slices of the zero-padded squares added up, instead of PyTorch's
    3-D average pooling, which took 3x as long as the rest of a small CIFAR net on a 2-core CPU.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        sq = F.pad((x * x).unsqueeze(1), (0, 0, 0, 0, self.size // 2, (self.size - 1) // 2)).squeeze(1)
        window = sq[:, 0:c]
        for i in range(1, self.size):
            window = window + sq[:, i:i + c]
        return x / (window * (self.alpha / self.size) + self.k).pow(self.beta)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"



class TokenEmbedding(nn.Module):
    """Token ids (N, 1, 1, L) -> (N, D x copies, 1, L) maps, one column per word.

    Id 0 is ``<pad>``: its vector is zero and never trained, which is how the
    recurrent layers find where each sequence ends.  ``copies=2`` is Kim's
    multichannel CNN: a fixed copy of the vectors stacked on a fine-tuned one.
    """

    def __init__(self, vocab: int, dim: int, freeze: bool = False, copies: int = 1):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        with torch.no_grad():  # Kim 2014's start for words without a pre-trained vector: uniform in +-0.25
            self.embed.weight.uniform_(-0.25, 0.25)
            self.embed.weight[0] = 0
        self.embed.weight.requires_grad_(not freeze)
        self.copies = copies
        if copies == 2:
            self.fixed = nn.Embedding(vocab, dim, padding_idx=0)
            self.fixed.weight.requires_grad_(False)
            with torch.no_grad():
                self.fixed.weight.copy_(self.embed.weight)

    @torch.no_grad()
    def load_vectors(self, vectors: torch.Tensor, found: torch.Tensor) -> None:
        """Rows of ``vectors`` where ``found`` is true replace the random ones (the rest stay random, as Kim's)."""
        for table in (self.embed, getattr(self, "fixed", None)):
            if table is not None:
                table.weight[found] = vectors[found].to(table.weight.dtype)
                table.weight[0] = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = x.flatten(1)  # (N, L)
        out = self.embed(ids)
        if self.copies == 2:
            out = torch.cat([out, self.fixed(ids)], 2)
        return out.transpose(1, 2).unsqueeze(2)  # (N, D, 1, L)


class Recurrent(nn.Module):
    """An RNN, GRU or LSTM over (N, C, 1, L) sequences whose padding is all-zero columns at the end.

    Each sequence runs for its own length only (packed), so a result never
    depends on how much padding its batch carries.  ``output="last"``: the
    final hidden state (both directions' for a bidirectional layer: forward
    at the last word, backward at the first), (N, H x dirs, 1, 1);
    ``"sequence"``: every step's, (N, H x dirs, 1, L), zero past the end.
    """

    KINDS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

    def __init__(self, kind: str, channels: int, hidden: int, layers: int = 1, bidirectional: bool = False,
                 output: str = "last", dropout: float = 0.0):
        super().__init__()
        self.kind, self.output = kind, output
        self.rnn = self.KINDS[kind](channels, hidden, num_layers=layers, bidirectional=bidirectional,
                                    batch_first=True, dropout=dropout if layers > 1 else 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.squeeze(2).transpose(1, 2)  # (N, L, C)
        n, steps = seq.shape[0], seq.shape[1]
        present = (seq != 0).any(2)  # (N, L): a step holds a word unless every channel is exactly zero
        positions = torch.arange(1, steps + 1, device=x.device).expand(n, steps)
        lengths = (positions * present).amax(1).clamp_min(1).cpu()  # through the last word
        packed = nn.utils.rnn.pack_padded_sequence(seq, lengths, batch_first=True, enforce_sorted=False)
        out, hidden = self.rnn(packed)
        if self.output == "last":
            h = hidden[0] if isinstance(hidden, tuple) else hidden  # LSTM: (h_n, c_n)
            dirs = 2 if self.rnn.bidirectional else 1
            return torch.cat(list(h[-dirs:]), 1).view(n, -1, 1, 1)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=steps)
        return out.transpose(1, 2).unsqueeze(2)


class Reparameterize(nn.Module):
    """The VAE's sampling step (Kingma & Welling 2014): the encoder's 2Z outputs are the mean and the log
    variance of q(z|x); ``z = mu + exp(logvar / 2) * eps`` with eps ~ N(0, I) while training (gradients flow
    through mu and sigma), ``z = mu`` in eval mode unless ``sampling`` is set.  The last ``mu`` and
    ``logvar`` stay on the module for the loss's KL term.  ``generator`` (optional) seeds eps.
    """

    def __init__(self, latent: int):
        super().__init__()
        self.latent = latent
        self.mu: torch.Tensor | None = None
        self.logvar: torch.Tensor | None = None
        self.sampling = False
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        self.mu, self.logvar = x[:, :self.latent], x[:, self.latent:]
        if not (self.training or self.sampling):
            return self.mu
        eps = torch.randn(self.mu.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        return self.mu + torch.exp(0.5 * self.logvar) * eps

    def extra_repr(self) -> str:
        return f"latent={self.latent}"
