"""Variational autoencoders: the ELBO's terms, the sampling step, training, exact resume, sample grids."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

import cnnkit
from cnnkit.errors import CnnkitError, SpecError
from cnnkit.evaluate.tasks import vae_terms
from cnnkit.layers.modules import Reparameterize

SMALL = dict(limit_train=2000, limit_test=300, epochs=3, batch_size=32, quiet=True)


def test_elbo_terms_by_hand():
    logits = torch.tensor([[0.0, 2.0, -1.0]])
    x = torch.tensor([[1.0, 0.0, 1.0]])
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.0, math.log(4.0)]])
    rec, kl = vae_terms(logits, x, mu, logvar)
    p = [1 / (1 + math.exp(-v)) for v in (0.0, 2.0, -1.0)]
    want_rec = -(math.log(p[0]) + math.log(1 - p[1]) + math.log(p[2]))
    # KL(N(mu, s^2) || N(0, 1)) = (s^2 + mu^2 - 1 - log s^2) / 2 per variable
    want_kl = (1 + 0.25 - 1 - 0) / 2 + (4 + 1 - 1 - math.log(4)) / 2
    assert rec.item() == pytest.approx(want_rec, rel=1e-5) and kl.item() == pytest.approx(want_kl, rel=1e-5)


def test_reparameterised_samples_have_the_mean_and_variance_of_q():
    layer = Reparameterize(2).train()
    layer.generator = torch.Generator().manual_seed(0)
    mu, var = torch.tensor([1.0, -2.0]), torch.tensor([4.0, 0.25])
    x = torch.cat([mu, var.log()]).repeat(40_000, 1).requires_grad_()
    z = layer(x)
    assert torch.allclose(z.mean(0), mu, atol=0.03) and torch.allclose(z.var(0), var, rtol=0.03)
    z.sum().backward()  # gradients reach mu and log sigma^2 through the sample
    assert x.grad[:, :2].abs().sum() > 0 and x.grad[:, 2:].abs().sum() > 0
    assert torch.equal(layer.eval()(x[:3]), x[:3, :2])  # the mean at inference


def test_the_inspector_wants_two_numbers_per_latent_variable():
    spec = {"input": [1, 28, 28], "layers": ["FC-30", {"type": "reparameterize", "latent": 20}, "FC-784"]}
    with pytest.raises(SpecError, match="needs 2 x latent = 40 inputs"):
        cnnkit.summary(spec)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("vae") / "run"
    return cnnkit.train("vae-mnist", out=str(out), **SMALL)


def test_a_short_vae_run_learns(vae_run):
    s = vae_run.summary
    # a decoder that knows nothing costs 784 log 2 = 543 nats, one that draws every digit as the mean picture
    # about 206 (each pixel Bernoulli with its mean grey level); 3 epochs on 2,000 digits beat both
    assert s["test_nelbo"] < 190 and s["test_nelbo"] == pytest.approx(s["test_recon"] + s["test_kl"], rel=1e-6)
    assert s["test_kl"] > 1  # the code carries information
    assert [r["train_nelbo"] for r in vae_run.history][-1] < vae_run.history[0]["train_nelbo"]


def test_sample_grid_size_and_determinism(vae_run, tmp_path):
    from cnnkit.evaluate.generate import sample

    a = sample(vae_run.path, n=12, seed=5, out=tmp_path / "a.png")
    b = sample(vae_run.path, n=12, seed=5, out=tmp_path / "b.png")
    c = sample(vae_run.path, n=12, seed=6, out=tmp_path / "c.png")
    pa, pb, pc = (Image.open(r["out"]) for r in (a, b, c))
    assert pa.size == ((4 * 29 + 1) * 2, (3 * 29 + 1) * 2)  # 4 x 3 cells of 28 + a 1-pixel gap, doubled
    assert pa.tobytes() == pb.tobytes() != pc.tobytes()
    r = subprocess.run([sys.executable, "-m", "cnnkit", "sample", str(vae_run.path), "--interpolate", "0", "1",
                        "--steps", "6", "--out", str(tmp_path / "walk.png"), "--json"], capture_output=True, text=True,
                       env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert Image.open(json.loads(r.stdout)["out"]).size == ((6 * 29 + 1) * 2, 30 * 2)


def test_sample_refuses_a_classifier(tmp_path, data_root):
    run = cnnkit.train("lenet5", "mnist", out=str(tmp_path / "c"), epochs=1, limit_train=300, limit_test=100,
                       quiet=True)
    from cnnkit.evaluate.generate import sample

    with pytest.raises(CnnkitError, match="is not a VAE or GAN run"):
        sample(run.path)


def test_a_diverging_vae_names_epoch_and_step(tmp_path, data_root):
    with pytest.raises(CnnkitError, match=r"loss became .* in epoch 1, step \d+"):
        cnnkit.train("vae-mnist", out=str(tmp_path / "nan"), lr=1e6, optimizer="sgd", **SMALL)


def test_a_killed_vae_resumes_to_the_uninterrupted_result(tmp_path, data_root, killed_then_resumed):
    from cnnkit.rundir.artifacts import read_weights

    env = dict(os.environ, CNNKIT_DATA=str(data_root))
    cmd = [sys.executable, "-m", "cnnkit", "train", "vae-mnist", "--limit-train", "1200", "--limit-test", "200",
           "--epochs", "3", "--threads", "1", "--quiet", "--kl-warmup", "1"]
    subprocess.run([*cmd, "--out", str(tmp_path / "ref")], check=True, env=env, capture_output=True, timeout=300)
    run = tmp_path / "killed"
    r = killed_then_resumed(cmd, run)
    assert r.returncode == 0, r.stderr
    want, got = (read_weights(d / "model.safetensors")[0] for d in (tmp_path / "ref", run))
    assert all(torch.equal(want[k], got[k]) for k in want)
