"""Import pretrained weights saved in torchvision's layout (``.pth`` or safetensors).

Names are translated per family (ResNet blocks and shortcuts, GoogLeNet
branches, the numbered layers of VGG and AlexNet), torchvision's auxiliary
GoogLeNet heads are dropped, and every name and shape is checked: a file that
does not fit the chosen model is refused with the first mismatch.  A
``.pth`` is read with ``torch.load(weights_only=True)``: tensors only, no code.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from cnnkit.errors import CnnkitError
from cnnkit.layers import CNN

#: torchvision's ImageNet normalisation, which its pretrained weights expect
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

def supported() -> list[str]:
    """Zoo models whose registration names a torchvision weight layout."""
    from cnnkit.models import get_entry, list_models

    return [n for n in list_models() if get_entry(n).torchvision]

SKIP_PREFIXES = ("aux1.", "aux2.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.exists():
        raise CnnkitError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CnnkitError(f"{path} is not a valid safetensors file: {exc}") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling refusal or corruption
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CnnkitError(f"{path} is not a plain weights file (loaded with weights_only=True): {first}") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise CnnkitError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _resnet_name(key: str) -> str:
    m = re.match(r"layer(\d+)\.(\d+)\.(.+)$", key)
    if m:
        stage, block, rest = m.groups()
        rest = re.sub(r"^conv(\d)\.", r"body.conv\1.conv.", rest)
        rest = re.sub(r"^bn(\d)\.", r"body.conv\1.bn.", rest)
        rest = rest.replace("downsample.0.", "shortcut.conv1.conv.").replace("downsample.1.", "shortcut.conv1.bn.")
        return f"features.layer{stage}_{block}.{rest}"
    if key.startswith("conv1."):
        return "features.conv1.conv." + key[len("conv1."):]
    if key.startswith("bn1."):
        return "features.conv1.bn." + key[len("bn1."):]
    if key.startswith("fc."):
        return "classifier.fc.fc." + key[len("fc."):]
    return key


def _googlenet_name(key: str) -> str:
    m = re.match(r"(inception\w+)\.branch(\d)\.(?:(\d)\.)?(conv|bn)\.(.+)$", key)
    if m:
        block, branch, index, part, rest = m.groups()
        # torchvision's branch4 is (maxpool, conv): its conv is our second layer, named conv1
        position = int(index or 0) + (0 if branch == "4" else 1)
        return f"features.{block}.branch{branch}.conv{position}.{part}.{rest}"
    if key.startswith("fc."):
        return "classifier.fc.fc." + key[len("fc."):]
    return "features." + key  # conv1/conv2/conv3 keep torchvision's names


def _sequential_names(model: CNN, foreign: dict[str, torch.Tensor]) -> dict[str, str]:
    """VGG / AlexNet: torchvision's numbered ``features.i`` / ``classifier.i`` in index order -> our layers."""
    ours = [n for n, m in [*model.features.named_children(), *model.classifier.named_children()]
            if any(True for _ in m.parameters())]
    odd = [k for k in foreign if not re.match(r"^(features|classifier)\.\d+\.(weight|bias)$", k)]
    if odd:
        raise CnnkitError(f"the file's {odd[0]!r} is not a torchvision {model.spec.name} name "
                          f"(features.N / classifier.N); is it the right --model?")
    theirs = sorted({k.rsplit(".", 1)[0] for k in foreign},
                    key=lambda k: (not k.startswith("features"), int(k.rsplit(".", 1)[1])))
    if len(ours) != len(theirs):
        raise CnnkitError(f"the file has {len(theirs)} layers with weights but {model.spec.name} has {len(ours)}; "
                          f"is it the right --model?")
    out = {}
    for mine, key in zip(ours, theirs):
        part = "classifier" if mine in model.classifier._modules else "features"
        kind = "fc" if part == "classifier" else "conv"
        for leaf in ("weight", "bias"):
            out[f"{key}.{leaf}"] = f"{part}.{mine}.{kind}.{leaf}"
    return out


def map_state_dict(model: CNN, foreign: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state-dict names -> the foreign (torchvision-named) tensors, every name and shape checked."""
    try:
        return _map_state_dict(model, foreign)
    except CnnkitError as exc:
        if model.spec.name in ("alexnet", "caffenet"):
            raise CnnkitError(f"{exc} (torchvision's AlexNet is the 1-GPU 'one weird trick' variant: use "
                              f"--model alexnet-owt)") from None
        raise


def _map_state_dict(model: CNN, foreign: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    from cnnkit.models import get_entry
    from cnnkit.models.registry import is_registered

    foreign = {k: v for k, v in foreign.items() if not k.startswith(SKIP_PREFIXES)}
    name = model.spec.name
    scheme = get_entry(name).torchvision if is_registered(name) else None
    if scheme == "resnet":
        rename = {k: _resnet_name(k) for k in foreign}
    elif scheme == "googlenet":
        rename = {k: _googlenet_name(k) for k in foreign}
    else:
        rename = _sequential_names(model, foreign)
    ours = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for key, value in foreign.items():
        mine = rename.get(key)
        if mine not in ours:
            raise CnnkitError(f"the file's {key!r} has no counterpart in {name}; is it the right --model?")
        if tuple(ours[mine].shape) != tuple(value.shape):
            raise CnnkitError(f"shape mismatch: the file's {key!r} is {'x'.join(map(str, value.shape)) or 'scalar'} "
                              f"but {name}'s {mine!r} is {'x'.join(map(str, ours[mine].shape)) or 'scalar'}; "
                              f"is it the right --model?")
        mapped[mine] = value.to(ours[mine].dtype)
    missing = [k for k in ours if k not in mapped]
    if missing:
        raise CnnkitError(f"the file lacks {len(missing)} of {name}'s tensors, e.g. {missing[0]!r}; "
                          f"is it the right --model?")
    return mapped


def import_weights(file: str | Path, model: str, out: str | Path) -> Path:
    """Write a run directory holding ``model`` with the file's weights, ready for features/finetune."""
    from cnnkit import build
    from cnnkit.data.preprocess import Normalizer
    from cnnkit.models import get_entry
    from cnnkit.rundir.artifacts import model_tensors, save_weights, versions
    from cnnkit.rundir.files import save_json
    from cnnkit.spec import spec_to_data

    entry = get_entry(model)
    net = build(entry.name)
    net.load_state_dict(map_state_dict(net, read_state_dict(file)))
    c = net.input_shape[0]
    normalizer = Normalizer("standardize", torch.tensor(IMAGENET_MEAN[:c]).view(c, 1, 1),
                            torch.tensor(IMAGENET_STD[:c]).view(c, 1, 1))
    out = Path(out)
    if (out / "model.safetensors").exists():
        raise CnnkitError(f"{out} already holds a run; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    meta = {"spec": spec_to_data(net.spec), "classes": [str(i) for i in range(net.num_classes)], "dataset": None,
            "normalizer": normalizer.describe(), "source_shape": list(net.input_shape),
            "imported_from": str(file), "versions": versions()}
    save_weights(out / "model.safetensors", model_tensors(net, normalizer), meta)
    save_json(out / "summary.json", {"model": entry.name, "imported_from": str(file),
                                     "params": sum(p.numel() for p in net.parameters())})
    return out
