"""Graph specs: named inputs, layers reading earlier nodes, merges, several outputs; every error one line."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnkit
import cnnkit.data
import cnnkit.examples
from cnnkit.errors import SpecError
from cnnkit.spec import parse_spec, spec_to_data

TWO = {"inputs": {"image": [1, 12, 12], "side": [5]}, "layers": [
    {"type": "conv", "name": "c1", "filters": 4, "size": 3, "inputs": "image", "activation": "relu"},
    {"type": "flatten", "name": "f"},
    {"type": "fc", "name": "s", "units": 6, "inputs": ["side"]},
    {"type": "concat", "name": "m", "inputs": ["f", "s"]},
    {"type": "fc", "name": "out", "units": 3}]}


def test_two_inputs_merge_and_count():
    s = cnnkit.summary(TWO)
    assert [layer.inputs for layer in s.layers] == [("image",), ("c1",), ("side",), ("f", "s"), ("m",)]
    assert s.layers[3].output == (4 * 10 * 10 + 6, 1, 1)
    net = cnnkit.build(TWO)
    assert sum(p.numel() for p in net.parameters()) == s.totals["params"]
    assert net({"image": torch.zeros(2, 1, 12, 12), "side": torch.zeros(2, 5)}).shape == (2, 3)
    assert parse_spec(spec_to_data(parse_spec(TWO))) == parse_spec(TWO)  # round trip
    assert "inputs" in str(s) and "f, s" in str(s)


@pytest.mark.parametrize("change,message", [
    (lambda d: d["layers"][3].update(inputs=["f", "nope"]), "unknown 'nope'"),
    (lambda d: d["layers"][0].update(inputs=["m"]), "comes later"),
    (lambda d: d["layers"][3].update(inputs=["c1", "s"]), "cannot merge flat vectors with maps"),
    (lambda d: d["layers"][0].pop("inputs"), "several inputs"),
    (lambda d: (d["layers"].insert(4, {"type": "fc", "name": "dead", "units": 2, "inputs": ["m"]}),
                d["layers"][5].update(inputs=["m"])), "'dead' is never used"),
    (lambda d: d["layers"][2].update(inputs=["side", "image"]), "reads one input"),
    (lambda d: d.update(outputs=["zzz"]), "not a layer"),
    (lambda d: d["layers"][1].update(name="side"), "names both an input and a layer"),
])
def test_graph_errors_name_the_nodes(change, message):
    import copy

    d = copy.deepcopy(TWO)
    change(d)
    with pytest.raises(SpecError, match=message) as info:
        cnnkit.summary(d)
    assert "\n" not in str(info.value)


def test_add_needs_equal_shapes_and_names_them():
    spec = {"input": [3, 8, 8], "layers": [
        {"type": "conv", "name": "a", "filters": 4, "size": 3, "pad": 1},
        {"type": "conv", "name": "b", "filters": 5, "size": 3, "pad": 1, "inputs": ["input"]},
        {"type": "add", "name": "sum", "inputs": ["a", "b"]}, "FC-2"]}
    with pytest.raises(SpecError, match=r"'a' is 4x8x8, 'b' is 5x8x8"):
        cnnkit.summary(spec)


def test_two_heads_return_a_mapping():
    spec = cnnkit.resolve_spec(cnnkit.examples.path("two-head"))
    s = cnnkit.summary(spec)
    assert dict(s.outputs) == {"digit": (10, 1, 1), "size": (1, 1, 1)}
    out = cnnkit.build(spec)(torch.zeros(2, 1, 28, 28))
    assert set(out) == {"digit", "size"} and out["digit"].shape == (2, 10) and out["size"].shape == (2, 1)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["conv", "pool", "add", "concat"]), st.integers(0, 10)), min_size=1,
                max_size=7), st.integers(1, 3))
def test_random_graphs_inspector_equals_module(ops, channels):
    layers, shapes = [], {"input": (channels, 8, 8)}
    for i, (op, pick) in enumerate(ops):
        names = list(shapes)
        a = names[pick % len(names)]
        name = f"n{i}"
        if op == "conv":
            layers.append({"type": "conv", "name": name, "filters": 1 + pick % 3, "size": 3, "pad": 1, "inputs": [a]})
            shapes[name] = (1 + pick % 3, *shapes[a][1:])
        elif op == "pool":
            if shapes[a][1] < 2:
                continue
            layers.append({"type": "maxpool", "name": name, "inputs": [a]})
            shapes[name] = (shapes[a][0], shapes[a][1] // 2, shapes[a][2] // 2)
        else:
            same = [n for n in names if n != a and (shapes[n] == shapes[a] if op == "add"
                                                    else shapes[n][1:] == shapes[a][1:])]
            if not same:
                continue
            layers.append({"type": op, "name": name, "inputs": [a, same[0]]})
            shapes[name] = shapes[a] if op == "add" else (shapes[a][0] + shapes[same[0]][0], *shapes[a][1:])
    if not layers:
        return
    used = {i for layer in layers for i in layer["inputs"]}
    outs = [layer["name"] for layer in layers if layer["name"] not in used]
    if "input" not in used:
        return
    spec = {"input": [channels, 8, 8], "layers": layers, "outputs": outs}
    s = cnnkit.summary(spec)
    net = cnnkit.build(spec)
    assert sum(p.numel() for p in net.parameters()) == s.totals["params"]
    seen = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: seen.__setitem__(n, tuple(o.shape[1:])))
             for n, m in net.nodes.items()]
    with torch.no_grad():
        net(torch.zeros(2, channels, 8, 8))
    for h in hooks:
        h.remove()
    for layer in s.layers:
        assert seen[layer.name] == layer.output, layer.name


def test_a_two_input_network_trains_on_real_digits(tmp_path, mnist):
    x = mnist["train"].images[:3000, 0].numpy()
    y = mnist["train"].labels[:3000].numpy()
    rng = np.random.default_rng(0)
    side = np.eye(8)[y % 8] + rng.normal(0, 0.5, (3000, 8))  # a noisy hint: the label modulo 8
    data = cnnkit.data.from_arrays({"image": x, "side": side}, y)
    r = cnnkit.train(cnnkit.examples.path("two-input"), data=data, epochs=3, batch_size=64, lr=0.05,
                     val_split=0.2, out=str(tmp_path / "two"), quiet=True)
    assert r.history[-1]["val_top1_error"] < 0.12
    tm = cnnkit.load(str(tmp_path / "two"))
    assert tm.model.input_names == ["image", "side"]


def test_summary_draws_a_diagram(tmp_path):
    from PIL import Image

    from cnnkit.cli.main import main

    assert main(["summary", cnnkit.examples.path("two-input"), "--diagram", str(tmp_path / "net.png")]) == 0
    assert Image.open(tmp_path / "net.png").size[1] > 300
    assert main(["summary", "googlenet", "--diagram", str(tmp_path / "g.svg")]) == 0
    assert (tmp_path / "g.svg").read_text().count("<svg") == 1
    assert main(["summary", "lenet5", "--diagram", str(tmp_path / "net.txt")]) == 2


def test_a_two_head_network_trains_each_head_on_its_task(tmp_path, mnist):
    from cnnkit.data import Dataset

    def part(split, n):
        x = mnist[split].images[:n, 0].numpy()
        ink = (x.astype(np.float64).mean(axis=(1, 2)) / 255 * 10).astype(np.float32)  # a real value per image
        return cnnkit.data.from_arrays(x, {"digit": mnist[split].labels[:n].numpy(), "size": ink})

    data = Dataset("digits-and-ink", {"train": part("train", 4000), "test": part("test", 1000)},
                   [str(i) for i in range(10)])
    r = cnnkit.train(cnnkit.examples.path("two-head"), data=data, optimizer="adam", lr=0.002, epochs=6, batch_size=64,
                     out=str(tmp_path / "heads"), quiet=True)
    s = r.summary
    assert s["task"] == "heads" and s["test_digit_top1_error"] < 0.1 and s["test_size_r2"] > 0.8, s
    assert {"train_digit_top1_error", "train_size_mse"} <= set(r.history[-1])
    assert cnnkit.load(str(tmp_path / "heads")).model.spec.head_tasks[1] == ("size", "regress", 0.5)
