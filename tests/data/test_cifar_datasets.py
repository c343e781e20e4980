"""CIFAR-10/100 through load_dataset, from small files the test writes in the official layouts."""

import io
import pickle
import tarfile

import numpy as np
import pytest

from cnnkit.data import load_dataset
from cnnkit.errors import CnnkitError

RNG = np.random.default_rng(0)


def _binary_batch(n, label_bytes=1, classes=10):
    labels = RNG.integers(0, classes, (n, label_bytes), dtype=np.uint8)
    return np.concatenate([labels, RNG.integers(0, 256, (n, 3072), dtype=np.uint8)], 1).tobytes(), labels[:, -1]


def test_cifar10_binary_folder(tmp_path):
    d = tmp_path / "cifar10" / "cifar-10-batches-bin"
    d.mkdir(parents=True)
    want = []
    for i in range(1, 6):
        blob, labels = _binary_batch(4)
        (d / f"data_batch_{i}.bin").write_bytes(blob)
        want += labels.tolist()
    blob, test_labels = _binary_batch(3)
    (d / "test_batch.bin").write_bytes(blob)
    ds = load_dataset("cifar10", tmp_path)
    assert len(ds["train"]) == 20 and ds["train"].labels.tolist() == want
    assert ds["test"].labels.tolist() == test_labels.tolist() and ds.classes[0] == "airplane"


def test_cifar10_python_tarball_read_without_unpacking(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, n in [*[(f"data_batch_{i}", 2) for i in range(1, 6)], ("test_batch", 5)]:
            data = RNG.integers(0, 256, (n, 3072), dtype=np.uint8)
            payload = pickle.dumps({b"data": data, b"labels": list(range(n))}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "cifar-10-python.tar.gz").write_bytes(buf.getvalue())
    with pytest.warns(UserWarning, match="differs from the official release"):
        ds = load_dataset("cifar10", tmp_path)
    assert len(ds["train"]) == 10 and ds["test"].labels.tolist() == [0, 1, 2, 3, 4]
    assert not (tmp_path / "cifar10" / "cifar-10-batches-py").exists()


def test_cifar100_binary_fine_labels(tmp_path):
    d = tmp_path / "cifar100" / "cifar-100-binary"
    d.mkdir(parents=True)
    blob, fine = _binary_batch(6, label_bytes=2, classes=100)
    (d / "train.bin").write_bytes(blob)
    (d / "test.bin").write_bytes(_binary_batch(2, label_bytes=2, classes=100)[0])
    (d / "fine_label_names.txt").write_text("\n".join(f"class{i}" for i in range(100)) + "\n")
    ds = load_dataset("cifar100", tmp_path)
    assert ds["train"].labels.tolist() == fine.tolist() and len(ds.classes) == 100


def test_truncated_cifar_batch_is_named(tmp_path):
    d = tmp_path / "cifar10" / "cifar-10-batches-bin"
    d.mkdir(parents=True)
    for i in range(1, 6):
        (d / f"data_batch_{i}.bin").write_bytes(_binary_batch(2)[0])
    (d / "test_batch.bin").write_bytes(_binary_batch(2)[0][:-10])
    with pytest.raises(CnnkitError, match="test_batch.bin is not a CIFAR binary batch"):
        load_dataset("cifar10", tmp_path)
