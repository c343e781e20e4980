"""The image-folder loader on a small tree with mixed image modes and broken files."""

import numpy as np
import pytest
from PIL import Image

from cnnkit.data import load_dataset
from cnnkit.data.folder import SkippedImagesWarning, load_folder
from cnnkit.data.images import BadImageError, load_image
from cnnkit.errors import CnnkitError


def make_tree(root, split_dirs=True):
    """Two classes, images in grey, RGB, RGBA, palette and 16-bit, sizes that differ."""
    rng = np.random.default_rng(0)
    splits = ("train", "test") if split_dirs else ("",)
    for split in splits:
        for cls, value in (("cat", 40), ("dog", 200)):
            d = root / split / cls
            d.mkdir(parents=True)
            Image.fromarray(np.full((20, 30), value, np.uint8), "L").save(d / "grey.png")
            Image.fromarray(np.full((16, 16, 3), value, np.uint8), "RGB").save(d / "rgb.jpg", quality=95)
            Image.fromarray(np.full((24, 24, 4), value, np.uint8), "RGBA").save(d / "rgba.png")
            Image.fromarray(np.full((16, 16), value, np.uint8), "L").convert("P").save(d / "pal.gif")
            Image.fromarray(np.full((16, 16), value * 257, np.uint16)).save(d / "deep.png")
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(d / "noise.bmp")
    return root


def test_mixed_modes_become_model_shaped_uint8(tmp_path):
    root = make_tree(tmp_path / "pets")
    splits = load_folder(root, 3, (8, 8))
    train = splits["train"]
    assert train.classes == ["cat", "dog"]
    assert train.images.shape == (12, 3, 8, 8) and train.images.dtype.is_floating_point is False
    assert len(splits["test"]) == 12
    # every flat image keeps its grey level within JPEG/resize rounding, 16-bit included
    for img, label in zip(train.images, train.labels):
        level = 40 if label == 0 else 200
        if img.float().std() < 1:
            assert abs(img.float().mean() - level) <= 2


def test_grey_model_and_16bit_scaling(tmp_path):
    p = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(p)
    assert load_image(p, 1, (4, 4)).tolist() == [[[255] * 4] * 4]
    Image.fromarray(np.full((4, 4), 257 * 10, np.uint16)).save(p)
    assert load_image(p, 1, (2, 2)).max() == 10


def test_centre_crop_keeps_aspect(tmp_path):
    arr = np.zeros((10, 30), np.uint8)
    arr[:, 10:20] = 255  # a white centre third
    p = tmp_path / "wide.png"
    Image.fromarray(arr).save(p)
    out = load_image(p, 1, (10, 10))
    assert out.min() == 255  # the crop is the centre square


def test_broken_files_are_reported_and_skipped(tmp_path):
    root = make_tree(tmp_path / "pets")
    (root / "train" / "cat" / "empty.png").write_bytes(b"")
    (root / "train" / "cat" / "text.jpg").write_text("not an image")
    good = root / "train" / "dog" / "rgb.jpg"
    (root / "train" / "dog" / "cut.jpg").write_bytes(good.read_bytes()[:40])
    with pytest.warns(SkippedImagesWarning, match="skipped 3 unusable image") as rec:
        splits = load_folder(root, 1, (8, 8))
    assert "empty.png" in str(rec[0].message) and "text.jpg" in str(rec[0].message)
    assert len(splits["train"]) == 12
    with pytest.raises(CnnkitError, match="unusable image"):
        load_folder(root, 1, (9, 9), strict=True)


def test_flat_tree_gets_a_seeded_split_and_cache(tmp_path):
    root = make_tree(tmp_path / "flat", split_dirs=False)
    a = load_dataset(f"folder:{root}", input_shape=(3, 8, 8), seed=3)
    b = load_dataset(f"folder:{root}", input_shape=(3, 8, 8), seed=3)  # from the decoded cache
    assert len(a["train"]) + len(a["test"]) == 12
    assert a["test"].labels.tolist() == b["test"].labels.tolist()
    assert (a["train"].images == b["train"].images).all()


def test_decompression_bomb_refused(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    p = tmp_path / "big.png"
    PILImage.new("L", (200, 200)).save(p)
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(BadImageError, match="decompression bomb"):
        load_image(p, 1, (8, 8))


def test_missing_folder(tmp_path):
    with pytest.raises(CnnkitError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}", input_shape=(1, 8, 8))


def test_a_folder_with_targets_csv_trains_a_regression(tmp_path):
    import cnnkit

    rng = np.random.default_rng(0)
    root = tmp_path / "faces"
    (root / "img").mkdir(parents=True)
    lines = ["file,brightness,width"]
    for i in range(240):
        level, width = int(rng.integers(20, 235)), int(rng.integers(4, 20))
        a = np.zeros((24, 24), np.uint8)
        a[:, :width] = level
        Image.fromarray(a).save(root / "img" / f"{i}.png")
        lines.append(f"img/{i}.png,{level / 255:.4f},{width}")
    (root / "targets.csv").write_text("\n".join(lines) + "\n")
    ds = load_dataset(f"folder:{root}", input_shape=(1, 24, 24))
    assert ds.classes == ["brightness", "width"] and ds["train"].labels.shape == (192, 2)
    with pytest.raises(CnnkitError, match="--task regress"):
        cnnkit.train("lenet5", f"folder:{root}", out=str(tmp_path / "c"), epochs=1, quiet=True)
    (tmp_path / "net.yaml").write_text("input: [1, 24, 24]\nlayers: [conv3-8, maxpool, FC-32, FC-2]\n")
    r = cnnkit.train(str(tmp_path / "net.yaml"), f"folder:{root}", task="regress", epochs=30, batch_size=16,
                     lr=0.01, out=str(tmp_path / "r"), quiet=True)
    assert r.summary["test_r2"] > 0.8, r.summary
    (root / "targets.csv").write_text("name,brightness\nimg/0.png,0.5\n")
    with pytest.raises(CnnkitError, match="no 'file' column .*name, brightness"):
        load_dataset(f"folder:{root}", input_shape=(1, 24, 24))
