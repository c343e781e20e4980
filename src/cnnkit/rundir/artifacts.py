"""What a run leaves behind, and how to load it again.

A weights file is one safetensors file whose header metadata holds the JSON
that makes it self-describing (spec, classes, normalisation, how inputs were
fitted, versions); a ``.json`` sidecar repeats it for people.  Nothing is
ever unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from cnnkit.data.images import load_image
from cnnkit.data.preprocess import Normalizer
from cnnkit.data.tensors import fit_to_input
from cnnkit.errors import CnnkitError
from cnnkit.layers import CNN, build_from_spec
from cnnkit.rundir.files import save_json, write_atomic
from cnnkit.spec import parse_spec

FORMAT = "cnnkit-weights/1"


def versions() -> dict:
    import cnnkit

    return {"cnnkit": cnnkit.__version__, "torch": torch.__version__}


def save_weights(path: Path, tensors: dict[str, torch.Tensor], meta: dict, sidecar: bool = True) -> None:
    """One atomic safetensors file with ``meta`` (JSON) embedded in its header."""
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    write_atomic(path, save(flat, metadata={"cnnkit": json.dumps({"format": FORMAT, **meta})}))
    if sidecar:
        save_json(path.with_suffix(".json"), {"format": FORMAT, **meta})


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("cnnkit")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except FileNotFoundError:
        raise CnnkitError(f"{path} does not exist") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise CnnkitError(f"{path} is not a readable safetensors file: {exc}") from None
    if raw is None:
        raise CnnkitError(f"{path} holds no cnnkit metadata (was it written by cnnkit?)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise CnnkitError(f"{path}: its cnnkit metadata is not valid JSON") from None
    return tensors, meta


def model_tensors(model: torch.nn.Module, normalizer: Normalizer) -> dict[str, torch.Tensor]:
    out = {f"model.{k}": v for k, v in model.state_dict().items()}
    out.update({f"normalizer.{k}": v for k, v in normalizer.state_dict().items()})
    return out


@dataclass
class TrainedModel:
    """A trained network with everything needed to use it: classes, normalisation, input fitting."""

    model: CNN
    normalizer: Normalizer
    classes: list[str]
    meta: dict
    path: Path

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.model.input_shape

    @property
    def source_shape(self) -> tuple[int, int, int]:
        """Shape of the training images before they were fitted to the model's input."""
        return tuple(self.meta.get("source_shape") or self.input_shape)  # type: ignore[return-value]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The images the network reads, or for a GAN the images its generator draws."""
        d = self.model.spec.discriminator
        return d.input if d is not None else self.input_shape

    @property
    def vocabulary(self):
        """A text run's tokeniser vocabulary (None for images)."""
        if "vocabulary" not in self.meta:
            return None
        from cnnkit.data.text import Vocabulary

        return Vocabulary.from_json(self.meta["vocabulary"])

    def to(self, device) -> TrainedModel:
        self.model.to(device)
        self.normalizer.to(device)
        return self

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images of the training data's shape -> the model's input shape, as training did."""
        if images.dtype == torch.long:  # token ids are encoded at the model's length already
            return images
        return fit_to_input(images, self.image_shape)

    def load_pictures(self, files, invert: str = "auto", digit_normalize: str = "auto") -> tuple[torch.Tensor, list]:
        """People's own picture files -> uint8 (N, C, H, W) like the training images, and per file what was done.

        Beyond :meth:`load_files`: pictures of the opposite polarity to the
        training images are inverted, and free-form digits get MNIST's
        normalisation when the network learnt MNIST (see
        :func:`~cnnkit.data.images.picture_to_input`).
        """
        from cnnkit.data.images import open_picture, picture_to_input

        c, h, w = self.source_shape
        arrays, infos = [], []
        for f in files:
            arr, info = picture_to_input(open_picture(f), (c, h, w), self.background, self.digits, invert,
                                         digit_normalize)
            arrays.append(arr)
            infos.append(info)
        return self.prepare(torch.from_numpy(np.stack(arrays))), infos

    @property
    def background(self) -> str | None:
        """The training images' background ('dark' for MNIST); known families for runs that predate the record."""
        if "background" in self.meta:
            return self.meta["background"]
        return "dark" if self.meta.get("dataset") in ("mnist", "fashion-mnist", "kmnist") else None

    @property
    def digits(self) -> bool:
        return bool(self.meta.get("digits", self.meta.get("dataset") == "mnist"))

    def load_files(self, files) -> torch.Tensor:
        """Image files -> uint8 (N, C, H, W) converted exactly like the training data."""
        c, h, w = self.source_shape
        arrays = [load_image(f, c, (h, w)) for f in files]
        return self.prepare(torch.from_numpy(np.stack(arrays)))

    @torch.inference_mode()
    def predict_proba(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        from cnnkit.layers.inference import predict_logits

        return torch.softmax(predict_logits(self.model, self.normalizer, images, batch_size), dim=1)


def load(path: str | Path, which: str = "model") -> TrainedModel:
    """Load a run directory (its final ``model``, ``best`` or latest ``checkpoint`` weights) or a weights file."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / f"{which}.safetensors"]
        if which == "model":
            candidates.append(path / "checkpoint.safetensors")  # an unfinished run
        file = next((c for c in candidates if c.exists()), None)
        if file is None:
            raise CnnkitError(f"{path} holds no {which}.safetensors: is it a cnnkit run directory?")
    elif path.exists():
        file = path
    else:
        raise CnnkitError(f"run {str(path)!r} does not exist")
    tensors, meta = read_weights(file)
    if "spec" not in meta:
        raise CnnkitError(f"{file} lacks the model spec in its metadata")
    spec = parse_spec(meta["spec"])
    model = build_from_spec(spec)
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CnnkitError(f"{file}: weights do not match the spec ({first})") from None
    normalizer = Normalizer.from_state(meta.get("normalizer", {}).get("method", "standardize"), tensors)
    classes = meta.get("classes") or [str(i) for i in range(model.num_classes)]
    model.eval()
    return TrainedModel(model, normalizer, list(classes), meta, file)


def load_split(tm: TrainedModel, dataset: str | None = None, split: str = "test", data_dir=None):
    """(Dataset, the split's images fitted to the model's input, labels) for a trained run.

    The data set is the one the run was trained on unless ``dataset`` names
    another with the same number of classes.  The one place that reads a run's
    data back, for evaluate, reports, ensembles and transfer alike.
    """
    from cnnkit.data import load_dataset

    name = dataset or tm.meta.get("dataset")
    if not name:
        raise CnnkitError("the run does not record its dataset: pass --dataset")
    text = {"vocabulary": tm.vocabulary} if tm.vocabulary is not None else {}
    fold = tm.meta.get("fold")
    if fold and tm.vocabulary is not None and not dataset:  # the fold this run was tested on
        text["fold"] = tuple(fold)
    ds = load_dataset(name, data_dir, input_shape=tm.image_shape, seed=tm.meta.get("split_seed", 0),
                      text_options=text or None)
    if fold and tm.vocabulary is None and not dataset and split == "test":  # images: the run's fold of train
        from cnnkit.data.text import stratified_folds

        train = ds["train"]
        data = train.subset(stratified_folds(train.labels.tolist(), fold[1], tm.meta.get("split_seed", 0))[fold[0] - 1])
        return ds, tm.prepare(data.images), data.labels
    data = ds[split]
    return ds, tm.prepare(data.images), data.labels
