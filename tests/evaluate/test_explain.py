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


@pytest.mark.parametrize("yx", [(0, 0), (3, 2), (4, 4)])
def test_receptive_box_is_where_the_gradient_reaches(yx):
    from cnnkit.evaluate.explain import receptive_box

    spec = {"input": [1, 28, 28], "layers": [
        {"type": "conv", "name": "c1", "filters": 2, "size": 5, "pad": 2},
        {"type": "avgpool", "name": "p1", "size": 2},
        {"type": "conv", "name": "c2", "filters": 2, "size": 5},
        {"type": "conv", "name": "c3", "filters": 2, "size": 4, "stride": 2, "pad": 1}, "FC-10"]}
    net = cnnkit.build(spec).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_().add_(0.01)  # every path counts: the gradient reaches exactly the receptive field
    tm = TrainedModel(net, None, [], {}, None)
    x = torch.ones(1, 1, 28, 28, requires_grad=True)
    out = {}
    net.features.c3.register_forward_hook(lambda m, i, o: out.__setitem__("a", o))
    net(x)
    y, xx = yx
    out["a"][0, 0, y, xx].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero().flatten()
    cols = x.grad[0, 0].abs().sum(0).nonzero().flatten()
    want = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
    assert receptive_box(tm, "c3", y, xx) == want


def test_units_are_the_strongest_test_patches(tmp_path, data_root, mnist):
    from cnnkit.evaluate.explain import units
    from cnnkit.rundir import load_split

    run = tmp_path / "run"
    cnnkit.train("lenet5", "mnist", out=str(run), epochs=1, limit_train=1000, limit_test=100, quiet=True)
    r = units(run, "conv2", top=3, filters=2, out=tmp_path / "u.png", limit=600)
    tm = cnnkit.load(run)
    images = load_split(tm)[1][:600]
    store = {}
    tm.model.features.conv2.register_forward_hook(lambda m, i, o: store.__setitem__("a", o.detach()))
    with torch.no_grad():
        tm.model(tm.normalizer(images))
    a = store["a"]
    for row in r["filters"]:
        acts = [p["activation"] for p in row["patches"]]
        assert acts == sorted(acts, reverse=True) and len({p["image"] for p in row["patches"]}) == 3
        assert acts[0] == pytest.approx(float(a[:, row["filter"]].max()), rel=1e-5)
        for p in row["patches"]:
            assert float(a[p["image"], row["filter"], p["y"], p["x"]]) == pytest.approx(p["activation"], rel=1e-5)
            y0, x0, y1, x1 = p["box"]
            assert 0 <= y0 < y1 <= 28 and 0 <= x0 < x1 <= 28 and max(y1 - y0, x1 - x0) <= 14  # conv2's RF: 14
    assert (tmp_path / "u.png").exists()
