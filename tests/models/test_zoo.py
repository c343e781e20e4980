"""Every registered model: published figures, build <-> inspector agreement, forward and backward."""

import pytest
import torch

import cnnkit
from cnnkit.models import get_entry, list_models


@pytest.mark.parametrize("name", list_models())
def test_build_matches_inspector_and_published(name):
    entry = get_entry(name)
    summary = cnnkit.summary(name)
    net = cnnkit.build(name)
    built = sum(p.numel() for p in net.parameters())
    assert built == summary.totals["params"]
    assert built == sum(layer.params for layer in summary.layers)
    for key, value in entry.published.items():
        assert summary.totals[key] == value, key


@pytest.mark.parametrize("name", list_models())
def test_forward_shapes_match_inspector(name):
    net = cnnkit.build(name).eval()
    summary = cnnkit.summary(name)
    c, h, w = summary.input
    text = cnnkit.resolve_spec(name).is_text
    x = torch.randint(0, 100, (2, c, h, w)) if text else torch.randn(2, c, h, w)  # token ids for a text net
    outputs = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: outputs.__setitem__(n, o.shape))
             for n, m in [*net.features.named_children(), *net.classifier.named_children()]]
    with torch.no_grad():
        y = net(x)
    for hk in hooks:
        hk.remove()
    c_out, h_out, w_out = summary.output
    assert y.shape == (2, c_out * h_out * w_out)  # (N, classes); an autoencoder's whole picture
    for layer in summary.layers:
        got = tuple(outputs[layer.name][1:])
        want = layer.output if len(got) == 3 else (layer.output[0] * layer.output[1] * layer.output[2],)
        assert got == want, layer.name


SMALL = [n for n in list_models() if get_entry(n).published.get("params", 0) < 30_000_000]


@pytest.mark.parametrize("name", SMALL)
def test_backward_reaches_every_parameter(name):
    net = cnnkit.build(name).train()
    c, h, w = net.input_shape
    x = torch.randint(1, 100, (2, c, h, w)) if net.spec.is_text else torch.randn(2, c, h, w)
    loss = net(x).logsumexp(1).mean()
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None and p.requires_grad]
    assert not missing


def test_alexnet_volumes_as_in_the_paper():
    s = cnnkit.summary("alexnet")
    spatial = [tuple(layer.output) for layer in s.layers if layer.type in ("conv", "maxpool")]
    assert spatial == [(96, 55, 55), (96, 27, 27), (256, 27, 27), (256, 13, 13), (384, 13, 13), (384, 13, 13),
                       (256, 13, 13), (256, 6, 6)]


def test_alexnet_at_224_does_not_fit():
    with pytest.raises(cnnkit.GeometryError, match=r"\(224−11\+0\)/4\+1 = 54.25.*227"):
        cnnkit.summary("alexnet", input_shape=(3, 224, 224))
    with pytest.raises(cnnkit.GeometryError):
        cnnkit.build("alexnet", input_shape=(3, 224, 224))


def test_caffenet_swaps_pool_and_norm():
    order = lambda n: [layer.type for layer in cnnkit.summary(n).layers[:3]]  # noqa: E731
    assert order("alexnet") == ["conv", "lrn", "maxpool"]
    assert order("caffenet") == ["conv", "maxpool", "lrn"]


def test_zfnet_first_layers():
    s = cnnkit.summary("zfnet")
    conv1 = s.layers[0]
    assert conv1.output == (96, 110, 110) and conv1.weights == 96 * 3 * 7 * 7
    assert [layer.output for layer in s.layers if layer.type == "maxpool"] == [(96, 55, 55), (256, 13, 13),
                                                                              (256, 6, 6)]


def test_lenet5_1998_counts_per_layer():
    s = cnnkit.summary("lenet5-1998")
    params = {layer.name: layer.params for layer in s.layers}
    assert params == {"C1": 156, "S2": 12, "C3": 1516, "S4": 32, "C5": 48120, "F6": 10164, "output": 0}
    net = cnnkit.build("lenet5-1998")
    assert net.classifier.output.centres.shape == (10, 84)  # fixed, not trainable
    assert not any(p is net.classifier.output.centres for p in net.parameters())


def test_lenet5_slide_counts():
    s = cnnkit.summary("lenet5")
    assert [layer.params for layer in s.layers if layer.params] == [156, 2416, 48120, 10164, 850]


def test_cifar10_net_lecture_totals():
    t = cnnkit.summary("cifar10-net").totals
    assert (t["params"], t["neurons"], t["connections"]) == (22_466, 31_562, 3_942_784)


def test_vgg_aliases_and_depths():
    for alias, name in [("vgg11", "vgg-a"), ("vgg13", "vgg-b"), ("vgg16", "vgg-d"), ("vgg19", "vgg-e")]:
        assert cnnkit.summary(alias).totals == cnnkit.summary(name).totals
    convs = {n: sum(1 for layer in cnnkit.summary(n).layers if layer.type == "conv") for n in
             ("vgg-a", "vgg-b", "vgg-c", "vgg-d", "vgg-e")}
    assert convs == {"vgg-a": 8, "vgg-b": 10, "vgg-c": 13, "vgg-d": 13, "vgg-e": 16}


def test_resnet20_about_027m_and_googlenet_like_torchvision():
    assert 265_000 < cnnkit.summary("resnet20").totals["params"] < 275_000
    assert cnnkit.summary("googlenet").totals["params"] == 6_624_904


def test_num_classes_and_reset_classifier():
    net = cnnkit.build("lenet5", num_classes=3)
    assert net(torch.randn(1, 1, 28, 28)).shape == (1, 3)
    net.reset_classifier(7)
    assert net(torch.randn(1, 1, 28, 28)).shape == (1, 7)
    assert sum(p.numel() for p in net.parameters()) == cnnkit.summarize(net.spec).totals["params"]


def test_transfer_interface():
    net = cnnkit.build("alexnet").eval()
    with torch.no_grad():
        f = net.forward_features(torch.randn(1, 3, 227, 227))
        assert f.shape == (1, 256, 6, 6)
        assert net.forward_head(f).shape == (1, 1000)


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="already registered"):
        cnnkit.register_model("lenet5", description="x", source="x")(lambda: {})


def test_unknown_model_suggests():
    with pytest.raises(cnnkit.CnnkitError, match="did you mean 'lenet5'"):
        cnnkit.build("lenet6")


@pytest.mark.parametrize("name", cnnkit.list_models())
def test_every_zoo_entry_carries_a_valid_recipe(name):
    from cnnkit.train.config import TrainConfig, merge, validate

    entry = cnnkit.get_entry(name)
    assert entry.recipe, f"zoo model {name!r} names no recipe in its registration"
    assert entry.recipe.get("dataset"), f"zoo model {name!r}'s recipe names no dataset"
    validate(merge(TrainConfig(model=name), dict(entry.recipe), f"{name}'s recipe"))  # known keys, valid values
