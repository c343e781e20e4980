"""ONNX export: onnxruntime gives cnnkit's probabilities on real test images, with the normalisation inside."""

import json

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit.evaluate.export import export_onnx

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("export") / "run"
    cnnkit.train("lenet5", "mnist", out=str(out), epochs=1, limit_train=1000, limit_test=100, quiet=True)
    return out


def test_onnxruntime_equals_cnnkit_on_test_images(run, mnist, tmp_path):
    import onnx

    info = export_onnx(run, tmp_path / "m.onnx")
    tm = cnnkit.load(run)
    images = mnist["test"].images[:64]
    want = tm.predict_proba(tm.prepare(images)).numpy()
    session = ort.InferenceSession(info["out"])
    got = session.run(None, {"images": images.float().numpy() / 255})[0]  # [0, 1] pixels, as documented
    assert got.shape == (64, 10) and np.abs(got - want).max() < 1e-4
    assert session.run(None, {"images": images[:3].float().numpy() / 255})[0].shape == (3, 10)  # dynamic batch
    meta = {p.key: p.value for p in onnx.load(info["out"]).metadata_props}
    assert json.loads(meta["cnnkit.classes"]) == tm.classes and json.loads(meta["cnnkit.input_shape"]) == [1, 28, 28]
    fixed = export_onnx(run, tmp_path / "b4.onnx", batch=4, logits=True)
    logits = ort.InferenceSession(fixed["out"]).run(None, {"images": images[:4].float().numpy() / 255})[0]
    assert np.abs(logits - tm.model(tm.normalizer(tm.prepare(images[:4]))).detach().numpy()).max() < 1e-4


@pytest.mark.parametrize("model", ["cifar10-net", "resnet20", "alexnet-owt"])
def test_zoo_models_export_and_match(model, tmp_path):
    from cnnkit.data.preprocess import Normalizer
    from cnnkit.rundir import TrainedModel

    torch.manual_seed(0)
    net = cnnkit.build(model).eval()
    c = net.input_shape[0]
    norm = Normalizer("standardize", torch.full((c, 1, 1), 0.45), torch.full((c, 1, 1), 0.25))
    tm = TrainedModel(net, norm, [str(i) for i in range(net.num_classes)], {"task": "classify"}, None)
    info = export_onnx(tm, tmp_path / f"{model}.onnx")
    x = torch.rand(2, *net.input_shape)
    want = torch.softmax(net(norm(x * 255)), 1).detach().numpy()
    got = ort.InferenceSession(info["out"]).run(None, {"images": x.numpy()})[0]
    assert np.abs(got - want).max() < 1e-4
