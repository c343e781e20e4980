"""Real training on a slice of shared MNIST: accuracy, resume equivalence, run files, config strictness."""

import json

import pytest
import torch

import cnnkit
from cnnkit.errors import CnnkitError
from cnnkit.rundir.artifacts import read_weights
from cnnkit.train.config import TrainConfig, merge, resolve_config
from cnnkit.train.loop import Callback

QUICK = dict(limit_train=6000, limit_test=2000, epochs=3, batch_size=64, quiet=True, device="cpu")


def test_short_run_learns_mnist(tmp_path, data_root):
    r = cnnkit.train("lenet5", "mnist", out=str(tmp_path / "run"), **QUICK)
    # 6,000 digits, 3 epochs: a working LeNet-5 is far below 10% test error (chance: 90%)
    assert r.summary["test_top1_error"] < 0.08
    assert r.summary["test_n"] == 2000 and r.summary["test_errors"] == round(r.summary["test_top1_error"] * 2000)
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.json", "spec.json", "metrics.jsonl", "checkpoint.safetensors", "model.safetensors",
            "model.json", "best.safetensors", "summary.json"} <= files
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert all(row["images"] == 6000 and row["images_per_second"] > 0 for row in rows)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    _, meta = read_weights(tmp_path / "run" / "model.safetensors")
    assert meta["classes"] == [str(d) for d in range(10)] and meta["normalizer"]["method"] == "standardize"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert {"test_top1_error", "test_top5_error", "test_errors", "train_seconds"} <= set(summary)


class StopAfter(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, state, row):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


def _weights(path):
    tensors, _ = read_weights(path / "model.safetensors")
    return tensors


