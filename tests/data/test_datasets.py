"""The shared real datasets, found through CNNKIT_DATA like a user's download cache."""

import numpy as np
import pytest
import torch

from cnnkit.data import from_arrays, load_dataset
from cnnkit.data.sources import ChecksumWarning
from cnnkit.data.tensors import fit_to_input, split
from cnnkit.errors import CnnkitError


def test_mnist_shapes_and_stats(mnist):
    assert len(mnist["train"]) == 60_000 and len(mnist["test"]) == 10_000
    assert mnist["train"].images.dtype == torch.uint8 and mnist.shape == (1, 28, 28)
    assert mnist["test"].labels[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]
    mean, std = mnist["train"].channel_stats()
    assert mean[0] == pytest.approx(0.1307, abs=5e-4) and std[0] == pytest.approx(0.3081, abs=5e-4)


def test_reconstructed_mnist_file_warns_but_loads(data_root):
    with pytest.warns(ChecksumWarning, match="train-images-idx3-ubyte.gz differs"):
        ds = load_dataset("mnist", data_root)
    assert len(ds["train"]) == 60_000


def test_fashion_mnist_classes(data_root):
    ds = load_dataset("fashion-mnist", data_root)
    assert ds.classes[9] == "Ankle boot" and len(ds["test"]) == 10_000


def test_unknown_dataset_suggests():
    with pytest.raises(CnnkitError, match="did you mean 'mnist'"):
        load_dataset("mnsit")


def test_from_arrays_layouts_and_string_labels():
    x = np.random.default_rng(0).random((6, 8, 8, 3))
    d = from_arrays(x, ["b", "a", "b", "c", "a", "c"])
    assert d.images.shape == (6, 3, 8, 8) and d.classes == ["a", "b", "c"]
    assert d.labels.tolist() == [1, 0, 1, 2, 0, 2]
    assert from_arrays(np.zeros((2, 5, 5), np.uint8), [0, 1]).images.shape == (2, 1, 5, 5)


def test_fit_to_input_pads_small_and_resizes_large():
    x = torch.full((2, 1, 28, 28), 7, dtype=torch.uint8)
    padded = fit_to_input(x, (1, 32, 32))
    assert padded.shape == (2, 1, 32, 32) and padded[0, 0, 0, 0] == 0 and padded[0, 0, 2, 2] == 7
    big = fit_to_input(x, (3, 64, 64))
    assert big.shape == (2, 3, 64, 64) and int(big.float().mean().round()) == 7


def test_split_is_seeded_and_disjoint():
    d = from_arrays(np.arange(100, dtype=np.uint8).reshape(100, 1, 1, 1).repeat(2, 2), list(range(100)))
    a, b = split(d, 0.2, seed=5)
    a2, b2 = split(d, 0.2, seed=5)
    assert len(b) == 20 and b.labels.tolist() == b2.labels.tolist()
    assert not set(a.labels.tolist()) & set(b.labels.tolist())
