"""Transfer learning: real freezing, staged fine-tuning, feature reuse, and torchvision weight import."""

import pytest
import torch
from safetensors.torch import save_file

import cnnkit
from cnnkit.errors import CnnkitError
from cnnkit.rundir.artifacts import read_weights
from cnnkit.train.config import TrainConfig
from cnnkit.train.optim import make_optimizer
from cnnkit.transfer import freeze_except, import_weights, map_state_dict, parse_stages, transfer_classify
from cnnkit.transfer.finetune import finetune

BN_NET = {"name": "bn-net", "input": [1, 28, 28], "layers": [
    {"type": "conv", "filters": 8, "size": 5, "pad": 2, "batchnorm": True, "activation": "relu"}, "maxpool",
    {"type": "conv", "filters": 16, "size": 5, "batchnorm": True, "activation": "relu"}, "maxpool",
    "FC-64", "FC-10", "softmax"]}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("pre") / "run"
    spec = out.parent / "bn-net.yaml"
    import yaml

    spec.write_text(yaml.safe_dump(BN_NET))
    cnnkit.train(str(spec), "mnist", out=str(out), limit_train=3000, limit_test=500, epochs=2, batch_size=64,
                 quiet=True, data_dir=str(data_root))
    return out


def test_freezing_really_freezes():
    net = cnnkit.build(BN_NET)
    freeze_except(net, {"fc2"})
    opt = make_optimizer(net, TrainConfig(lr=0.1))
    optimized = {id(p) for g in opt.param_groups for p in g["params"]}
    assert optimized == {id(p) for p in net.classifier.fc2.parameters()}
    net.train()
    assert not net.features.conv1.bn.training and net.classifier.fc2.training
    stats = net.features.conv1.bn.running_mean.clone()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    loss = net(torch.randn(8, 1, 28, 28)).logsumexp(1).mean()
    loss.backward()
    opt.step()
    assert all(p.grad is None for n, p in net.named_parameters() if not n.startswith("classifier.fc2"))
    assert torch.equal(net.features.conv1.bn.running_mean, stats)
    changed = {k for k, v in net.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"classifier.fc2.fc.weight", "classifier.fc2.fc.bias"}
    assert all(len(opt.state[p]) == 0 or p.requires_grad for p in net.parameters())


def test_staged_finetune(pretrained, tmp_path, data_root):
    out = tmp_path / "ft"
    s = finetune(pretrained, "fashion-mnist", "head:1:0.05,top1:1:0.01", out, quiet=True, limit_train=2000,
                 limit_test=500, batch_size=64, data_dir=str(data_root))
    assert [st["what"] for st in s["stages"]] == ["head", "top1"]
    assert s["stages"][0]["trainable_params"] == 64 * 10 + 10
    assert s["stages"][1]["trainable_params"] == 64 * 10 + 10 + 400 * 64 + 64
    assert s["test_top1_error"] < 0.6  # fashion from digit features, 2 short stages: well above chance
    a, _ = read_weights(pretrained / "model.safetensors")
    b, meta = read_weights(out / "model.safetensors")
    for k in a:  # the convolutional base never unfroze: weights and BN statistics are untouched
        if k.startswith("model.features."):
            assert torch.equal(a[k], b[k]), k
    assert not torch.equal(a["model.classifier.fc1.fc.weight"], b["model.classifier.fc1.fc.weight"])
    assert meta["classes"][9] == "Ankle boot"


def test_stage_parsing():
    assert [(s.what, s.epochs, s.lr) for s in parse_stages("head:2:0.1, top3:1:1e-3")] == [("head", 2, 0.1),
                                                                                        ("top3", 1, 0.001)]
    for bad in ("head:2", "middle:1:0.1", "top0:1:0.1", "head:x:0.1"):
        with pytest.raises(CnnkitError):
            parse_stages(bad)


def test_features_and_svm(pretrained, mnist):
    tm = cnnkit.load(pretrained)
    tr, te = mnist["train"], mnist["test"]
    r = transfer_classify(tm, tr.images[3000:5000], tr.labels[3000:5000], te.images[:500], te.labels[:500], "svm")
    assert r["features"] == 64 and r["n"] == 500 and r["top1_error"] < 0.1
    assert r["top5_error"] <= r["top1_error"]


