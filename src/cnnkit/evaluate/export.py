"""A trained run as an ONNX model (``cnnkit export RUN --format onnx``) that deploys without cnnkit.

The exported graph takes images exactly as ``predict`` hands them to the network after decoding and
resizing - float32 in [0, 1], NCHW - applies the run's input normalisation, runs the network and ends in
class probabilities (``logits=True``: the scores before the softmax).  A text run's graph takes the token
ids (int64, N x 1 x 1 x L) that its vocabulary gives.  The batch dimension is dynamic unless ``batch``
fixes it; the class names, the input shape, the normalisation and (for text) the vocabulary go into the
model's metadata.  The native CPU kernels step aside while the graph is traced, as they do for any trace.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from cnnkit.errors import CnnkitError
from cnnkit.rundir import TrainedModel, load


class Deployed(nn.Module):
    """[0, 1] pixels (or token ids) -> the run's normalisation -> the network -> probabilities or logits."""

    def __init__(self, tm: TrainedModel, logits: bool):
        super().__init__()
        self.model, self.normalizer, self.logits = tm.model, tm.normalizer, logits
        self.tokens = tm.vocabulary is not None
        # predict feeds uint8-scale pixels to the normaliser; the exported graph takes them on [0, 1]
        self.pixel_scale = 255.0 if float(tm.normalizer.scale) < 1 else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.model(self.normalizer(x if self.tokens else x * self.pixel_scale))
        return scores if self.logits else torch.softmax(scores, 1)


def export_onnx(run, out: str | Path, opset: int = 17, batch: int = 0, logits: bool = False) -> dict:
    try:
        import onnx
    except ImportError:
        raise CnnkitError("ONNX export needs onnx: pip install 'cnnkit[onnx]' (or pip install onnx onnxruntime)") \
            from None
    tm = run if isinstance(run, TrainedModel) else load(run)
    task = tm.meta.get("task", "classify")
    if task != "classify" or tm.model.spec.is_graph:
        raise CnnkitError(f"export writes single-input classifiers for now; this run is "
                          f"{'a graph network' if tm.model.spec.is_graph else f'a {task} run'}")
    if batch < 0:
        raise CnnkitError("--batch must be 0 (dynamic) or a positive number")
    wrapped = Deployed(tm, logits).eval()
    shape = tm.input_shape
    n = batch or 2
    example = (torch.zeros(n, *shape, dtype=torch.long) if wrapped.tokens else torch.rand(n, *shape))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python-side checks, not the user's concern
        torch.onnx.export(wrapped, (example,), str(out), dynamo=False, opset_version=opset,
                          input_names=["tokens" if wrapped.tokens else "images"],
                          output_names=["logits" if logits else "probabilities"],
                          dynamic_axes=None if batch else {"tokens" if wrapped.tokens else "images": {0: "batch"},
                                                           "logits" if logits else "probabilities": {0: "batch"}})
    model = onnx.load(str(out))
    meta = {"cnnkit.classes": json.dumps(tm.classes), "cnnkit.input_shape": json.dumps(list(shape)),
            "cnnkit.input": "token ids (int64)" if wrapped.tokens else "float32 pixels in [0, 1], NCHW",
            "cnnkit.normalizer": json.dumps(tm.normalizer.describe()), "cnnkit.model": tm.model.spec.name}
    if wrapped.tokens:
        meta["cnnkit.vocabulary"] = json.dumps(tm.vocabulary.to_json())
    for key, value in meta.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return {"out": str(out), "opset": opset, "batch": batch or "dynamic", "input": list(shape),
            "output": "logits" if logits else "probabilities", "classes": len(tm.classes)}
