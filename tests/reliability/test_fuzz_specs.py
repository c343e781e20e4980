"""Property-based fuzzing of specs: every input gives a model or a one-line error, never a crash or a hang."""

import time

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnkit
from cnnkit.errors import CnnkitError

COUNT = {"specs": 0, "built": 0, "errors": 0}

sizes = st.one_of(st.integers(-3, 12), st.just(2**21), st.lists(st.integers(0, 6), min_size=1, max_size=3),
                  st.text(max_size=4), st.none(), st.floats(allow_nan=True), st.booleans())
small = st.integers(1, 8)

conv = st.fixed_dictionaries({"type": st.just("conv"), "filters": small, "size": st.integers(1, 5)},
                             optional={"stride": st.integers(1, 3), "pad": st.one_of(st.integers(0, 2),
                                       st.sampled_from(["same", "valid", "full"])),
                                       "activation": st.sampled_from(["relu", "tanh", "maxout", "elu", "bogus"]),
                                       "groups": st.integers(1, 2), "floor": st.booleans(), "batchnorm": st.booleans()})
pool = st.fixed_dictionaries({"type": st.sampled_from(["maxpool", "avgpool"])},
                             optional={"size": st.integers(1, 4), "stride": st.integers(1, 3),
                                       "ceil_mode": st.booleans(), "global": st.booleans()})
simple = st.one_of(conv, pool, st.sampled_from(["conv3-4", "maxpool", "FC-5", "relu", "dropout", "LRN", "bn",
                                               "softmax", "gap", "flatten", "conv1-2", "tanh"]),
                   st.fixed_dictionaries({"type": st.sampled_from(["fc", "locally_connected", "tiled_conv"]),
                                          "units": small, "filters": small, "size": st.integers(1, 3)}))


def _mutate(layer, key, value):
    if isinstance(layer, dict):
        return {**layer, key: value}
    return layer


mutated = st.builds(_mutate, simple, st.sampled_from(["size", "filters", "stride", "pad", "units", "typo", "p"]),
                    sizes)
layer = st.recursive(st.one_of(simple, mutated),
                     lambda inner: st.one_of(
                         st.fixed_dictionaries({"type": st.just("inception"),
                                                "branches": st.lists(st.lists(inner, min_size=1, max_size=3),
                                                                     min_size=1, max_size=3)}),
                         st.fixed_dictionaries({"type": st.just("residual"),
                                                "body": st.lists(inner, min_size=1, max_size=3)},
                                               optional={"shortcut": st.sampled_from(["identity", "pad"])})),
                     max_leaves=12)
spec = st.fixed_dictionaries(
    {"input": st.one_of(st.tuples(st.integers(1, 3), st.integers(1, 24), st.integers(1, 24)).map(list), sizes),
     "layers": st.one_of(st.lists(layer, min_size=1, max_size=6), sizes)},
    optional={"name": st.text(max_size=5), "bogus": st.integers()})


@settings(max_examples=2500, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec)
def test_every_spec_gives_a_model_or_a_one_line_error(data):
    COUNT["specs"] += 1
    start = time.perf_counter()
    try:
        s = cnnkit.summary(data)
    except CnnkitError as exc:
        COUNT["errors"] += 1
        assert "\n" not in str(exc) and str(exc)
        return
    assert time.perf_counter() - start < 2.0
    assert s.totals["params"] >= 0
    if s.totals["params"] < 2_000_000 and s.totals["macs"] < 50_000_000:
        net = cnnkit.build(data).eval()
        assert sum(p.numel() for p in net.parameters()) == s.totals["params"]
        with torch.no_grad():
            out = net(torch.zeros(1, *s.input))
        assert out.shape[0] == 1 and out.shape[1] == s.output[0] * s.output[1] * s.output[2]
        COUNT["built"] += 1


def test_huge_models_are_refused_before_allocation():
    spec = {"input": [3, 1024, 1024], "layers": [{"type": "fc", "units": 1_000_000}]}
    assert cnnkit.summary(spec).totals["params"] > 3 * 10**12
    start = time.perf_counter()
    try:
        cnnkit.build(spec)
        raise AssertionError("should refuse")
    except CnnkitError as exc:
        assert "parameters" in str(exc)
    assert time.perf_counter() - start < 1.0


def test_deep_nesting_is_an_error_not_a_recursion_crash():
    inner = {"type": "residual", "body": ["relu"]}
    for _ in range(60):
        inner = {"type": "residual", "body": [inner]}
    try:
        cnnkit.summary({"input": [1, 4, 4], "layers": [inner]})
        raise AssertionError("should refuse")
    except CnnkitError as exc:
        assert "nested" in str(exc)