def torchvision_resnet18_state(seed=0) -> dict:
    """A state dict in torchvision's resnet18 naming, built here (no torchvision needed)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def conv(name, o, i, k):
        sd[f"{name}.weight"] = torch.randn(o, i, k, k, generator=g)

    def bn(name, c):
        sd[f"{name}.weight"] = torch.rand(c, generator=g)
        sd[f"{name}.bias"] = torch.randn(c, generator=g)
        sd[f"{name}.running_mean"] = torch.randn(c, generator=g)
        sd[f"{name}.running_var"] = torch.rand(c, generator=g) + 0.5
        sd[f"{name}.num_batches_tracked"] = torch.tensor(7)

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    cin = 64
    for stage, width in enumerate((64, 128, 256, 512), 1):
        for b in range(2):
            p = f"layer{stage}.{b}"
            conv(f"{p}.conv1", width, cin, 3)
            bn(f"{p}.bn1", width)
            conv(f"{p}.conv2", width, width, 3)
            bn(f"{p}.bn2", width)
            if b == 0 and stage > 1:
                conv(f"{p}.downsample.0", width, cin, 1)
                bn(f"{p}.downsample.1", width)
            cin = width
    sd["fc.weight"] = torch.randn(1000, 512, generator=g)
    sd["fc.bias"] = torch.randn(1000, generator=g)
    return sd


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_import_torchvision_weights_round_trip(tmp_path, fmt):
    sd = torchvision_resnet18_state()
    path = tmp_path / f"resnet18.{fmt}"
    if fmt == "pth":
        torch.save(sd, path)
    else:
        save_file(sd, str(path))
    out = import_weights(path, "resnet18", tmp_path / "run")
    tm = cnnkit.load(out)
    mine = tm.model.state_dict()
    assert torch.equal(mine["features.conv1.conv.weight"], sd["conv1.weight"])
    assert torch.equal(mine["features.layer2_0.shortcut.conv1.bn.running_var"], sd["layer2.0.downsample.1.running_var"])
    assert torch.equal(mine["classifier.fc.fc.weight"], sd["fc.weight"])
    assert sum(v.numel() for v in sd.values()) == sum(v.numel() for v in mine.values())
    with torch.no_grad():
        assert tm.model(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_import_refuses_mismatch_and_code(tmp_path):
    sd = torchvision_resnet18_state()
    sd["layer3.0.conv1.weight"] = torch.zeros(256, 128, 5, 5)
    with pytest.raises(CnnkitError, match=r"shape mismatch: the file's 'layer3.0.conv1.weight' is 256x128x5x5"):
        map_state_dict(cnnkit.build("resnet18"), sd)
    with pytest.raises(CnnkitError, match="is not a torchvision vgg-a name"):
        map_state_dict(cnnkit.build("vgg-a"), torchvision_resnet18_state())

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, bad)
    with pytest.raises(CnnkitError, match="weights_only=True"):
        import_weights(bad, "resnet18", tmp_path / "r")


def torchvision_googlenet_state() -> dict:
    """torchvision's googlenet naming (with its aux heads, which the import drops), random values."""
    from cnnkit.models.googlenet import INCEPTIONS

    sd = {}

    def basic(name, o, i, k):
        sd[f"{name}.conv.weight"] = torch.randn(o, i, k, k)
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            sd[f"{name}.bn.{leaf}"] = torch.rand(o) + 0.5
        sd[f"{name}.bn.num_batches_tracked"] = torch.tensor(3)

    basic("conv1", 64, 3, 7)
    basic("conv2", 64, 64, 1)
    basic("conv3", 192, 64, 3)
    cin = 192
    for name, (c1, r3, c3, r5, c5, pp) in INCEPTIONS.items():
        basic(f"{name}.branch1", c1, cin, 1)
        basic(f"{name}.branch2.0", r3, cin, 1)
        basic(f"{name}.branch2.1", c3, r3, 3)
        basic(f"{name}.branch3.0", r5, cin, 1)
        basic(f"{name}.branch3.1", c5, r5, 3)
        basic(f"{name}.branch4.1", pp, cin, 1)
        cin = c1 + c3 + c5 + pp
    sd["aux1.conv.conv.weight"] = torch.randn(128, 512, 1, 1)
    sd["fc.weight"] = torch.randn(1000, 1024)
    sd["fc.bias"] = torch.randn(1000)
    return sd


def test_import_googlenet_names():
    net = cnnkit.build("googlenet")
    sd = torchvision_googlenet_state()
    mapped = map_state_dict(net, sd)
    assert torch.equal(mapped["features.inception4e.branch4.conv1.conv.weight"],
                       sd["inception4e.branch4.1.conv.weight"])
    assert torch.equal(mapped["features.inception3a.branch2.conv2.bn.running_var"],
                       sd["inception3a.branch2.1.bn.running_var"])
    assert len(mapped) == len(net.state_dict())
    assert net.features.conv1.bn.eps == 1e-3  # as torchvision's BasicConv2d


def test_finetune_with_your_own_head_on_top(tmp_path, data_root):
    import torch

    from cnnkit.rundir import load
    from cnnkit.transfer import finetune

    base = tmp_path / "base"
    cnnkit.train("lenet5", "mnist", out=str(base), epochs=1, limit_train=1000, limit_test=200, quiet=True,
                 data_dir=str(data_root))
    s = finetune(str(base), "fashion-mnist", "head:1:0.01", str(tmp_path / "ft"), quiet=True,
                 head="FC-32,dropout0.5", limit_train=1000, limit_test=300, data_dir=str(data_root))
    assert s["head"] == ["fc1", "dropout1", "head_out"]
    tm, old = load(tmp_path / "ft"), load(base)
    assert [layer.name for layer in tm.model.spec.layers][-3:] == ["fc1", "dropout1", "head_out"]
    assert sum(p.numel() for p in tm.model.parameters()) == cnnkit.summary(tm.model.spec).totals["params"]
    for k, v in old.model.features.state_dict().items():  # the frozen base is the pretrained one
        assert torch.equal(tm.model.features.state_dict()[k], v), k
    assert s["stages"][0]["trainable_params"] == (400 * 32 + 32) + (32 * 10 + 10)
