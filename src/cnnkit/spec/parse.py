"""Parse and validate specs into immutable :class:`ModelSpec` objects.

Errors name the layer (its 1-based index, its path inside blocks, and its
type) and the offending key, and list the accepted values, e.g.::

    layer 3 (conv): unknown key 'filter' (did you mean 'filters'?); accepted: activation, ...
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cnnkit.errors import SpecError
from cnnkit.spec.schema import (
    ACTIVATIONS,
    LAYER_TYPES,
    NAME_PREFIX,
    Field,
    FieldError,
    canonical_type,
    pos_int,
    suggest,
)

TOP_LEVEL_KEYS = ("name", "input", "inputs", "layers", "outputs", "description", "source", "classes", "latent",
                  "generator", "discriminator")
MAX_NESTING = 16  # blocks inside blocks; deeper is almost surely a generated mistake
MAX_LAYERS = 10_000
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@dataclass(frozen=True)
class LayerSpec:
    """One validated layer: canonical ``type``, unique ``name``, normalised ``args``.

    Blocks keep their nested layers in ``args`` as tuples of LayerSpec
    (``branches`` for inception; ``body`` and ``shortcut`` for residual), and an
    ``activation`` key holds a LayerSpec of an activation type, or None.
    """

    type: str
    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()  # names of earlier layers or network inputs; () = the previous layer

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input: tuple[int, int, int]  # (C, H, W)
    layers: tuple[LayerSpec, ...]
    description: str = ""
    source: str = ""
    classes: tuple[str, ...] | None = None
    #: named network inputs, in order: (name, (C, H, W)) for images, (name, (N,)) for vectors; () = one input
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()
    #: names of the layers whose outputs the network returns (its heads); () = the last layer
    outputs: tuple[str, ...] = ()
    #: per head: (name, task, loss weight), when the spec says (``outputs: [{layer, task, weight}]``)
    head_tasks: tuple[tuple[str, str, float], ...] = ()
    #: a GAN: this spec is the generator (input: the latent code, Z x 1 x 1); this is the discriminator
    discriminator: ModelSpec | None = None

    @property
    def is_text(self) -> bool:
        """A network over token ids (``input: {tokens: L}``): its first layer is an embedding."""
        return bool(self.layers) and self.layers[0].type == "embedding"

    @property
    def is_graph(self) -> bool:
        """Named inputs, several outputs or a layer that reads other than its predecessor."""
        return bool(self.inputs or self.outputs or any(layer.inputs for layer in self.layers))


def parse_spec(data: Any, input_shape: Any = None) -> ModelSpec:
    """Validate ``data`` (a dict as in a YAML spec file) into a ModelSpec.

    ``input_shape`` (C, H, W) overrides the spec's own ``input``.
    """
    if isinstance(data, ModelSpec):
        if input_shape is None:
            return data
        data = spec_to_data(data)
    if not isinstance(data, Mapping):
        raise SpecError(f"a spec must be a mapping with 'input' and 'layers', got {type(data).__name__}")
    unknown = [k for k in data if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise SpecError(f"spec: unknown key {unknown[0]!r}{suggest(unknown[0], TOP_LEVEL_KEYS)}; "
                        f"accepted: {', '.join(TOP_LEVEL_KEYS)}")
    name = str(data.get("name", "model"))
    if "generator" in data or "discriminator" in data:
        return _parse_gan(data, name, input_shape)
    if "latent" in data:
        raise SpecError("spec: 'latent' belongs to a GAN spec (with 'generator' and 'discriminator' layer lists); "
                        "a VAE's latent code is a reparameterize layer")
    named = _parse_inputs(data.get("inputs"), data.get("input"))
    if named:
        images = [s for _, s in named if len(s) == 3]
        if input_shape is not None:
            raise SpecError("spec: an input override does not apply to a network with named inputs")
        shape = images[0] if images else (named[0][1][0], 1, 1)
    else:
        shape = parse_input_shape(input_shape if input_shape is not None else data.get("input"))
    raw_layers = data.get("layers")
    if not isinstance(raw_layers, (list, tuple)) or not raw_layers:
        raise SpecError("spec: 'layers' must be a non-empty list of layers")
    try:
        layers = _parse_layer_list(raw_layers, prefix="layer ")
    except RecursionError:
        raise SpecError("spec: layers are nested too deeply (blocks inside blocks) to be a network") from None
    classes = data.get("classes")
    if classes is not None:
        if not isinstance(classes, (list, tuple)) or not classes:
            raise SpecError("spec: 'classes' must be a non-empty list of class names")
        classes = tuple(str(c) for c in classes)
    outputs, heads = _parse_outputs(data.get("outputs"))
    tokens = isinstance(data.get("input"), Mapping)
    first_embedding = bool(layers) and layers[0].type == "embedding"
    later = [la.name for la in layers[1:] if la.type == "embedding"]
    if later:
        raise SpecError(f"layer {later[0]!r}: an embedding reads token ids, so it must be the first layer")
    if tokens != first_embedding and not named:
        raise SpecError("spec: a text network takes 'input: {tokens: L}' and starts with an embedding layer"
                        if tokens else "spec: an embedding layer reads token ids: give 'input: {tokens: L}'")
    return ModelSpec(name=name, input=shape, layers=layers, description=str(data.get("description", "")),
                     source=str(data.get("source", "")), classes=classes, inputs=named, outputs=outputs,
                     head_tasks=heads)


def _parse_gan(data: Mapping, name: str, input_shape: Any) -> ModelSpec:
    """``{input: [C, H, W], latent: Z, generator: [...], discriminator: [...]}``: the generator maps Z numbers
    to an image of the input's shape, the discriminator an image to one real-vs-fake score."""
    missing = [k for k in ("latent", "generator", "discriminator") if k not in data]
    if missing:
        raise SpecError(f"spec: a GAN needs 'latent', 'generator' and 'discriminator'; {', '.join(missing)} missing")
    extra = [k for k in ("layers", "inputs", "outputs") if k in data]
    if extra:
        raise SpecError(f"spec: a GAN's layers are its 'generator' and 'discriminator' lists, not {extra[0]!r}")
    try:
        latent = pos_int(data["latent"])
    except FieldError as exc:
        raise SpecError(f"spec: latent: {exc}") from None
    image = parse_input_shape(input_shape if input_shape is not None else data.get("input"))
    disc = parse_spec({"name": f"{name}-discriminator", "input": list(image), "layers": data["discriminator"]})
    gen = parse_spec({"name": name, "input": [latent, 1, 1], "layers": data["generator"]})
    return replace(gen, discriminator=disc, description=str(data.get("description", "")),
                   source=str(data.get("source", "")))


