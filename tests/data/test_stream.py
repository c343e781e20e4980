"""Streaming an image folder trains exactly like holding it in memory."""

import torch
from PIL import Image

import cnnkit
from cnnkit.data import load_dataset
from cnnkit.data.stream import StreamingData
from cnnkit.rundir.artifacts import read_weights


def make_digits_tree(root, mnist, per_class=30, broken=False):
    images, labels = mnist["train"].images, mnist["train"].labels
    for split, offset in (("train", 0), ("test", 20_000)):
        for d in range(3):
            folder = root / split / f"digit{d}"
            folder.mkdir(parents=True)
            idx = (labels[offset:] == d).nonzero().flatten()[:per_class] + offset
            for k, i in enumerate(idx.tolist()):
                Image.fromarray(images[i, 0].numpy()).save(folder / f"{k}.png")
    if broken:
        (root / "train" / "digit0" / "broken.png").write_bytes(b"not a png")
    return root


def test_stream_matches_in_memory(tmp_path, mnist):
    root = make_digits_tree(tmp_path / "digits", mnist)
    ds = load_dataset(f"folder:{root}", input_shape=(1, 28, 28), stream=True)
    assert isinstance(ds["train"], StreamingData) and len(ds["train"]) == 90
    opts = dict(dataset=f"folder:{root}", epochs=2, batch_size=16, quiet=True, augment="translate", lr=0.02,
                device="cpu")  # bit-identical is a CPU promise (see RELIABILITY.md for GPUs)
    mem = cnnkit.train("lenet5", out=str(tmp_path / "mem"), **opts)
    streamed = cnnkit.train("lenet5", out=str(tmp_path / "stream"), stream=True, workers=2, **opts)
    a, _ = read_weights(tmp_path / "mem" / "model.safetensors")
    b, _ = read_weights(tmp_path / "stream" / "model.safetensors")
    # same order, same decoding, same augmentation: the same network, bit for bit
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert mem.history[-1]["train_loss"] == streamed.history[-1]["train_loss"]


def test_stream_skips_broken_files(tmp_path, mnist):
    root = make_digits_tree(tmp_path / "digits", mnist, per_class=10, broken=True)
    r = cnnkit.train("lenet5", dataset=f"folder:{root}", out=str(tmp_path / "run"), stream=True, epochs=1,
                     batch_size=8, quiet=True)
    assert r.history[0]["images"] == 30  # 31 files, the broken one dropped from its batch


def test_stream_batches_follow_the_given_order(tmp_path, mnist):
    root = make_digits_tree(tmp_path / "digits", mnist, per_class=5)
    ds = load_dataset(f"folder:{root}", input_shape=(1, 28, 28), stream=True)
    train = ds["train"]
    train.workers = 0
    order = torch.tensor([3, 0, 7, 14])
    (x, y), = list(train.batches(order, 4))
    assert x.shape == (4, 1, 28, 28) and x.dtype == torch.uint8
    assert y.tolist() == [train.labels_list[i] for i in order.tolist()]
