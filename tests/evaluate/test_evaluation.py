"""Evaluate and predict on a trained run: metric keys, counts and image conversion."""

import json

import numpy as np
import pytest
from PIL import Image

import cnnkit
from cnnkit.cli.main import main


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("eval") / "run"
    cnnkit.train("lenet5", "mnist", out=str(out), limit_train=4000, epochs=2, batch_size=64, quiet=True,
                 data_dir=str(data_root))
    return out


def test_evaluate_metrics(run, data_root):
    m = cnnkit.evaluate(run, data_dir=data_root)
    assert {"top1_error", "top5_error", "errors", "n", "per_class_accuracy", "confusion_matrix"} <= set(m)
    assert m["n"] == 10_000 and m["errors"] == round(m["top1_error"] * 10_000)
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 10_000 and cm.sum() - np.trace(cm) == m["errors"]
    assert m["top5_error"] <= m["top1_error"] < 0.1


def test_predict_files_any_mode(run, mnist, tmp_path):
    files = []
    for i, mode in enumerate(["L", "RGB", "RGBA"]):
        arr = mnist["test"].images[i, 0].numpy()
        img = Image.fromarray(arr, "L").convert(mode)
        files.append(tmp_path / f"{i}.png")
        img.save(files[-1])
    big = Image.fromarray(mnist["test"].images[3, 0].numpy(), "L").resize((112, 112), Image.Resampling.NEAREST)
    files.append(tmp_path / "big.jpg")
    big.save(files[-1], quality=95)
    results = cnnkit.predict(run, files, top=3)
    truth = [str(v) for v in mnist["test"].labels[:4].tolist()]
    assert [r["top"][0]["class"] for r in results] == truth
    assert all(len(r["top"]) == 3 and abs(sum(t["prob"] for t in r["top"]) - 1) < 0.5 for r in results)


def test_cli_evaluate_and_predict_json(run, mnist, tmp_path, capsys):
    assert main(["evaluate", str(run), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["n"] == 10_000
    p = tmp_path / "d.png"
    Image.fromarray(mnist["test"].images[0, 0].numpy()).save(p)
    assert main(["predict", str(run), str(p), "--json", "--top", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["file"] == str(p) and out[0]["top"][0]["class"] == "7" and len(out[0]["top"]) == 2
    assert main(["predict", str(run), str(tmp_path / "missing.png")]) == 2