HEAD_TASKS = ("classify", "regress")


def _parse_outputs(value: Any) -> tuple[tuple[str, ...], tuple[tuple[str, str, float], ...]]:
    """``outputs: [digit, size]`` or ``[{layer: digit, task: classify}, {layer: size, task: regress, weight: 0.5}]``."""
    if value is None:
        return (), ()
    if isinstance(value, (str, Mapping)):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise SpecError("spec: 'outputs' must be a list of layer names, e.g. [digit, size]")
    names, heads = [], []
    for item in value:
        if isinstance(item, str):
            names.append(item)
            heads.append((item, "classify", 1.0))
            continue
        if not isinstance(item, Mapping) or "layer" not in item:
            raise SpecError(f"spec: each output is a layer name or {{layer: NAME, task: classify|regress, "
                            f"weight: W}}, got {item!r}")
        unknown = [k for k in item if k not in ("layer", "task", "weight")]
        if unknown:
            raise SpecError(f"spec: output {item.get('layer')!r}: unknown key {unknown[0]!r}; accepted: layer, "
                            f"task, weight")
        task = str(item.get("task", "classify"))
        if task not in HEAD_TASKS:
            raise SpecError(f"spec: output {item['layer']!r}: task must be {' or '.join(HEAD_TASKS)}, got {task!r}")
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise SpecError(f"spec: output {item['layer']!r}: weight must be a positive number, got {weight!r}")
        names.append(str(item["layer"]))
        heads.append((str(item["layer"]), task, float(weight)))
    explicit = any(isinstance(item, Mapping) for item in value)
    return tuple(names), tuple(heads) if explicit else ()


