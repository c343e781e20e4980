"""Tasks: what a network is trained to do, and how it is scored.

A task names the loss, the targets of a batch, the running statistic of an
epoch and the metrics of a split; the trainer calls it for each step, so a new
task is a new class here, never a fork of the trainer.

* ``classify``: cross-entropy; top-1 / top-5 error (and the confusion matrix).
* ``regress``: MSE, MAE or Huber on real-valued targets; MAE, RMSE and R².
* ``reconstruct``: the input is the target (autoencoders): per-pixel MSE or
  binary cross-entropy on the [0, 1] scale; ``denoise`` corrupts the input only
  (``gaussian:SIGMA`` or ``mask:FRACTION``).
* ``rotation``: a self-supervised pretext task (Gidaris et al. 2018): each
  image, under one seeded random rotation of 0/90/180/270 degrees per epoch,
  is labelled with the rotation; the labels of the data set are not used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnnkit.errors import CnnkitError
from cnnkit.evaluate.metrics import topk_errors
from cnnkit.layers.inference import predict_logits

LOSSES = ("auto", "cross_entropy", "mse", "mae", "huber", "bce")


class Task:
    name = ""
    headline = ""  # the metric a run is judged by (lower is better), e.g. top1_error
    default_loss = ""
    losses: tuple[str, ...] = ()

    def __init__(self, loss: str = "auto", label_smoothing: float = 0.0, denoise: str = ""):
        self.loss_name = self.default_loss if loss == "auto" else loss
        if self.loss_name not in self.losses:
            raise CnnkitError(f"task {self.name} takes --loss {' or '.join(self.losses)}, got {loss!r}")
        self.label_smoothing = label_smoothing
        if denoise and self.name != "reconstruct":
            raise CnnkitError("--denoise is for --task reconstruct (a denoising autoencoder)")

    def output_units(self, data) -> int | None:
        """How many outputs the network's last layer needs (None: as the spec says)."""
        return len(data.classes)

    def bind(self, trainer) -> None:
        """Called once by the trainer at its construction.  A task that owns further networks,
        optimizers or random streams (a GAN's discriminator and its optimizer) creates them here,
        and returns them from :meth:`state_tensors` so every checkpoint holds them."""

    def train_step(self, t, x, y, state) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step of the trainer ``t`` on a batch; returns (loss, network output).

        The default: forward, this task's loss, backward, the trainer's optimizer (with fp16 loss
        scaling when the trainer has a scaler).  A task with several networks overrides it.
        """
        dev = x.device if isinstance(x, torch.Tensor) else next(iter(x.values())).device
        with torch.autocast(dev.type, dtype=t.amp_dtype, enabled=t.amp_dtype is not None):
            out = t.forward_module(x)
            loss = self.loss(out, y)
        t.check_finite(loss, state)
        t.optimizer.zero_grad(set_to_none=True)
        if t.scaler is not None:  # fp16: scale the loss so small gradients survive
            t.scaler.scale(loss).backward()
            t.scaler.step(t.optimizer)
            t.scaler.update()
        else:
            loss.backward()
            t.optimizer.step()
        if t.cfg.max_norm:
            t.constrain_output_norm()
        return loss, out

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """What the task owns beyond the trainer's model and optimizer, as named tensors (checkpointed)."""
        return {}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_tensors` from a checkpoint (resume)."""

    def fit_targets(self, data) -> None:
        """Learn what the task needs from the training targets (regression: their mean and spread)."""

    def state(self) -> dict:
        """What :meth:`fit_targets` learnt, saved with the run (JSON)."""
        return {}

    def load_state(self, state: dict | None) -> Task:
        return self

    def run_classes(self, data) -> list[str]:
        """The names of the network's outputs, saved with the run (classes, rotations, targets)."""
        return list(data.classes)

    def batch(self, images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator | None):
        """(uint8-scale input images, target) of a training batch."""
        return images, labels

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def step_stat(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """A sum over the batch, accumulated on the device (no host sync per step)."""
        raise NotImplementedError

    def train_row(self, stat: float, seen: int) -> dict:
        raise NotImplementedError

    def score(self, model, normalizer, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000,
              extras=None) -> dict:
        """Metrics of a split (keys without the split prefix); the headline one among them."""
        raise NotImplementedError


class Classify(Task):
    name, headline, default_loss, losses = "classify", "top1_error", "cross_entropy", ("cross_entropy",)

    def output_units(self, data):
        if data.labels.is_floating_point():
            raise CnnkitError(f"the targets are real values ({', '.join(data.classes)}), not classes: pass "
                              f"--task regress")
        return len(data.classes)

    def loss(self, out, target):
        return F.cross_entropy(out.float(), target, label_smoothing=self.label_smoothing)

    def step_stat(self, out, target):
        return (out.argmax(1) == target).sum()

    def train_row(self, stat, seen):
        return {"train_top1_error": 1 - stat / seen}

    def score(self, model, normalizer, images, labels, batch_size=1000, extras=None):
        return self.score_outputs(predict_logits(model, normalizer, images, batch_size, extras=extras), labels)

    def score_outputs(self, logits, labels):
        errs = topk_errors(logits, labels)
        return {"top1_error": errs[1] / len(labels), "top5_error": errs[5] / len(labels), "errors": errs[1]}


class Rotation(Classify):
    """Predict which of four rotations an image went through; every image once per epoch."""

    name = "rotation"

    def output_units(self, data):
        return 4

    def run_classes(self, data):
        return ["0", "90", "180", "270"]  # degrees counter-clockwise

    def batch(self, images, labels, gen):
        k = torch.randint(0, 4, (len(images),), generator=gen, device=gen.device if gen is not None else "cpu")
        return rotate(images, k.to(images.device)), k.to(images.device)

    def score(self, model, normalizer, images, labels, batch_size=1000, extras=None):
        g = torch.Generator().manual_seed(1234)  # the same rotations every time a split is scored
        k = torch.randint(0, 4, (len(images),), generator=g).to(images.device)
        out = super().score(model, normalizer, rotate(images, k), k, batch_size, extras)
        out.pop("top5_error")  # four classes: top-5 is always right
        return out


def rotate(images: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Each image (N, C, H, W; square) turned by k[i] quarter turns counter-clockwise."""
    if images.shape[-1] != images.shape[-2]:
        raise CnnkitError(f"the rotation task needs square images, got {images.shape[-2]}x{images.shape[-1]}")
    out = images.clone()
    for q in (1, 2, 3):
        idx = (k == q).nonzero().flatten()
        if len(idx):
            out[idx] = torch.rot90(images[idx], q, dims=(-2, -1))
    return out


class Regress(Task):
    """Real-valued targets, learnt standardised (each target's training mean and spread, saved with the run),
    so that targets far from 0 or of different scales train at any learning rate that classifies; predictions
    and metrics are in the targets' own units."""

    name, headline, default_loss, losses = "regress", "rmse", "mse", ("mse", "mae", "huber")

    def __init__(self, loss="auto", label_smoothing=0.0, denoise=""):
        super().__init__(loss, label_smoothing, denoise)
        self.mean = self.std = None

    def output_units(self, data):
        if not data.labels.is_floating_point():
            raise CnnkitError("--task regress needs real-valued targets: a folder with targets.csv, or "
                              "from_arrays(X, y, regression=True)")
        return data.labels.reshape(len(data.labels), -1).shape[1]

    def fit_targets(self, data) -> None:
        y = data.labels.reshape(len(data.labels), -1).double()
        self.mean, self.std = y.mean(0).float(), y.std(0, correction=0).clamp_min(1e-8).float()

    def state(self) -> dict:
        return {"target_mean": self.mean.tolist(), "target_std": self.std.tolist()}

    def load_state(self, state):
        if state and "target_mean" in state:
            self.mean, self.std = torch.tensor(state["target_mean"]), torch.tensor(state["target_std"])
        return self

    def _standard(self, target):
        t = target.reshape(len(target), -1).float()
        if self.mean is None:
            return t
        return (t - self.mean.to(t.device)) / self.std.to(t.device)

    def values(self, out: torch.Tensor) -> torch.Tensor:
        """Network outputs -> predictions in the targets' units."""
        out = out.float()
        return out if self.mean is None else out * self.std.to(out.device) + self.mean.to(out.device)

    def loss(self, out, target):
        out, t = out.float(), self._standard(target)
        if self.loss_name == "mae":
            return F.l1_loss(out, t)
        if self.loss_name == "huber":
            return F.huber_loss(out, t)
        return F.mse_loss(out, t)

    def step_stat(self, out, target):
        return (self.values(out) - target.reshape(len(target), -1).float()).square().sum().detach()

    def train_row(self, stat, seen):
        return {"train_mse": stat / seen}

    def score(self, model, normalizer, images, labels, batch_size=1000, extras=None):
        return self.score_outputs(predict_logits(model, normalizer, images, batch_size, extras=extras), labels)

    def score_outputs(self, out, labels):
        pred = self.values(out).double().cpu()
        y = labels.reshape(len(labels), -1).double().cpu()
        err = pred - y
        ss_res = err.square().sum(0)
        ss_tot = (y - y.mean(0)).square().sum(0)
        r2 = torch.where(ss_tot > 0, 1 - ss_res / ss_tot.clamp_min(1e-300), torch.zeros_like(ss_tot))
        return {"mae": float(err.abs().mean()), "rmse": float(err.square().mean().sqrt()), "r2": float(r2.mean())}


class Generative(Task):
    """Tasks whose network outputs pictures rather than classes: no output layer to size, no class names."""

    def output_units(self, data):
        return None

    def run_classes(self, data):
        return []


class Reconstruct(Generative):
    name, headline, default_loss, losses = "reconstruct", "mse", "mse", ("mse", "bce")

    def __init__(self, loss="auto", label_smoothing=0.0, denoise=""):
        super().__init__(loss, label_smoothing, "")
        self.noise = parse_denoise(denoise)

    def batch(self, images, labels, gen):
        clean = images.float() / 255  # (B, C, H, W) on [0, 1]: the target
        kind, amount = self.noise
        if kind == "gaussian":
            noisy = (clean + amount * torch.randn(clean.shape, generator=gen, device=clean.device)).clamp(0, 1)
        elif kind == "mask":
            keep = torch.rand(clean.shape, generator=gen, device=clean.device) >= amount
            noisy = clean * keep
        else:
            return images, clean
        return noisy * 255, clean

    def loss(self, out, target):
        out = out.float().reshape(target.shape)
        if self.loss_name == "bce":
            return F.binary_cross_entropy(out.clamp(1e-6, 1 - 1e-6), target)
        return F.mse_loss(out, target)

    def step_stat(self, out, target):
        return (out.float().reshape(target.shape) - target).square().mean(dim=(1, 2, 3)).sum().detach()

    def train_row(self, stat, seen):
        return {"train_mse": stat / seen}

    def score(self, model, normalizer, images, labels, batch_size=1000, extras=None):
        total, n = 0.0, len(images)
        for i in range(0, n, batch_size):
            x = images[i:i + batch_size]
            out = predict_logits(model, normalizer, x, batch_size).reshape(x.shape)
            total += float((out - x.float() / 255).square().mean(dim=(1, 2, 3)).sum())
        return {"mse": total / max(n, 1)}


def binarize(images: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """Dynamic binarisation (Burda et al. 2016): each pixel 1 with probability its grey level, as float 0/1."""
    p = images.float() / 255
    return (torch.rand(p.shape, generator=gen, device=p.device) < p).float()


def vae_terms(logits: torch.Tensor, target: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor):
    """Per image: the reconstruction term -log p(x|z) of a Bernoulli decoder (nats, summed over pixels) and
    KL(q(z|x) || N(0, I)) in closed form, -1/2 sum(1 + log sigma^2 - mu^2 - sigma^2) (summed over z)."""
    rec = F.binary_cross_entropy_with_logits(logits.float().reshape(target.shape), target,
                                             reduction="none").flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu.square() - logvar.exp()).float().sum(1)
    return rec, kl


class VAE(Generative):
    """A variational autoencoder on dynamically binarised images: loss = reconstruction + beta x KL, the
    negative ELBO when beta = 1 (the headline, in nats per image); ``kl_warmup`` epochs raise beta from 0."""

    name, headline, default_loss, losses = "vae", "nelbo", "bce", ("bce",)

    def __init__(self, loss="auto", label_smoothing=0.0, denoise=""):
        super().__init__(loss, label_smoothing, denoise)
        self.beta, self.kl_warmup, self.beta_now = 1.0, 0.0, 1.0
        self.latent = None
        self._terms = torch.zeros(3)

    def bind(self, trainer) -> None:
        from cnnkit.layers.modules import Reparameterize

        self.beta, self.kl_warmup = trainer.cfg.beta, trainer.cfg.kl_warmup  # the run's options
        self.beta_now = 0.0 if self.kl_warmup > 0 else self.beta
        self.latent = next((m for m in trainer.model.modules() if isinstance(m, Reparameterize)), None)
        if self.latent is None:
            raise CnnkitError(f"--task vae needs a network with a latent code (a reparameterize layer, as in the "
                              f"zoo's vae-mnist); {trainer.model.spec.name} has none")

    def batch(self, images, labels, gen):
        x = binarize(images, gen)
        return x * 255, x

    def train_step(self, t, x, y, state):
        if self.kl_warmup > 0:
            self.beta_now = self.beta * min(1.0, state.step / max(1.0, self.kl_warmup * t.schedule.steps_per_epoch))
        return super().train_step(t, x, y, state)

    def loss(self, out, target):
        rec, kl = vae_terms(out, target, self.latent.mu, self.latent.logvar)
        self._terms = torch.stack([(rec + kl).sum(), rec.sum(), kl.sum()]).detach()
        return (rec + self.beta_now * kl).mean()

    def step_stat(self, out, target):
        return self._terms

    def train_row(self, stat, seen):
        return {"train_nelbo": stat[0] / seen, "train_recon": stat[1] / seen, "train_kl": stat[2] / seen}

    def score(self, model, normalizer, images, labels, batch_size=1000, extras=None):
        """One seeded binarisation of the split and one seeded sample of z per image: the negative ELBO,
        its reconstruction and KL terms (nats per image)."""
        from cnnkit.layers.modules import Reparameterize

        latent = next(m for m in model.modules() if isinstance(m, Reparameterize))
        g = torch.Generator(device=images.device).manual_seed(1234)
        was = model.training
        model.eval()
        latent.sampling, latent.generator = True, torch.Generator(device=images.device).manual_seed(4321)
        totals = torch.zeros(3, dtype=torch.float64)
        try:
            with torch.no_grad():
                for i in range(0, len(images), batch_size):
                    x = binarize(images[i:i + batch_size], g)
                    rec, kl = vae_terms(model(normalizer(x * 255)), x, latent.mu, latent.logvar)
                    totals += torch.stack([(rec + kl).sum(), rec.sum(), kl.sum()]).double().cpu()
        finally:
            latent.sampling, latent.generator = False, None
            model.train(was)
        n = max(len(images), 1)
        return {"nelbo": float(totals[0]) / n, "recon": float(totals[1]) / n, "kl": float(totals[2]) / n}


class GAN(Generative):
    """A generative adversarial network (Goodfellow et al. 2014): the trainer's model is the generator, the
    task owns the discriminator, its Adam optimizer and the random stream of latent codes, all three in every
    checkpoint.  Each step: the discriminator learns real (target 1, or 1 - s with one-sided label smoothing
    --label-smoothing s) against the generator's fakes (0); then the generator takes the non-saturating step,
    maximising log D(G(z)).  The generator's step leaves the discriminator's weights unchanged."""

    name, headline, default_loss, losses = "gan", "g_loss", "bce", ("bce",)

    def __init__(self, loss="auto", label_smoothing=0.0, denoise=""):
        super().__init__(loss, label_smoothing, denoise)
        self.disc = self.d_opt = self.z_gen = self.trainer = None
        self._stat = torch.zeros(4)

    def bind(self, trainer) -> None:
        from cnnkit.layers import build_from_spec
        from cnnkit.layers.init import initialize

        spec = trainer.model.spec
        if spec.discriminator is None:
            raise CnnkitError(f"--task gan needs a GAN spec (input, latent, generator and discriminator), e.g. the "
                              f"zoo's dcgan-mnist; {spec.name} is one network")
        self.trainer = trainer
        dev = next(trainer.model.parameters()).device
        self.disc = build_from_spec(spec.discriminator).to(dev)  # drawn from the seeded global RNG, after G
        initialize(self.disc, trainer.cfg.init)
        self.d_opt = torch.optim.Adam(self.disc.parameters(), lr=trainer.cfg.lr, betas=(trainer.cfg.momentum, 0.999))
        self.z_gen = torch.Generator(device=dev).manual_seed(trainer.cfg.seed + 3)
        self.latent = spec.input[0]

    def codes(self, n: int, device) -> torch.Tensor:
        return torch.randn(n, self.latent, 1, 1, generator=self.z_gen, device=device)

    def train_step(self, t, x, y, state):
        real = x
        n = real.shape[0]
        fake = t.forward_module(self.codes(n, real.device)).reshape(real.shape)
        d_real, d_fake = self.disc(real).flatten(), self.disc(fake.detach()).flatten()
        target = 1.0 - self.label_smoothing  # one-sided: only the real images' target is smoothed
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, target))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        t.check_finite(loss_d, state)
        self.d_opt.zero_grad(set_to_none=True)
        loss_d.backward()
        self.d_opt.step()
        judged = self.disc(fake).flatten()
        loss_g = F.binary_cross_entropy_with_logits(judged, torch.ones_like(judged))  # non-saturating
        t.check_finite(loss_g, state)
        t.optimizer.zero_grad(set_to_none=True)
        loss_g.backward()
        t.optimizer.step()
        with torch.no_grad():
            self._stat = torch.stack([loss_d.detach() * n, loss_g.detach() * n, torch.sigmoid(d_real).sum(),
                                      torch.sigmoid(d_fake).sum()]).float()
        return loss_g, fake

    def step_stat(self, out, target):
        return self._stat

    def train_row(self, stat, seen):
        row = {"train_d_loss": stat[0] / seen, "train_g_loss": stat[1] / seen, "train_d_real": stat[2] / seen,
               "train_d_fake": stat[3] / seen}
        if row["train_d_loss"] < 0.05 and self.trainer is not None:
            self.trainer.notify("on_message", f"warning: the discriminator's loss fell to {row['train_d_loss']:.3f}: "
                                              f"it wins outright and the generator learns little; lower its "
                                              f"learning rate or add --label-smoothing 0.1")
        return row

    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = {f"disc.{k}": v for k, v in self.disc.state_dict().items()}
        for i, st in self.d_opt.state_dict()["state"].items():
            out.update({f"d_opt.{i}.{k}": v for k, v in st.items()})
        out["z_gen"] = self.z_gen.get_state()
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if not tensors:
            return
        self.disc.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("disc.")})
        state: dict[int, dict] = {}
        for k, v in tensors.items():
            if k.startswith("d_opt."):
                _, i, name = k.split(".", 2)
                state.setdefault(int(i), {})[name] = v
        saved = self.d_opt.state_dict()
        saved["state"] = state
        self.d_opt.load_state_dict(saved)
        self.z_gen.set_state(tensors["z_gen"])

    def score(self, model, normalizer, images, labels, batch_size=1000, extras=None):
        """The discriminator on the split's real images and on as many fakes from fixed codes (seed 0)."""
        if self.disc is None:
            raise CnnkitError("a GAN is scored while it trains (summary.json); 'cnnkit sample RUN' draws from it")
        g = torch.Generator(device=images.device).manual_seed(0)
        was_g, was_d = model.training, self.disc.training
        model.eval()
        self.disc.eval()
        sums = torch.zeros(4, dtype=torch.float64)
        try:
            with torch.no_grad():
                for i in range(0, len(images), batch_size):
                    real = normalizer(images[i:i + batch_size])
                    z = torch.randn(len(real), self.latent, 1, 1, generator=g, device=real.device)
                    d_real = self.disc(real).flatten()
                    d_fake = self.disc(model(z).reshape(real.shape)).flatten()
                    sums += torch.stack([
                        F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real), reduction="sum")
                        + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake), reduction="sum"),
                        F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake), reduction="sum"),
                        torch.sigmoid(d_real).sum(), torch.sigmoid(d_fake).sum()]).double().cpu()
        finally:
            model.train(was_g)
            self.disc.train(was_d)
        n = max(len(images), 1)
        return {"d_loss": float(sums[0]) / n, "g_loss": float(sums[1]) / n, "d_real": float(sums[2]) / n,
                "d_fake": float(sums[3]) / n}


def parse_denoise(text: str) -> tuple[str, float]:
    if not text:
        return "", 0.0
    kind, _, value = text.partition(":")
    kind = kind.strip().lower()
    if kind not in ("gaussian", "mask"):
        raise CnnkitError(f"--denoise must be gaussian[:SIGMA] or mask[:FRACTION], got {text!r}")
    try:
        amount = float(value) if value else (0.3 if kind == "gaussian" else 0.25)
    except ValueError:
        raise CnnkitError(f"--denoise {text!r}: the amount must be a number") from None
    if not 0 < amount < (10 if kind == "gaussian" else 1):
        raise CnnkitError(f"--denoise {text!r}: the amount is out of range")
    return kind, amount


class MultiHead(Task):
    """Several heads, each with its own task and loss weight: the loss is the weighted sum of theirs."""

    name = "heads"

    def __init__(self, heads: dict[str, tuple[Task, float]]):
        self.heads = heads
        first = next(iter(heads))
        self.headline = f"{first}_{heads[first][0].headline}"

    def _part(self, data, head):
        from types import SimpleNamespace

        return SimpleNamespace(labels=data.targets[head], classes=data.target_classes[head])

    def fit_targets(self, data) -> None:
        for head, (task, _) in self.heads.items():
            task.fit_targets(self._part(data, head))

    def state(self) -> dict:
        return {head: task.state() for head, (task, _) in self.heads.items()}

    def load_state(self, state):
        for head, (task, _) in self.heads.items():
            task.load_state((state or {}).get(head))
        return self

    def output_units(self, data):
        if not data.targets:
            raise CnnkitError(f"a network with heads {', '.join(self.heads)} needs targets for each: "
                              f"from_arrays(X, {{{', '.join(repr(h) + ': ...' for h in self.heads)}}})")
        missing = [h for h in self.heads if h not in data.targets]
        if missing:
            raise CnnkitError(f"no targets for head(s) {', '.join(missing)}; the data has {', '.join(data.targets)}")
        return {head: task.output_units(self._part(data, head)) for head, (task, _) in self.heads.items()}

    def run_classes(self, data):
        return list(self.heads)

    def loss(self, out, target):
        return sum(w * task.loss(out[h], target[h]) for h, (task, w) in self.heads.items())

    def step_stat(self, out, target):
        return torch.stack([task.step_stat(out[h], target[h]).double() for h, (task, _) in self.heads.items()])

    def train_row(self, stat, seen):
        row = {}
        for value, (h, (task, _)) in zip(stat, self.heads.items()):
            row.update({f"train_{h}_{k[len('train_'):]}": v for k, v in task.train_row(value, seen).items()})
        return row

    def score(self, model, normalizer, images, labels, batch_size=1000, extras=None):
        outs = predict_logits(model, normalizer, images, batch_size, extras=extras)
        scores = {}
        for h, (task, _) in self.heads.items():
            scores.update({f"{h}_{k}": v for k, v in task.score_outputs(outs[h], labels[h]).items()
                           if k != "errors"})
        return scores


def heads_task(head_tasks) -> MultiHead:
    """The task of a several-head spec: ``((name, task, weight), ...)``."""
    return MultiHead({name: (make_task(task), weight) for name, task, weight in head_tasks})


#: every task by its name: the one list that --task, the config and the estimator read
TASK_CLASSES = {"classify": Classify, "regress": Regress, "reconstruct": Reconstruct, "rotation": Rotation,
                "vae": VAE, "gan": GAN}
TASKS = tuple(TASK_CLASSES)


def make_task(name: str, loss: str = "auto", label_smoothing: float = 0.0, denoise: str = "") -> Task:
    classes = TASK_CLASSES
    if name not in classes:
        raise CnnkitError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    return classes[name](loss, label_smoothing, denoise)
