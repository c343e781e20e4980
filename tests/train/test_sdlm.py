"""LeNet-5's 1998 training: SDLM's curvature estimate, the published schedule and init, the distortions."""

import pytest
import torch
from torch import nn

import cnnkit
from cnnkit.data.augment import random_distort
from cnnkit.layers.init import initialize
from cnnkit.train.config import TrainConfig
from cnnkit.train.optim import SDLM, estimate_curvature
from cnnkit.train.schedule import LRSchedule


def test_curvature_estimate_matches_the_exact_gauss_newton_diagonal():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))
    x = torch.randn(5, 3)
    # exact: diag(J^T (diag(p) - p p^T) J) = sum over classes y of p_y (d log p_y / dw)^2, averaged over inputs
    exact = [torch.zeros_like(p) for p in net.parameters()]
    for xi in x:
        logp = torch.log_softmax(net(xi.unsqueeze(0)), 1)[0]
        for y in range(3):
            grads = torch.autograd.grad(logp[y], list(net.parameters()), retain_graph=True)
            for e, g in zip(exact, grads):
                e += logp[y].exp().detach() * g * g / len(x)
    many = x.repeat(3000, 1)  # the estimator draws one label per pattern: many copies make it converge
    est = estimate_curvature(net, many, torch.Generator().manual_seed(1))
    for p, e in zip(net.parameters(), exact):
        assert torch.allclose(est[p], e, rtol=0.1, atol=1e-4 * float(e.max()))


def test_sdlm_step_is_the_rate_over_mu_plus_curvature():
    w = nn.Parameter(torch.tensor([1.0, 1.0]))
    opt = SDLM([w], lr=0.1, mu=0.02)
    opt.set_curvature({w: torch.tensor([0.0, 0.98])})
    w.grad = torch.tensor([1.0, 1.0])
    opt.step()
    assert torch.allclose(w.detach(), torch.tensor([1 - 0.1 / 0.02, 1 - 0.1 / 1.0]))
    assert "curvature" in opt.state_dict()["state"][0]  # checkpointed with the optimizer


def test_published_schedule_and_init():
    s = LRSchedule(TrainConfig(lr=0.0005, schedule="lecun1998", epochs=20), steps_per_epoch=10)
    per_epoch = [round(s.lr_at(10 * e), 8) for e in range(14)]
    assert per_epoch == [5e-4] * 2 + [2e-4] * 3 + [1e-4] * 3 + [5e-5] * 4 + [1e-5] * 2
    net = cnnkit.build("lenet5-1998")
    initialize(net, "lecun1998")
    c1 = net.features.C1.conv.weight.detach()
    assert float(c1.abs().max()) <= 2.4 / 25 and float(c1.abs().max()) > 0.8 * 2.4 / 25
    c3 = net.features.C3.conv  # the connection table: maps reading 6 inputs have a smaller bound than 3
    six = c3.weight.detach()[c3.out_index == 15]
    assert float(six.abs().max()) <= 2.4 / 150 < float(c3.weight.detach()[c3.out_index == 0].abs().max())


def test_distortions_are_identity_at_zero_and_move_ink_otherwise():
    x = torch.zeros(8, 1, 28, 28)
    x[:, :, 8:20, 12:16] = 1.0
    g = torch.Generator().manual_seed(0)
    assert torch.allclose(random_distort(x, g, 0.0), x, atol=1e-5)
    y = random_distort(x, g, 0.15)
    assert y.shape == x.shape and not torch.allclose(y, x, atol=1e-2)
    assert abs(float(y.sum() / x.sum()) - 1) < 0.35  # the ink is moved and reshaped, not lost


def test_sdlm_refuses_what_it_cannot_estimate(tmp_path, data_root):
    from cnnkit.errors import CnnkitError

    with pytest.raises(CnnkitError, match="sdlm"):
        cnnkit.train("conv-ae", "mnist", out=str(tmp_path / "r"), optimizer="sdlm", nesterov=False, epochs=1,
                     limit_train=200, limit_test=100, quiet=True)