@pytest.mark.parametrize("options", [
    dict(), dict(val_split=0.1, schedule="plateau", patience=1),
    dict(optimizer="adam", lr=0.002, nesterov=False),  # fused Adam: its step counters travel in the checkpoint too
    # SDLM: its curvature, re-estimated before each pass, travels in the checkpoint too
    dict(optimizer="sdlm", lr=0.0005, nesterov=False, momentum=0.0, schedule="lecun1998", init="lecun1998"),
    pytest.param(dict(device="cuda", deterministic=True),
                 marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"))])
def test_resume_ends_exactly_like_an_uninterrupted_run(tmp_path, data_root, options):
    opts = dict(QUICK, limit_train=3000, limit_test=500, augment="translate", **options)
    full = cnnkit.train("lenet5", "mnist", out=str(tmp_path / "full"), **opts)
    with pytest.raises(KeyboardInterrupt):
        cnnkit.train("lenet5", "mnist", out=str(tmp_path / "cut"), callbacks=[StopAfter(1)], **opts)
    assert not (tmp_path / "cut" / "run.lock").exists()
    resumed = cnnkit.train("lenet5", "mnist", resume=str(tmp_path / "cut"), quiet=True)
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("seconds", "images_per_second")} for r in rows]  # noqa: E731
    assert strip(full.history) == strip(resumed.history)
    assert full.summary["test_errors"] == resumed.summary["test_errors"]


def test_existing_run_is_not_overwritten(tmp_path, data_root):
    out = str(tmp_path / "run")
    cnnkit.train("lenet5", "mnist", out=out, **dict(QUICK, epochs=1, limit_train=500))
    with pytest.raises(CnnkitError, match="already holds a run"):
        cnnkit.train("lenet5", "mnist", out=out, **dict(QUICK, epochs=1, limit_train=500))
    with pytest.raises(CnnkitError, match="differs from the run's"):
        cnnkit.train("lenet5", "mnist", resume=out, lr=0.5)


def test_config_is_strict_and_layered(tmp_path):
    cfg = resolve_config("lenet5", {"epochs": 3})
    assert (cfg.dataset, cfg.epochs, cfg.nesterov) == ("mnist", 3, True)  # recipe, then flags
    f = tmp_path / "c.yaml"
    f.write_text("lr: 0.2\nepochs: 4\n")
    cfg = resolve_config("lenet5", {"epochs": 5}, f)
    assert (cfg.lr, cfg.epochs) == (0.2, 5)
    with pytest.raises(CnnkitError, match="unknown key 'learning_rate'"):
        merge(TrainConfig(), {"learning_rate": 1}, "x")
    with pytest.raises(CnnkitError, match="must be a whole number"):
        merge(TrainConfig(), {"epochs": 1.5}, "x")
    with pytest.raises(CnnkitError, match="optimizer must be one of"):
        resolve_config("lenet5", {"optimizer": "sgdd"})
    with pytest.raises(CnnkitError, match="plateau"):
        resolve_config("lenet5", {"schedule": "plateau", "val_split": 0})


def test_schedules():
    from cnnkit.train.schedule import LRSchedule

    cfg = TrainConfig(lr=1.0, epochs=10, schedule="plateau", val_split=0.1, patience=1, max_drops=2)
    s = LRSchedule(cfg, steps_per_epoch=5)
    errs = [0.5, 0.4, 0.4, 0.4, 0.4, 0.3]
    drops = [s.end_epoch(e) is not None for e in errs]
    assert drops == [False, False, True, True, False, False] and s.lr_at(0) == pytest.approx(0.01)
    cos = LRSchedule(TrainConfig(lr=1.0, epochs=2, schedule="cosine"), 10)
    assert cos.lr_at(0) == 1.0 and cos.lr_at(10) == pytest.approx(0.5) and cos.lr_at(20) == pytest.approx(0.0)
    step = LRSchedule(TrainConfig(lr=1.0, epochs=9, schedule="step", step_size=3), 10)
    assert [step.lr_at(e * 10) for e in (0, 3, 6)] == pytest.approx([1.0, 0.1, 0.01])


class CtrlCAt(Callback):
    """Deliver a real SIGINT in the middle of an epoch."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, state, batch, loss, images):
        import os
        import signal

        if state.epoch == self.epoch and batch == self.batch:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_mid_epoch_checkpoints_and_resumes_exactly(tmp_path, data_root):
    opts = dict(QUICK, limit_train=2000, limit_test=500, epochs=2, augment="translate")
    full = cnnkit.train("lenet5", "mnist", out=str(tmp_path / "full"), **opts)
    with pytest.raises(KeyboardInterrupt):
        cnnkit.train("lenet5", "mnist", out=str(tmp_path / "cut"), callbacks=[CtrlCAt(1, 10)], **opts)
    _, meta = read_weights(tmp_path / "cut" / "checkpoint.safetensors")
    assert meta["checkpoint"]["epoch"] == 1 and meta["checkpoint"]["partial"]["batch"] == 11
    resumed = cnnkit.train("lenet5", "mnist", resume=str(tmp_path / "cut"), quiet=True)
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["train_loss"] for r in full.history] == [r["train_loss"] for r in resumed.history]


class PoisonAfter(Callback):
    """After epoch 1 is checkpointed, corrupt a weight of the network in training so that epoch 2 diverges."""

    def bind(self, trainer):
        self.trainer = trainer  # the trainer that holds this callback

    def on_epoch_end(self, state, row):
        if state.epoch == 1:
            with torch.no_grad():
                self.trainer.model.features.conv1.conv.weight.fill_(float("nan"))


def test_diverging_loss_stops_with_advice_and_keeps_the_checkpoint(tmp_path, data_root):
    out = tmp_path / "run"
    with pytest.raises(CnnkitError, match=r"loss became nan in epoch 2, (at or before )?step \d+; try a lower"):
        cnnkit.train("lenet5", "mnist", out=str(out), callbacks=[PoisonAfter()],
                     **dict(QUICK, epochs=2, limit_train=500))
    assert not (out / "run.lock").exists()
    tensors, meta = read_weights(out / "checkpoint.safetensors")
    assert meta["checkpoint"]["epoch"] == 1
    assert all(torch.isfinite(v).all() for k, v in tensors.items() if v.is_floating_point())


def test_gpu_code_paths_on_cpu_bf16_autocast_and_compile(tmp_path, data_root):
    """The GPU recipe's autocast and torch.compile paths, exercised on the CPU (slower there, but correct)."""
    r = cnnkit.train("lenet5", "mnist", out=str(tmp_path / "amp"), amp="bf16",
                     **dict(QUICK, epochs=2, limit_train=3000))
    assert r.summary["test_top1_error"] < 0.15
    r = cnnkit.train("mlp", "mnist", out=str(tmp_path / "compiled"), compile=True,
                     **dict(QUICK, epochs=2, limit_train=3000))
    assert r.summary["test_top1_error"] < 0.15
    with pytest.raises(CnnkitError, match="fp16 needs a GPU"):
        cnnkit.train("lenet5", "mnist", out=str(tmp_path / "fp16"), amp="fp16", **dict(QUICK, epochs=1))
