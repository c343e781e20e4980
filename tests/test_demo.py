"""cnnkit demo: every printed number checked against an independent computation (PyTorch)."""

import json
import re

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit import demo
from cnnkit.cli.main import main


def test_the_slide_example(capsys):
    assert main(["demo", "cross-correlation"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "kernel 1, output (0, 0): 0×0 + 1×1 + 3×2 + 4×3 = 19"
    assert out[-2:] == ["    19     25", "    37     43"]  # the grid last, one row per line


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 3), k=st.integers(1, 3), h=st.integers(2, 6), f=st.integers(1, 3), s=st.integers(1, 2),
       p=st.integers(0, 2), seed=st.integers(0, 1000))
def test_cross_correlation_equals_conv2d(c, k, h, f, s, p, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-5, 6, (c, h, h)).astype(float)
    kernels = [rng.integers(-3, 4, (c, f, f)).astype(float) for _ in range(k)]
    span = h + 2 * p - f
    if span < 0 or span % s:
        return
    r = demo.cross_correlation(x, kernels, s, p)
    ref = F.conv2d(torch.tensor(x)[None], torch.tensor(np.stack(kernels)), stride=s, padding=p)[0]
    assert np.allclose(np.array(r["outputs"]), ref.numpy())
    assert len(r["steps"]) == k * ref.shape[1] * ref.shape[2]


def test_grid_parsing_channels_and_negatives():
    g = demo.parse_grid("-1,2;3,4|5,6;7,8", "input")
    assert g.shape == (2, 2, 2) and g[0, 0, 0] == -1 and g[1, 1, 1] == 8
    assert main(["demo", "cross-correlation", "--input=1,2;3", "--kernel", "1"]) == 2  # ragged rows


@settings(max_examples=40, deadline=None)
@given(st.recursive(st.sampled_from(["x", "y", "z", "2"]),
                    lambda inner: st.one_of(st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(
                        lambda t: f"({t[0]} {t[1]} {t[2]})"),
                        st.tuples(inner, inner).map(lambda t: f"max({t[0]}, {t[1]})")), max_leaves=6),
       st.lists(st.integers(-5, 5), min_size=3, max_size=3))
def test_backprop_equals_autograd(expr, values):
    at = dict(zip("xyz", map(float, values)))
    if not re.search(r"\b[xyz]\b", expr):
        return
    r = demo.backprop(expr, at)  # on a tie, max routes the gradient to its first largest input, as autograd does
    assert r["agrees"], (expr, r["gradients"], r["autograd"])


def test_backprop_default_is_the_lecture_example(capsys):
    assert main(["demo", "backprop", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["value"] == -12 and r["gradients"] == {"x": -4, "y": -4, "z": 3}


def test_output_size_answers_kalogeiton(capsys):
    assert main(["demo", "output-size"]) == 0
    text = capsys.readouterr().out
    assert "= 5\n" in text and "= 3\n" in text and "2.33" in text and "does not fit" in text
    assert main(["demo", "output-size", "--input", "227", "--filter", "11", "--stride", "4"]) == 0
    assert "output is 55x55" in capsys.readouterr().out


def test_kernels_and_activations_write_pictures(tmp_path, capsys):
    from PIL import Image

    Image.fromarray((np.arange(64 * 64).reshape(64, 64) % 255).astype(np.uint8)).save(tmp_path / "p.png")
    assert main(["demo", "kernels", "--image", str(tmp_path / "p.png"), "--out", str(tmp_path / "k")]) == 0
    assert len(list((tmp_path / "k").glob("*.png"))) == len(demo.KERNELS)
    assert main(["demo", "activations", "--out", str(tmp_path / "a.png")]) == 0
    assert Image.open(tmp_path / "a.png").size[0] > 600
