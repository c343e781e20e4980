"""The optimizers of the notes, as the trainer builds them: fused where PyTorch can, same updates either way."""

import pytest
import torch

import cnnkit
from cnnkit.train.config import TrainConfig
from cnnkit.train.optim import make_optimizer


@pytest.mark.parametrize("name", ["sgd", "adagrad", "adam", "adamw", "rmsprop"])
def test_fused_optimizers_take_the_same_steps(name):
    torch.manual_seed(0)
    nets = [cnnkit.build("lenet5") for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    cfg = TrainConfig(optimizer=name, lr=0.05, momentum=0.9, nesterov=name == "sgd", weight_decay=5e-4)
    fused = make_optimizer(nets[0], cfg)
    assert bool(fused.defaults.get("fused")) == (name != "rmsprop")  # one kernel for all parameters on the CPU
    # the same parameter groups (weight decay on weights only), one tensor at a time
    position = {id(p): i for i, p in enumerate(nets[0].parameters())}
    twins = list(nets[1].parameters())
    groups = [{**g, "params": [twins[position[id(p)]] for p in g["params"]]} for g in fused.param_groups]
    for g in groups:
        g.pop("fused", None), g.pop("foreach", None)
    plain = type(fused)(groups, foreach=False)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    for _ in range(3):
        for net, opt in zip(nets, (fused, plain)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-3 * cfg.lr)  # Adam: sqrt(v) near 0 amplifies rounding
    assert not torch.equal(nets[0].features.conv1.conv.weight, cnnkit.build("lenet5").features.conv1.conv.weight)
