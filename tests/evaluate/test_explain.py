"""Explanations against independent computations: each method's map, by hand, on a small LeNet-5."""

import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnkit
from cnnkit.data.preprocess import Normalizer
from cnnkit.evaluate.explain import attribution, default_layer
from cnnkit.rundir import TrainedModel


@pytest.fixture(scope="module")
def tm():
    torch.manual_seed(0)
    model = cnnkit.build("lenet5").eval()
    norm = Normalizer("standardize", torch.full((1, 1, 1), 0.13), torch.full((1, 1, 1), 0.31))
    return TrainedModel(model, norm, [str(d) for d in range(10)], {"task": "classify"}, None)


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(1)
    return torch.randn(1, 1, 28, 28)


def test_saliency_is_the_input_gradient(tm, x):
    inp = x.clone().requires_grad_()
    tm.model(inp)[0, 3].backward()
    assert torch.allclose(attribution(tm, x, "saliency", 3)[0], inp.grad.abs()[0, 0], atol=1e-6)


def test_gradcam_weighs_the_post_activation_maps(tm, x):
    assert default_layer(tm) == "pool2"
    layer = tm.model.features.conv2  # conv + ReLU: the maps after the activation
    store = {}
    h = layer.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    out = tm.model(x.clone())
    h.remove()
    a = store["a"]
    grads = torch.autograd.grad(out[0, 5], a)[0]
    cam = F.relu((grads.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
    want = F.interpolate(cam, (28, 28), mode="bilinear")[0, 0]
    got = attribution(tm, x, "gradcam", 5, layer="conv2")[0]
    assert torch.allclose(got, want.detach(), atol=1e-5) and float(got.min()) >= 0 and not got.requires_grad


def test_occlusion_is_the_drop_in_probability(tm, x):
    with torch.no_grad():
        p0 = torch.softmax(tm.model(x), 1)[0, 2]
        total, count = torch.zeros(28, 28), torch.zeros(28, 28)
        for top in range(0, 28 - 7 + 1, 3):  # a window of 28 / 4 = 7, stride 3, filled with the mean (0)
            for left in range(0, 28 - 7 + 1, 3):
                y = x.clone()
                y[..., top:top + 7, left:left + 7] = 0
                total[top:top + 7, left:left + 7] += p0 - torch.softmax(tm.model(y), 1)[0, 2]
                count[top:top + 7, left:left + 7] += 1
    want = (total / count.clamp_min(1)).clamp_min(0)
    assert torch.allclose(attribution(tm, x, "occlusion", 2)[0], want, atol=1e-5)


@pytest.mark.parametrize("method", ["guided-backprop", "deconvnet"])
def test_relu_rules_of_guided_backprop_and_deconvnet(tm, x, method):
    def rule(module, grad_in, grad_out):
        if method == "guided-backprop":  # the ReLU's own mask, and only positive signals back
            return (grad_in[0].clamp_min(0),)
        return (grad_out[0].clamp_min(0),)  # deconvnet: the positive part of what comes back, no mask

    relus = [m for m in tm.model.modules() if isinstance(m, nn.ReLU)]
    for m in relus:
        m.inplace = False
    hooks = [m.register_full_backward_hook(rule) for m in relus]
    inp = x.clone().requires_grad_()
    tm.model(inp)[0, 7].backward()
    for h in hooks:
        h.remove()
    for m in relus:
        m.inplace = True
    assert torch.allclose(attribution(tm, x, method, 7)[0], inp.grad.abs()[0, 0], atol=1e-6)


def test_explain_command_json_and_overlays(tmp_path, data_root, mnist):
    from PIL import Image

    run = tmp_path / "run"
    cnnkit.train("lenet5", "mnist", out=str(run), epochs=1, limit_train=1000, limit_test=100, quiet=True)
    Image.fromarray(mnist["test"].images[0, 0].numpy()).save(tmp_path / "seven.png")
    r = subprocess.run([sys.executable, "-m", "cnnkit", "explain", str(run), str(tmp_path / "seven.png"), "--method",
                        "occlusion", "--class", "7", "--out", str(tmp_path / "exp"), "--json"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    [item] = json.loads(r.stdout)
    assert item["class"] == "7" and 0 < item["prob"] <= 1 and item["method"] == "occlusion"
    heat = torch.tensor(item["map"])
    assert heat.shape == (28, 28) and float(heat.min()) >= 0
    assert (tmp_path / "exp" / "seven.occlusion.png").exists()
    bad = subprocess.run([sys.executable, "-m", "cnnkit", "explain", str(run), str(tmp_path / "seven.png"),
                          "--method", "gradcamm"], capture_output=True, text=True)
    assert bad.returncode == 2 and "did you mean 'gradcam'" in bad.stderr
    from cnnkit.evaluate.report import write_report

    page = write_report(run).read_text()  # the report shows where it looked for its mistakes
    assert "Grad-CAM" in page
    assert any("Grad-CAM" in p.name for p in (run / "report").glob("*.png"))