def _parse_inputs(value: Any, single: Any) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``inputs: {image: [1, 28, 28], side: [8]}``: images [C, H, W], vectors [N]."""
    if value is None:
        return ()
    if single is not None:
        raise SpecError("spec: give either 'input' (one input) or 'inputs' (several, by name), not both")
    if not isinstance(value, Mapping) or not value:
        raise SpecError("spec: 'inputs' must map names to shapes, e.g. {image: [1, 28, 28], side: [8]}")
    out = []
    for key, shape in value.items():
        if not isinstance(key, str) or not _NAME_RE.match(key):
            raise SpecError(f"spec: input name {key!r} must start with a letter and hold only letters, digits, _ "
                            f"and -")
        if isinstance(shape, (list, tuple)) and len(shape) == 1:
            try:
                out.append((key, (pos_int(shape[0]),)))
            except FieldError as exc:
                raise SpecError(f"spec: input {key!r}: {exc}") from None
            continue
        try:
            out.append((key, parse_input_shape(shape)))
        except SpecError as exc:
            raise SpecError(f"spec: input {key!r}: {exc}; a vector is [N]") from None
    return tuple(out)


INPUT_FORMS = ("[channels, height, width] (C,H,W) for images, e.g. [1, 28, 28] or [3, 32, 32], or {tokens: L} "
               "for text")


def parse_input_shape(value: Any) -> tuple[int, int, int]:
    """[C, H, W] (a list, or the string "C,H,W" / "CxHxW"); anything else is an error naming the forms.

    Two values are never widened into a square image: ``28x28`` once became 28
    channels of 28x28 without a word.  [C, L] is the form of a 1-D signal,
    which needs 1-D layers; a channels-last [H, W, C] gets a hint.
    """
    if value is None:
        raise SpecError(f"spec: 'input' is missing; give it as {INPUT_FORMS}")
    if isinstance(value, Mapping):  # {tokens: L}: a sequence of L token ids, held as 1 x 1 x L
        if set(value) != {"tokens"}:
            raise SpecError(f"input {dict(value)!r}: the mapping form is {{tokens: L}} for text (L token ids)")
        try:
            return (1, 1, pos_int(value["tokens"]))
        except FieldError as exc:
            raise SpecError(f"input tokens: {exc}") from None
    given = value
    if isinstance(value, str):
        parts = re.split(r"[,x×\s]+", value.strip().strip("[]()"))
        try:
            value = [int(p) for p in parts if p]
        except ValueError:
            raise SpecError(f"input shape {given!r} must be whole numbers: {INPUT_FORMS}") from None
    if not isinstance(value, (list, tuple)) or len(value) not in (2, 3):
        raise SpecError(f"input shape {given!r} is not of an accepted form: {INPUT_FORMS}")
    try:
        dims = tuple(pos_int(v) for v in value)
    except FieldError as exc:
        raise SpecError(f"input shape {list(value)}: {exc}") from None
    if len(dims) == 2:
        raise SpecError(f"input shape {given!r} has two values, the form [channels, length] of a 1-D signal, "
                        f"which these 2-D layers cannot take; accepted: {INPUT_FORMS} - "
                        f"for {dims[0]}x{dims[1]} grey images write [1, {dims[0]}, {dims[1]}]")
    c, h, w = dims
    if w in (1, 3, 4) and c > 4 and h > 4:
        raise SpecError(f"input shape {list(dims)} looks channels-last (height, width, channels); cnnkit reads "
                        f"channels first: write [{w}, {c}, {h}]")
    return dims  # type: ignore[return-value]


# ---------------------------------------------------------------- shorthand
_SHORT_CONV = re.compile(r"^conv(\d+)(?:x(\d+))?-(\d+)(?:/(\d+))?$")
_SHORT_POOL = re.compile(r"^(max|avg)[-_]?pool(?:(\d+)(?:/(\d+))?)?$")
_SHORT_FC = re.compile(r"^(?:fc|dense)-?(\d+)$")
_SHORT_DROPOUT = re.compile(r"^dropout-?(0?\.\d+)?$")


def expand_shorthand(text: str, is_last_fc: bool) -> dict:
    """Turn one VGG-table cell into a long-form layer dict.

    ``conv3-64``: 64 filters 3x3, stride 1, size-preserving pad, ReLU (VGG's
    convention); ``conv11-96/4`` adds a stride.  ``maxpool`` is 2x2 stride 2,
    ``maxpool3/2`` is 3x3 stride 2; ``gap`` is global average pooling.
    ``FC-4096`` is a ReLU fully connected layer, except the network's last FC,
    which is linear (class scores).  ``LRN``, ``dropout``/``dropout0.3``,
    ``softmax``, ``bn``, ``flatten`` and activation names stand for themselves.
    """
    s = text.strip().lower().replace("×", "x")
    if m := _SHORT_CONV.match(s):
        fh = int(m[1])
        fw = int(m[2]) if m[2] else fh
        stride = int(m[4]) if m[4] else 1
        if fh % 2 == 0 or fw % 2 == 0:
            pad: Any = 0
        else:
            pad = "same"
        return {"type": "conv", "size": [fh, fw], "filters": int(m[3]), "stride": stride, "pad": pad,
                "activation": "relu"}
    if m := _SHORT_POOL.match(s):
        size = int(m[2]) if m[2] else 2
        stride = int(m[3]) if m[3] else size
        return {"type": f"{m[1]}pool", "size": size, "stride": stride}
    if s in ("gap", "global_avgpool", "globalavgpool", "global-avgpool"):
        return {"type": "avgpool", "global": True}
    if m := _SHORT_FC.match(s):
        return {"type": "fc", "units": int(m[1]), "activation": None if is_last_fc else "relu"}
    if m := _SHORT_DROPOUT.match(s):
        return {"type": "dropout", "p": float(m[1]) if m[1] else 0.5}
    return {"type": s}


def _is_fc_shorthand(item: Any) -> bool:
    if isinstance(item, str):
        return bool(_SHORT_FC.match(item.strip().lower()))
    return isinstance(item, Mapping) and str(item.get("type", "")).lower() in ("fc", "dense", "linear")


# ---------------------------------------------------------------- long form


def _parse_layer_list(items: Any, prefix: str) -> tuple[LayerSpec, ...]:
    if not isinstance(items, (list, tuple)) or not items:
        raise SpecError(f"{prefix.strip() or 'layers'}: expected a non-empty list of layers")
    if len(items) > MAX_LAYERS:
        raise SpecError(f"{prefix.strip()}: {len(items):,} layers is more than the limit of {MAX_LAYERS:,}")
    if prefix.count(".") > MAX_NESTING:
        raise SpecError(f"{prefix.strip()}: blocks nested more than {MAX_NESTING} deep")
    last_fc = max((i for i, it in enumerate(items) if _is_fc_shorthand(it)), default=-1)
    counters: dict[str, int] = {}
    names: set[str] = set()
    out = []
    for i, item in enumerate(items):
        where = f"{prefix}{i + 1}"
        if isinstance(item, str):
            item = expand_shorthand(item, is_last_fc=(i == last_fc))
        layer = _parse_layer(item, where)
        if layer.inputs and prefix != "layer ":
            raise SpecError(f"{where} ({layer.type}): 'inputs' is for the network's own layers, not for layers "
                            f"inside a block (a block's layers read the block's input)")
        if layer.name in names:
            raise SpecError(f"{where} ({layer.type}): duplicate layer name {layer.name!r}; names must be unique")
        if not layer.name:
            base = NAME_PREFIX[layer.type]
            counters[base] = counters.get(base, 0) + 1
            candidate = f"{base}{counters[base]}"
            while candidate in names:
                counters[base] += 1
                candidate = f"{base}{counters[base]}"
            layer = LayerSpec(layer.type, candidate, layer.args, layer.inputs)
        names.add(layer.name)
        out.append(layer)
    return tuple(out)


def _parse_layer(item: Any, where: str) -> LayerSpec:
    if not isinstance(item, Mapping):
        raise SpecError(f"{where}: a layer must be a mapping like {{type: conv, ...}} or a shorthand "
                        f"string like 'conv3-64', got {item!r}")
    if "type" not in item:
        raise SpecError(f"{where}: missing 'type'; accepted: {', '.join(sorted(LAYER_TYPES))}")
    ltype = canonical_type(item["type"], where)
    where = f"{where} ({ltype})"
    schema = LAYER_TYPES[ltype]
    name = item.get("name", "")
    if name and (not isinstance(name, str) or not _NAME_RE.match(name)):
        raise SpecError(f"{where}: name {name!r} must start with a letter and hold only letters, digits, _ and -")
    args: dict[str, Any] = {}
    inputs = item.get("inputs", ())
    if isinstance(inputs, str):
        inputs = (inputs,)
    if not isinstance(inputs, (list, tuple)) or not all(isinstance(i, str) and i for i in inputs):
        raise SpecError(f"{where}: 'inputs' must be a layer or input name, or a list of them")
    for key in item:
        if key in ("type", "name", "inputs"):
            continue
        if key not in schema:
            accepted = ", ".join(sorted(schema)) or "no other keys"
            raise SpecError(f"{where}: unknown key {key!r}{suggest(key, schema)}; accepted: {accepted}")
    for key, fld in schema.items():
        if key in item and item[key] is not None:
            args[key] = _check(fld, key, item[key], where)
        elif fld.required:
            raise SpecError(f"{where}: missing required key {key!r} ({fld.doc or 'see the spec reference'})")
        else:
            args[key] = None if fld.default is None else _check(fld, key, fld.default, where)
    _resolve(ltype, args, where)
    return LayerSpec(ltype, name or "", args, tuple(inputs))


def _check(fld: Field, key: str, value: Any, where: str) -> Any:
    if key in ("activation",):
        return parse_activation(value, f"{where} activation")
    if key in ("branches",):
        if not isinstance(value, (list, tuple)) or not value:
            raise SpecError(f"{where}: 'branches' must be a non-empty list of layer lists")
        return tuple(_parse_layer_list(b, prefix=f"{where.split(' (')[0]}.branch{j + 1}.layer ")
                     for j, b in enumerate(value))
    if key == "body":
        return _parse_layer_list(value, prefix=f"{where.split(' (')[0]}.body.layer ")
    if key == "shortcut":
        if isinstance(value, str):
            if value.lower() not in ("identity", "pad"):
                raise SpecError(f"{where}: shortcut must be identity, pad, or a list of layers, got {value!r}")
            return value.lower()
        return _parse_layer_list(value, prefix=f"{where.split(' (')[0]}.shortcut.layer ")
    try:
        return fld.check(value)
    except FieldError as exc:
        raise SpecError(f"{where}: key {key!r}: {exc}") from None


def parse_activation(value: Any, where: str) -> LayerSpec | None:
    if value is None or (isinstance(value, str) and value.lower() in ("none", "linear", "identity")):
        return None
    item = {"type": value} if isinstance(value, str) else value
    if not isinstance(item, Mapping):
        raise SpecError(f"{where}: expected an activation name or mapping, got {value!r}")
    try:
        t = canonical_type(item.get("type"), where)
    except SpecError:
        t = None
    if t not in ACTIVATIONS:
        raise SpecError(f"{where}: unknown activation {item.get('type')!r}"
                        f"{suggest(item.get('type'), ACTIVATIONS)}; accepted: {', '.join(sorted(ACTIVATIONS))}")
    return _parse_layer(item, where)


def _resolve(ltype: str, args: dict[str, Any], where: str) -> None:
    """Fill in values that depend on other keys (named paddings, default strides)."""
    if "stride" in args and args["stride"] is None:
        args["stride"] = args["size"]
    pad = args.get("pad")
    if isinstance(pad, str):
        fh, fw = args["size"]
        if pad == "valid":
            args["pad"] = (0, 0)
        elif pad == "full":
            args["pad"] = (fh - 1, fw - 1)
        else:  # same
            if fh % 2 == 0 or fw % 2 == 0:
                raise SpecError(f"{where}: pad 'same' needs an odd filter size (got {fh}x{fw}); "
                                f"give the padding as a number instead")
            args["pad"] = ((fh - 1) // 2, (fw - 1) // 2)
    if args.get("floor") and args.get("ceil_mode"):
        raise SpecError(f"{where}: 'floor' and 'ceil_mode' cannot both be true; pick one rounding")
    if ltype == "conv" and args.get("table") is not None:
        if args["groups"] != 1:
            raise SpecError(f"{where}: a connection 'table' and 'groups' cannot be combined")
        if len(args["table"]) != args["filters"]:
            raise SpecError(f"{where}: the connection table has {len(args['table'])} rows "
                            f"but the layer has {args['filters']} filters; give one row per filter")


def load_spec_file(path: str | Path) -> dict:
    """Read a YAML or JSON spec file into plain data."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec file {str(p)!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"spec file {str(p)!r} is not UTF-8 text (byte {exc.start}: {exc.reason}); "
                        f"save it as UTF-8 YAML or JSON") from None
    if "\x00" in text:
        raise SpecError(f"spec file {str(p)!r} holds NUL bytes: it is a binary file, not YAML or JSON")
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise SpecError(f"spec file {str(p)!r} is nested too deeply to be a spec") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise SpecError(f"spec file {str(p)!r} is not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, Mapping):
        raise SpecError(f"spec file {str(p)!r} must hold a mapping with 'input' and 'layers'")
    data = dict(data)
    data.setdefault("name", p.stem)
    return data


# ---------------------------------------------------------------- back to data
def _layer_to_data(layer: LayerSpec) -> dict:
    out: dict[str, Any] = {"type": layer.type, "name": layer.name}
    if layer.inputs:
        out["inputs"] = list(layer.inputs)
    for key, value in layer.args.items():
        out[key] = _value_to_data(key, value)
    return out


def _value_to_data(key: str, value: Any) -> Any:
    if isinstance(value, LayerSpec):
        d = _layer_to_data(value)
        d.pop("name")
        return d
    if key == "branches":
        return [[_layer_to_data(v) for v in branch] for branch in value]
    if key in ("body", "shortcut") and isinstance(value, tuple):
        return [_layer_to_data(v) for v in value]
    if isinstance(value, tuple):
        return [_value_to_data("", v) for v in value]
    return value


def as_2d(layer: LayerSpec) -> LayerSpec:
    """A 1-D layer (conv1d, maxpool1d) as the 2-D layer it computes on C x 1 x L maps: windows of 1 x h."""
    a = dict(layer.args)
    if layer.type == "conv1d":
        a.update(size=(1, a["size"]), stride=(1, a["stride"]), pad=(0, a["pad"]), groups=1, table=None)
        return LayerSpec("conv", layer.name, a, layer.inputs)
    if layer.type == "maxpool1d":
        stride = a["stride"] or a["size"]
        a.update(size=(1, a["size"]), stride=(1, stride), pad=(0, 0), ceil_mode=False)
        return LayerSpec("maxpool", layer.name, a, layer.inputs)
    return layer


def spec_to_data(spec: ModelSpec) -> dict:
    """The long-form plain-data version of a spec (JSON/YAML-safe, parses back equal)."""
    data: dict[str, Any] = {"name": spec.name}
    if spec.discriminator is not None:
        data.update(input=list(spec.discriminator.input), latent=spec.input[0],
                    generator=[_layer_to_data(la) for la in spec.layers],
                    discriminator=[_layer_to_data(la) for la in spec.discriminator.layers])
        for key in ("description", "source"):
            if getattr(spec, key):
                data[key] = getattr(spec, key)
        return data
    if spec.inputs:
        data["inputs"] = {k: list(v) for k, v in spec.inputs}
    elif spec.is_text:
        data["input"] = {"tokens": spec.input[2]}
    else:
        data["input"] = list(spec.input)
    data["layers"] = [_layer_to_data(layer) for layer in spec.layers]
    if spec.head_tasks:
        data["outputs"] = [{"layer": n, "task": t, "weight": w} for n, t, w in spec.head_tasks]
    elif spec.outputs:
        data["outputs"] = list(spec.outputs)
    if spec.description:
        data["description"] = spec.description
    if spec.source:
        data["source"] = spec.source
    if spec.classes:
        data["classes"] = list(spec.classes)
    return data
