"""Initialisations beyond the defaults: identity (dirac) convolutions and the whitened, frozen stem."""

import json

import pytest
import torch
from torch import nn

import cnnkit
from cnnkit.errors import CnnkitError
from cnnkit.layers.init import initialize
from cnnkit.rundir.artifacts import read_weights
from cnnkit.train.optim import whiten_stem


def _correlated_images(n=400, c=3, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = nn.functional.avg_pool2d(torch.randn(n, c, size, size, generator=g), 3, 1, 1)
    mix = torch.eye(c) + 0.4 * torch.rand(c, c, generator=g)
    return torch.einsum("ij,njhw->nihw", mix, x)


def test_whitened_stem_decorrelates_patches_and_is_frozen():
    x = _correlated_images()
    model = nn.Sequential(nn.Conv2d(3, 24, 2), nn.GELU(), nn.Conv2d(24, 8, 3))
    conv = whiten_stem(model, x, eps=0.0)
    assert conv is model[0] and not conv.weight.requires_grad and conv.bias.requires_grad
    out = nn.functional.conv2d(x, conv.weight)  # no bias
    half = out[:, :12].permute(0, 2, 3, 1).reshape(-1, 12)
    cov = half.T @ half / half.shape[0]
    torch.testing.assert_close(cov, torch.eye(12), atol=1e-4, rtol=0)
    torch.testing.assert_close(out[:, 12:], -out[:, :12])  # the ± pairs
    assert torch.corrcoef(x.permute(1, 0, 2, 3).reshape(3, -1))[0, 1] > 0.3  # the input really was correlated


def test_whitened_stem_needs_a_pair_per_patch_dimension():
    with pytest.raises(CnnkitError, match=r"2 x C x F x F = 24 filters.*has 16"):
        whiten_stem(nn.Sequential(nn.Conv2d(3, 16, 2)), torch.randn(4, 3, 8, 8))
    with pytest.raises(CnnkitError, match="first layer is a convolution"):
        whiten_stem(nn.Sequential(nn.Linear(3, 4)), torch.randn(4, 3))


def test_dirac_init_passes_the_input_through_the_first_filters():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.Conv2d(6, 3, 3, padding=1, bias=False))
    untouched = model[1].weight.clone()
    initialize(model, "dirac")
    x = torch.randn(2, 4, 9, 9)
    y = model[0](x)
    torch.testing.assert_close(y[:, :4], x)
    assert y[:, 4:].abs().sum() > 0  # the remaining filters keep their random init
    assert torch.equal(model[1].weight, untouched)  # fewer outputs than inputs: left alone


def test_whitened_stem_stays_frozen_through_training_and_resumes_exactly(tmp_path, data_root):
    spec = {"input": [1, 28, 28], "layers": [
        {"type": "conv", "filters": 8, "size": 2, "activation": "gelu", "floor": True},
        {"type": "conv", "filters": 16, "size": 3, "pad": 1, "batchnorm": True, "activation": "relu"},
        {"type": "maxpool", "size": 3, "stride": 3}, {"type": "fc", "units": 10}, {"type": "softmax"}]}
    path = tmp_path / "stem.json"
    path.write_text(json.dumps(spec))
    opts = dict(limit_train=2000, limit_test=500, batch_size=50, quiet=True, whiten_stem=True, init="dirac", lr=0.05)
    one = cnnkit.train(str(path), "mnist", out=str(tmp_path / "one"), epochs=1, **opts)
    two = cnnkit.train(str(path), "mnist", out=str(tmp_path / "two"), epochs=2, **opts)
    w1, _ = read_weights(one.path / "model.safetensors")
    w2, _ = read_weights(two.path / "model.safetensors")
    stem = next(k for k in w1 if k.endswith("weight") and w1[k].shape == (8, 1, 2, 2))
    assert torch.equal(w1[stem], w2[stem])  # frozen: one more epoch did not move it
    assert any(not torch.equal(w1[k], w2[k]) for k in w1 if k != stem)  # the rest did learn
    assert two.summary["test_top1_error"] < 0.3


def test_batchnorm_groups_scaled_learning_rate_and_frozen_scales(tmp_path, data_root):
    from cnnkit.train.config import resolve_config
    from cnnkit.train.optim import freeze_bn_scales, make_optimizer, set_lr

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    freeze_bn_scales(model)
    opt = make_optimizer(model, resolve_config("lenet5", {"lr_bn_scale": 8, "weight_decay": 1e-3}))
    set_lr(opt, 0.1)
    groups = [(g["lr"], g["weight_decay"], {id(p) for p in g["params"]}) for g in opt.param_groups]
    assert groups[-1] == (pytest.approx(0.8), 0.0, {id(model[1].bias)})  # the BN bias only: its scale is frozen
    assert groups[0][:2] == (0.1, 1e-3) and groups[0][2] == {id(model[0].weight), id(model[3].weight)}
    plain = make_optimizer(model, resolve_config("lenet5", {}))
    assert len(plain.param_groups) == 2  # the default keeps the two groups (and old checkpoints) as they were
    spec = {"input": [1, 28, 28], "layers": [
        {"type": "conv", "filters": 8, "size": 5, "batchnorm": True, "activation": "relu"},
        {"type": "maxpool", "size": 4}, {"type": "fc", "units": 10}, {"type": "scale", "factor": 0.5},
        {"type": "softmax"}]}
    path = tmp_path / "bn.json"
    path.write_text(json.dumps(spec))
    r = cnnkit.train(str(path), "mnist", out=str(tmp_path / "run"), epochs=2, limit_train=2000, limit_test=500,
                     batch_size=50, quiet=True, lr=0.05, lr_bn_scale=4, train_bn_scale=False)
    w, _ = read_weights(r.path / "model.safetensors")
    scales = [v for k, v in w.items() if k.endswith("bn.weight")]
    biases = [v for k, v in w.items() if k.endswith("bn.bias")]
    assert scales and all(torch.equal(s, torch.ones_like(s)) for s in scales)
    assert biases and all(b.abs().sum() > 0 for b in biases)
    assert r.summary["test_top1_error"] < 0.3
