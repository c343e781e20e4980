"""Tasks beyond classification, each trained on a small real slice: the loss falls and the metric clears a bar."""

import json

import numpy as np
import pytest
import torch

import cnnkit
import cnnkit.data
from cnnkit.errors import CnnkitError


def test_conv_ae_reconstructs_mnist(tmp_path, data_root):
    r = cnnkit.train("conv-ae", "mnist", out=str(tmp_path / "ae"), epochs=2, limit_train=12000, limit_test=1000,
                     quiet=True, data_dir=str(data_root))
    losses = [row["train_loss"] for row in r.history]
    assert losses[-1] < losses[0]
    assert r.summary["task"] == "reconstruct" and r.summary["test_mse"] < 0.05  # per pixel, [0, 1] scale
    saved = json.loads((tmp_path / "ae" / "summary.json").read_text())
    assert saved["test_mse"] == r.summary["test_mse"]
    m = cnnkit.evaluate(str(tmp_path / "ae"))
    assert m["task"] == "reconstruct" and abs(m["mse"] - r.summary["test_mse"]) < 0.01  # whole test set


def test_denoising_corrupts_the_input_only(tmp_path, data_root):
    from cnnkit.evaluate.tasks import make_task

    task = make_task("reconstruct", denoise="mask:0.5")
    images = torch.full((4, 1, 8, 8), 200, dtype=torch.uint8)
    noisy, target = task.batch(images, torch.zeros(4), torch.Generator().manual_seed(0))
    assert torch.allclose(target, torch.full_like(target, 200 / 255))  # the clean image is the target
    assert 0.3 < (noisy == 0).float().mean() < 0.7
    r = cnnkit.train("conv-ae", "mnist", out=str(tmp_path / "dae"), epochs=1, limit_train=12000, limit_test=500,
                     denoise="gaussian:0.3", quiet=True, data_dir=str(data_root))
    assert r.summary["test_mse"] < 0.08  # scored on clean inputs


def test_regression_on_arrays(tmp_path, mnist):
    x = mnist["train"].images[:3000, 0].numpy()
    ink = x.astype(np.float64).mean(axis=(1, 2)) / 255  # how much of the picture is ink
    rows = np.arange(28)[None, :, None]
    centre = (x * rows).sum(axis=(1, 2)) / np.maximum(x.sum(axis=(1, 2)), 1) / 28  # centre of mass, height
    y = np.stack([ink * 10, centre * 10], 1)
    data = cnnkit.data.from_arrays(x, y, classes=["ink", "centre"], regression=True)
    r = cnnkit.train("lenet5", data=data, task="regress", epochs=10, batch_size=64, augment="", val_split=0.2,
                     out=str(tmp_path / "reg"), quiet=True)
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]
    assert r.history[-1]["val_r2"] > 0.7, r.history[-1]
    assert cnnkit.load(str(tmp_path / "reg")).classes == ["ink", "centre"]


def test_fractional_labels_are_not_read_as_classes(mnist):
    x = mnist["train"].images[:10, 0].numpy()
    with pytest.raises(CnnkitError, match="regression=True"):
        cnnkit.data.from_arrays(x, np.linspace(0, 1, 10))


def test_rotation_pretext_learns_from_unlabelled_images(tmp_path, data_root):
    r = cnnkit.train("lenet5", "mnist", task="rotation", out=str(tmp_path / "rot"), epochs=2, limit_train=5000,
                     limit_test=1000, quiet=True, data_dir=str(data_root))
    assert r.summary["test_top1_error"] < 0.4  # chance: 0.75; 0, 1, 8 are ambiguous under 180 degrees
    tm = cnnkit.load(str(tmp_path / "rot"))
    assert tm.classes == ["0", "90", "180", "270"] and tm.model.num_classes == 4


def test_rotate_turns_each_image_by_its_own_quarter_turns():
    from cnnkit.evaluate.tasks import rotate

    x = torch.arange(2 * 9, dtype=torch.uint8).reshape(2, 1, 3, 3)
    out = rotate(x, torch.tensor([1, 2]))
    assert torch.equal(out[0], torch.rot90(x[0], 1, (-2, -1))) and torch.equal(out[1], torch.rot90(x[1], 2, (-2, -1)))


def test_reconstruct_needs_a_network_as_wide_as_its_input(tmp_path, data_root):
    with pytest.raises(CnnkitError, match="as many values as its input"):
        cnnkit.train("lenet5", "mnist", task="reconstruct", out=str(tmp_path / "x"), epochs=1, limit_train=256,
                     quiet=True, data_dir=str(data_root))
    assert not (tmp_path / "x").exists()
