"""A task owns its training step: a second network, its optimizer and its random stream live in the task,
and every checkpoint holds them, so a run resumes exactly (what a GAN needs, shown on a toy task)."""

import torch
from torch import nn

from cnnkit.evaluate.tasks import Classify
from cnnkit.layers import with_num_classes
from cnnkit.models import resolve_spec
from cnnkit.train.config import resolve_config
from cnnkit.train.loop import FitState
from cnnkit.train.run import RunContext, make_trainer


class WithCritic(Classify):
    """Classify, plus a critic network trained by its own optimizer on the classifier's outputs and noise."""

    def bind(self, trainer):
        g = torch.Generator().manual_seed(99)
        self.critic = nn.Linear(10, 1)
        with torch.no_grad():
            self.critic.weight.copy_(torch.randn(1, 10, generator=g))
        self.critic_opt = torch.optim.SGD(self.critic.parameters(), lr=0.1, momentum=0.9)
        self.noise = torch.Generator().manual_seed(7)
        self.critic_steps = 0

    def train_step(self, t, x, y, state):
        loss, out = super().train_step(t, x, y, state)  # the classifier's own step
        noise = torch.randn(out.shape, generator=self.noise)
        critic_loss = (self.critic(out.detach() + noise) - 1).square().mean()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        self.critic_steps += 1
        return loss, out

    def state_tensors(self):
        out = {f"critic.{k}": v for k, v in self.critic.state_dict().items()}
        out.update({f"opt.{i}": s["momentum_buffer"] for i, s in enumerate(self.critic_opt.state.values())})
        out["noise"] = self.noise.get_state()
        out["steps"] = torch.tensor(self.critic_steps)
        return out

    def load_state_tensors(self, tensors):
        self.critic.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("critic.")})
        for i, p in enumerate(self.critic.parameters()):
            self.critic_opt.state[p]["momentum_buffer"] = tensors[f"opt.{i}"].clone()
        self.noise.set_state(tensors["noise"])
        self.critic_steps = int(tensors["steps"])


def _trainer(cfg, spec, data):
    return make_trainer(cfg, spec, data, torch.device("cpu"), task=WithCritic())


def test_a_task_with_its_own_network_resumes_exactly(tmp_path, mnist):
    cfg = resolve_config("lenet5", {"dataset": "mnist", "epochs": 2, "batch_size": 64, "augment": ""})
    data = mnist["train"].subset(torch.arange(640))
    spec = with_num_classes(resolve_spec("lenet5"), 10)

    straight = _trainer(cfg, spec, data)
    straight.fit(data, None, None, FitState())

    first = _trainer(cfg, spec, data)
    state = FitState()
    first.cfg.epochs = 1
    first.fit(data, None, None, state)
    ctx = RunContext(tmp_path, cfg, mnist.classes, "mnist", (1, 28, 28), {})
    ctx.save_checkpoint(first, state)

    cfg2 = resolve_config("lenet5", {"dataset": "mnist", "epochs": 2, "batch_size": 64, "augment": ""})
    resumed = _trainer(cfg2, spec, data)
    state2 = FitState()
    ctx.restore(resumed, state2, write=False)
    assert resumed.task.critic_steps == 10 and state2.epoch == 1
    resumed.fit(data, None, None, state2)

    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(straight.task.critic.weight, resumed.task.critic.weight)
    assert straight.task.critic_steps == resumed.task.critic_steps == 20
