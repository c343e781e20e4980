"""Official file formats, written by the tests themselves, including malformed ones."""

import gzip
import pickle
import struct

import numpy as np
import pytest

from cnnkit.data import formats
from cnnkit.errors import CnnkitError


def write_idx(path, arr, compress=True):
    header = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_idx_round_trip_gz_and_raw(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for compress in (True, False):
        p = write_idx(tmp_path / f"x{compress}", arr, compress)
        assert np.array_equal(formats.read_idx(p), arr)


@pytest.mark.parametrize("mutate, needle", [
    (lambda b: b"\x00\x00\x0d\x03" + b[4:], "not an IDX file of unsigned bytes"),
    (lambda b: b[:-5], "truncated"),
    (lambda b: b + b"\x00", "longer than its header"),
    (lambda b: b[:6], "truncated"),
])
def test_idx_malformed(tmp_path, mutate, needle):
    raw = write_idx(tmp_path / "ok", np.zeros((2, 3, 4), np.uint8), compress=False).read_bytes()
    bad = tmp_path / "bad-images-idx3-ubyte"
    bad.write_bytes(mutate(raw))
    with pytest.raises(CnnkitError, match=needle) as err:
        formats.read_idx(bad)
    assert str(bad) in str(err.value)


def test_idx_pair_count_mismatch(tmp_path):
    imgs = write_idx(tmp_path / "i.gz", np.zeros((3, 2, 2), np.uint8))
    labels = write_idx(tmp_path / "l.gz", np.zeros((2,), np.uint8))
    with pytest.raises(CnnkitError, match="3 images but .* 2 labels"):
        formats.read_idx_pair(imgs, labels)


def test_damaged_gzip(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(b"\x00" * 100)[:20])
    with pytest.raises(CnnkitError, match="damaged gzip"):
        formats.read_idx(p)


def test_cifar_binary(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.array([3, 7], np.uint8)
    pix = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
    p = tmp_path / "data_batch_1.bin"
    p.write_bytes(np.concatenate([labels[:, None], pix], 1).tobytes())
    x, y = formats.read_cifar_binary(p)
    assert x.shape == (2, 3, 32, 32) and y.tolist() == [3, 7]
    assert np.array_equal(x[1].reshape(-1), pix[1])
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(CnnkitError, match="not a multiple of the 3073-byte record"):
        formats.read_cifar_binary(p)


def test_cifar_python_batch_and_restricted_unpickler(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, (4, 3072), dtype=np.uint8)
    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({b"batch_label": b"x", b"labels": [0, 1, 2, 3], b"data": data}, protocol=2))
    x, y, _ = formats.read_cifar_pickle(p)
    assert x.shape == (4, 3, 32, 32) and y.tolist() == [0, 1, 2, 3]
    assert np.array_equal(x.reshape(4, -1), data)


class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/cnnkit-pwned",))


def test_malicious_pickle_is_refused(tmp_path):
    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(CnnkitError, match="refusing to load posix.system|refusing to load os.system"):
        formats.read_cifar_pickle(p)


def test_cifar_pickle_label_count_mismatch(tmp_path):
    p = tmp_path / "b"
    p.write_bytes(pickle.dumps({b"labels": [1], b"data": np.zeros((2, 3072), np.uint8)}))
    with pytest.raises(CnnkitError, match="2 images but 1 labels"):
        formats.read_cifar_pickle(p)
