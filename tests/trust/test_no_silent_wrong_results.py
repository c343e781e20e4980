"""Issue 13: each path that once gave a wrong answer that looked right, met the way a user meets it.

Every test here failed on the code before the fix (the item number is in its name).
"""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cnnkit


def cli(*args, cwd=None):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "cnnkit", *args], capture_output=True, text=True, cwd=cwd, env=env)


class _Done:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def inproc(*args):
    """The same command through cnnkit.cli.main in this process (no Python start-up per call)."""
    import contextlib
    import io

    from cnnkit.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # --help
            code = exc.code
    return _Done(code, out.getvalue(), err.getvalue())


def one_line_error(r):
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("cnnkit: error: "), r.stderr
    assert r.stderr.strip().count("\n") == 0, r.stderr
    return r.stderr


# ------------------------------------------------------------------ 1: image-folder cache, --strict, run dirs
@pytest.fixture
def folder_with_a_broken_file(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (tmp_path / "pics" / c).mkdir(parents=True)
        for i in range(12):
            Image.fromarray((rng.random((16, 16, 3)) * 255).astype(np.uint8)).save(tmp_path / "pics" / c / f"{i}.png")
    (tmp_path / "pics" / "cat" / "broken.png").write_bytes(b"not an image")
    return tmp_path


def test_1_cached_folder_reports_the_same_skipped_files_and_strict_refuses_every_time(folder_with_a_broken_file):
    d = folder_with_a_broken_file
    for k in (1, 2):  # the second run reads the decoded cache
        r = cli("train", "lenet5", "--dataset", "folder:pics", "--epochs", "1", "--out", f"runs/r{k}", cwd=d)
        assert r.returncode == 0, r.stderr
        assert r.stderr.count("broken.png") == 1, r.stderr  # named, once
    for k in (3, 4):
        r = cli("train", "lenet5", "--dataset", "folder:pics", "--epochs", "1", "--out", f"runs/s{k}", "--strict",
                cwd=d)
        assert "broken.png" in one_line_error(r)
        assert not (d / "runs" / f"s{k}").exists()  # a refusal leaves no run directory behind
    r = cli("train", "no-such-model", "--dataset", "folder:pics", "--out", "runs/u", cwd=d)
    one_line_error(r)
    assert not (d / "runs" / "u").exists()


# ------------------------------------------------------------------ 2: predict on a person's own pictures
@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("trust") / "lenet5"
    cnnkit.train("lenet5", "mnist", out=str(out), epochs=1, quiet=True, data_dir=str(data_root))
    return out


@pytest.fixture(scope="module")
def test_digits(data_root):
    x = np.frombuffer(gzip.open(data_root / "mnist" / "t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    y = np.frombuffer(gzip.open(data_root / "mnist" / "t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    return x.reshape(-1, 28, 28)[5000:5020], y[5000:5020]


def _predict_json(run, files, *extra):
    r = cli("predict", str(run), *map(str, files), "--json", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # stdout is exactly one JSON document


def test_2_dark_on_light_drawings_and_transparent_pngs_are_read_like_mnist(mnist_run, test_digits, tmp_path):
    x, y = test_digits
    rng = np.random.default_rng(1)
    drawn, transparent = [], []
    for i, img in enumerate(x):
        big = Image.fromarray(255 - img).resize((112, 112), Image.Resampling.BILINEAR)
        canvas = Image.new("RGB", (200, 150), (255, 255, 255))  # black on white, 200x150 RGB
        canvas.paste(big.convert("RGB"), (int(rng.integers(0, 88)), int(rng.integers(0, 38))))
        drawn.append(tmp_path / f"drawn{i}.png")
        canvas.save(drawn[-1])
        rgba = np.zeros((112, 112, 4), np.uint8)  # black strokes, transparent background
        rgba[..., 3] = np.asarray(Image.fromarray(img).resize((112, 112), Image.Resampling.BILINEAR))
        transparent.append(tmp_path / f"alpha{i}.png")
        Image.fromarray(rgba, "RGBA").save(transparent[-1])
    right = lambda res: sum(r["top"][0]["class"] == str(t) for r, t in zip(res, y))  # noqa: E731
    res = _predict_json(mnist_run, drawn)
    assert right(res) >= 18, res  # 20 digits; before: classified as noise
    assert all(r["inverted"] and r["digit_normalized"] and r["notes"] for r in res)
    assert right(_predict_json(mnist_run, transparent)) >= 18  # before: an all-black image
    raw = _predict_json(mnist_run, drawn, "--invert", "no", "--digit-normalize", "no")
    assert right(raw) <= 10 and not any(r["inverted"] for r in raw)
    text = cli("predict", str(mnist_run), str(drawn[0])).stdout
    assert "inverted" in text and "digit-normalised" in text  # the words say it too


def test_2_exif_orientation_is_applied(mnist_run, test_digits, tmp_path):
    x, y = test_digits
    canvas = Image.new("RGB", (160, 160), (255, 255, 255))
    canvas.paste(Image.fromarray(255 - x[0]).resize((112, 112)).convert("RGB"), (24, 24))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display", as phones write it
    canvas.rotate(90, expand=True).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    (res,) = _predict_json(mnist_run, [tmp_path / "phone.jpg"])
    assert res["top"][0]["class"] == str(y[0])


def test_2_noise_is_flagged_and_digits_are_not(mnist_run, test_digits, tmp_path):
    x, _ = test_digits
    rng = np.random.default_rng(2)
    noise, digits = [], []
    for i in range(6):
        noise.append(tmp_path / f"noise{i}.png")
        Image.fromarray((rng.random((28, 28)) * 255).astype(np.uint8)).save(noise[-1])
    for i, img in enumerate(x):
        digits.append(tmp_path / f"digit{i}.png")
        Image.fromarray(img).save(digits[-1])
    flagged = [r["low_confidence"] for r in _predict_json(mnist_run, noise)]
    assert sum(flagged) >= 5, flagged
    assert sum(r["low_confidence"] for r in _predict_json(mnist_run, digits)) <= 2  # ~1% by construction


# ------------------------------------------------------------------ 3: a named layer is post-activation
def test_3_features_of_conv1_are_after_its_relu(mnist_run, tmp_path, mnist):
    out = tmp_path / "f.npz"
    r = cli("features", str(mnist_run), "--dataset", "mnist", "--layer", "conv1", "--out", str(out),
            "--limit-train", "64", "--limit-test", "32")
    assert r.returncode == 0, r.stderr
    f = np.load(out)["train_features"]
    assert f.shape == (64, 6 * 28 * 28) and f.min() >= 0 and (f == 0).mean() > 0.05
    tm = cnnkit.load(mnist_run)
    from cnnkit.data.tensors import sample_indices

    x = tm.normalizer(tm.prepare(mnist["train"].images[sample_indices(60000, 64)]))
    with torch.no_grad():
        expected = torch.relu(tm.model.features.conv1.conv(x)).flatten(1).numpy()
    np.testing.assert_allclose(f, expected, atol=1e-5)


# ------------------------------------------------------------------ 4: the documented from_arrays call
def test_4_train_on_arrays_as_the_readme_shows(tmp_path, mnist):
    import cnnkit.data

    X = mnist["train"].images[:256, 0].numpy()
    y = mnist["train"].labels[:256].numpy()
    r = cnnkit.train("lenet5", data=cnnkit.data.from_arrays(X, y), epochs=1, out=str(tmp_path / "arr"), quiet=True)
    assert r.summary["epochs"] == 1 and (tmp_path / "arr" / "model.safetensors").exists()


# ------------------------------------------------------------------ 5, 8: spec files
@pytest.mark.parametrize("content,expect", [
    ("input: 28x28\nlayers: [conv5-6, FC-10]\n", "[1, 28, 28]"),
    ("input: [28, 28]\nlayers: [conv5-6, FC-10]\n", "1-D signal"),
    ("input: [28, 28, 1]\nlayers: [conv5-6, FC-10]\n", "channels-last"),
])
def test_5_input_forms_are_pinned(tmp_path, content, expect):
    (tmp_path / "s.yaml").write_text(content)
    assert expect in one_line_error(inproc("summary", str(tmp_path / "s.yaml")))


def test_8_binary_and_deeply_nested_spec_files_are_one_line_errors(tmp_path):
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00\x01input")
    (tmp_path / "latin.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "deeplayers.yaml").write_text("input: [1, 8, 8]\nlayers: " + "[" * 900 + "]" * 900 + "\n")
    for name in ("bin", "latin", "deep", "deeplayers"):
        one_line_error(inproc("summary", str(tmp_path / f"{name}.yaml")))


# ------------------------------------------------------------------ 6: one network, one recipe, said aloud
def test_6_spec_file_round_trip_and_recipe_provenance(tmp_path):
    r = inproc("spec", "lenet5", "--out", str(tmp_path / "lenet.yaml"))
    assert r.returncode == 0, r.stderr
    a = json.loads(inproc("summary", str(tmp_path / "lenet.yaml"), "--json").stdout)
    b = json.loads(inproc("summary", "lenet5", "--json").stdout)
    assert a["totals"] == b["totals"] and a["layers"] == b["layers"]
    assert cnnkit.resolve_spec(str(tmp_path / "lenet.yaml")).layers == cnnkit.resolve_spec("lenet5").layers

    def shown(*args):
        out = inproc("train", *args, "--dataset", "mnist", "--show-config").stdout
        return {line.split()[0]: line.split(None, 2)[1:] for line in out.splitlines()}

    by_name, by_file = shown("lenet5"), shown(str(tmp_path / "lenet.yaml"))
    assert by_name["lr"] == ["0.05", "lenet5's recipe"] and by_file["lr"] == ["0.01", "default"]
    assert shown(str(tmp_path / "lenet.yaml"), "--recipe", "model:lenet5")["lr"] == ["0.05", "lenet5's recipe"]
    from cnnkit.train.run import recipe_hint

    assert "--recipe model:lenet5" in recipe_hint(str(tmp_path / "lenet.yaml"), {"lr": "default"})


def test_6_a_name_that_is_both_a_recipe_and_a_model_is_an_error(tmp_path, monkeypatch):
    from cnnkit.errors import CnnkitError
    from cnnkit.train import recipes

    (tmp_path / "lenet5.yaml").write_text("lr: 0.3\n")
    monkeypatch.setattr(recipes, "RECIPE_DIR", tmp_path)
    with pytest.raises(CnnkitError, match="ambiguous.*model:lenet5"):
        recipes.load_recipe("lenet5")
    assert recipes.load_recipe("model:lenet5")[1]["lr"] == 0.05


# ------------------------------------------------------------------ 7: the estimator's input scale and defaults
def test_7_estimator_reads_uint8_and_unit_floats_alike_and_refuses_other_scales(mnist):
    from cnnkit.sklearn import CNNClassifier

    X = mnist["train"].images[:1500, 0].numpy()
    y = mnist["train"].labels[:1500].numpy()
    Xt = mnist["test"].images[:500, 0].numpy()
    yt = mnist["test"].labels[:500].numpy()
    clf = CNNClassifier(model="lenet5", epochs=3, batch_size=32).fit(X, y)
    assert clf._config().lr == 0.05 and clf._config().schedule == "onecycle"  # None = the model's recipe
    s8, sf = clf.score(Xt, yt), clf.score(Xt / 255.0, yt)
    assert s8 > 0.85 and abs(s8 - sf) < 0.01  # before: 11% on floats in [0, 1]
    for bad in (Xt.astype(np.float32), (Xt - 128.0) / 64):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            clf.predict(bad)
    assert all(v is None for v in CNNClassifier().get_params().values())
    assert "recipe" in CNNClassifier().get_params() and "label_smoothing" in CNNClassifier().get_params()


# ------------------------------------------------------------------ 9: help from the config's fields
def test_9_every_train_flag_has_help_with_its_default():
    from dataclasses import fields

    from cnnkit.train.config import TrainConfig

    text = " ".join(inproc("train", "--help").stdout.split())
    for f in fields(TrainConfig):
        if f.name != "model":
            flag = "--" + f.name.replace("_", "-")
            assert flag in text
            assert f.metadata["help"].split()[0] in text
    assert text.count("(default:") >= len(fields(TrainConfig)) - 1


# ------------------------------------------------------------------ 10: the smaller ones
def test_10_resume_of_a_missing_directory_says_so():
    assert "no run directory runs/missing" in one_line_error(inproc("train", "--resume", "runs/missing"))


def test_10_flip_tta_on_digits_warns_and_matrix_has_headers_and_json_is_whole(mnist_run):
    r = cli("evaluate", str(mnist_run), "--tta", "flip")
    assert r.returncode == 0 and "not mirror-symmetric" in r.stderr
    assert "true/pred" in r.stdout and r.stderr.count("not mirror-symmetric") == 1  # once
    r = cli("evaluate", str(mnist_run), "--tta", "flip", "--json")
    assert "mirror" in json.loads(r.stdout)["tta"]["warning"]


def test_10_quiet_still_prints_the_result_and_tiny_data_gets_a_hint(tmp_path):
    r = cli("train", "lenet5", "--dataset", "mnist", "--epochs", "1", "--limit-train", "100", "--limit-test", "50",
            "--out", str(tmp_path / "q"), "--quiet")
    assert r.returncode == 0 and "test error" in r.stdout
    r = cli("train", "lenet5", "--dataset", "mnist", "--epochs", "1", "--limit-train", "100", "--limit-test", "50",
            "--out", str(tmp_path / "t"))
    assert "single step" in r.stdout


def test_10_compare_reach_reports_epoch_and_seconds(mnist_run, tmp_path):
    r = cli("compare", str(mnist_run), "--reach", "25%", "--json", "--out", str(tmp_path / "c.png"))
    (row,) = json.loads(r.stdout)
    assert row["reach"]["epoch"] == 1 and row["reach"]["seconds"] > 0
    assert Path(tmp_path / "c.png").stat().st_size > 1000


def test_9_every_flag_of_every_command_has_help_and_says_its_default():
    import argparse

    from cnnkit.cli.main import make_parser

    sub = next(a for a in make_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, (name, action.option_strings or action.dest)
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                assert "default" in action.help, (name, action.option_strings)
