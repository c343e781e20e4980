"""GANs: the spec, one alternating step as specified, exact resume after SIGKILL, sampling."""

import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

import cnnkit
from cnnkit.errors import CnnkitError, SpecError
from cnnkit.spec import parse_spec, spec_to_data

TINY = {"input": [1, 28, 28], "latent": 8,
        "generator": [{"type": "fc", "units": 16 * 7 * 7, "activation": "relu"},
                      {"type": "reshape", "shape": [16, 7, 7]},
                      {"type": "conv_transpose", "filters": 8, "size": 4, "stride": 2, "pad": 1, "activation": "relu"},
                      {"type": "conv_transpose", "filters": 1, "size": 4, "stride": 2, "pad": 1,
                       "activation": "sigmoid"}],
        "discriminator": [{"type": "conv", "filters": 8, "size": 4, "stride": 2, "pad": 1, "activation": "relu"},
                          {"type": "dropout", "p": 0.3}, "FC-1"]}


def test_gan_spec_round_trip_and_errors():
    s = parse_spec(TINY)
    assert s.input == (8, 1, 1) and s.discriminator.input == (1, 28, 28)
    assert parse_spec(spec_to_data(s)) == s
    with pytest.raises(SpecError, match="discriminator missing"):
        parse_spec({k: v for k, v in TINY.items() if k != "discriminator"})
    with pytest.raises(SpecError, match="'latent' belongs to a GAN spec"):
        parse_spec({"input": [1, 28, 28], "latent": 3, "layers": ["FC-10"]})


@pytest.fixture
def trainer(data_root, mnist):
    from cnnkit.train.config import resolve_config
    from cnnkit.train.run import make_trainer

    cfg = resolve_config("dcgan-mnist", {"batch_size": 32})
    return make_trainer(cfg, parse_spec(TINY), mnist["train"].subset(range(256)), torch.device("cpu"))


def test_one_step_trains_the_discriminator_then_the_generator_only(trainer, mnist):
    from cnnkit.train.loop import FitState

    task, t = trainer.task, trainer
    seen = []
    task.disc.register_forward_hook(lambda m, i, o: seen.append(i[0].detach().clone()))
    d_before = {k: v.clone() for k, v in task.disc.state_dict().items()}
    g_before = {k: v.clone() for k, v in t.model.state_dict().items()}
    after_d_step = {}
    step = task.d_opt.step

    def spy(*a, **kw):
        out = step(*a, **kw)
        after_d_step.update({k: v.clone() for k, v in task.disc.state_dict().items()})
        return out

    task.d_opt.step = spy
    real = t.normalizer(mnist["train"].images[:32])
    task.train_step(t, real, None, FitState())
    assert len(seen) == 3 and torch.equal(seen[0], real)  # real, then the fakes twice (its step, then G's)
    assert torch.equal(seen[1], seen[2]) and not torch.equal(seen[1], real)
    assert any(not torch.equal(d_before[k], after_d_step[k]) for k in d_before)  # D learnt
    assert all(torch.equal(after_d_step[k], v) for k, v in task.disc.state_dict().items())  # G's step left D alone
    assert any(not torch.equal(g_before[k], v) for k, v in t.model.state_dict().items())  # G learnt


def test_a_gan_needs_task_gan(tmp_path, data_root):
    with pytest.raises(CnnkitError, match="train it with --task gan"):
        cnnkit.train("dcgan-mnist", out=str(tmp_path / "x"), task="classify", epochs=1, limit_train=64, quiet=True)
    assert not (tmp_path / "x").exists()


def test_a_killed_gan_resumes_exactly_and_samples_are_seeded(tmp_path, data_root, killed_then_resumed):
    from cnnkit.evaluate.generate import interpolate, sample
    from cnnkit.rundir.artifacts import read_weights

    spec = tmp_path / "tiny-gan.yaml"
    import json

    spec.write_text(json.dumps(TINY))
    env = dict(os.environ, CNNKIT_DATA=str(data_root))
    cmd = [sys.executable, "-m", "cnnkit", "train", str(spec), "--recipe", "model:dcgan-mnist", "--limit-train", "1024",
           "--limit-test", "128", "--epochs", "3", "--threads", "1", "--quiet", "--label-smoothing", "0.1"]
    subprocess.run([*cmd, "--out", str(tmp_path / "ref")], check=True, env=env, capture_output=True, timeout=300)
    run = tmp_path / "killed"
    r = killed_then_resumed(cmd, run)
    assert r.returncode == 0, r.stderr
    want, got = (read_weights(d / "checkpoint.safetensors")[0] for d in (tmp_path / "ref", run))
    assert any(k.startswith("task.disc.") for k in want) and any(k.startswith("task.d_opt.") for k in want)
    assert all(torch.equal(want[k], got[k]) for k in want)  # generator, discriminator, both optimizers, z stream
    a, b = (sample(run, n=6, seed=3, out=tmp_path / f"{n}.png") for n in "ab")
    assert Image.open(a["out"]).tobytes() == Image.open(b["out"]).tobytes()
    assert Image.open(a["out"]).size == ((3 * 29 + 1) * 2, (2 * 29 + 1) * 2)
    walk = interpolate(run, "1", "2", steps=5, out=tmp_path / "walk.png")
    assert Image.open(walk["out"]).size == ((5 * 29 + 1) * 2, 30 * 2)
    from cnnkit.evaluate.report import write_report

    page = write_report(run).read_text()  # the generator's pictures and both losses' curves, no feature maps
    assert "Samples from the generator" in page and "Feature maps" not in page
