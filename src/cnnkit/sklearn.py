"""scikit-learn interface: ``CNNClassifier`` (fit / predict on numpy arrays) and ``CNNFeatures``.

A thin shell over the same core as the CLI: :func:`cnnkit.train.run.make_trainer`
builds the parts, :class:`~cnnkit.train.loop.Trainer` fits them.  The
scikit-learn contract is followed exactly: ``__init__`` only stores its
arguments, fitted state ends in ``_``, estimators clone, pickle and work in
``Pipeline`` and ``GridSearchCV``.

Images may be N x H x W, N x C x H x W or N x H x W x C; plain 2-d feature
matrices (N x F) are read as one-row images.  Whatever their size, inputs are
brought to the model's input size (padded or resized) the same way for fit and
predict; the model takes the data's channel count.

Pixel scale, one rule for fit and predict alike: uint8 (and other integer)
images are read as 0-255, float images whose values lie in [0, 1] as 0-1;
anything else (floats above 1, negative values such as standardised images)
is an error naming the expected ranges, never silently clipped or rescaled.
A 2-d feature matrix is not an image and is taken as it is.

Every parameter defaults to ``None``, meaning "resolved as ``cnnkit train``
resolves it": the model's recipe, then ``recipe=``, then the parameters given.
The parameters are the training config's own fields (one list, no copy).

Nested parameters route with ``__`` into the network's spec:
``set_params(model__fc1__units=64)`` (or a ``GridSearchCV`` grid over
``model__fc1__units``) changes layer ``fc1``'s ``units``; they are kept in
``model_overrides`` (``{"fc1": {"units": 64}}``), so clones carry them.
"""

from __future__ import annotations

import inspect
from dataclasses import fields

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from cnnkit.data.tensors import ImageData, fit_to_input, from_arrays
from cnnkit.layers import with_num_classes
from cnnkit.models import resolve_spec
from cnnkit.train.config import TrainConfig, resolve_config
from cnnkit.train.loop import FitState

#: Checks of ``sklearn.utils.estimator_checks`` that cannot apply to an image model (check -> reason).
EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_classifiers_train": (
        "trains on 300 blobs with 2 features, read as a 1x2 image stretched to the CNN's 28x28 input, and needs "
        "83% training accuracy after the test's 2 epochs; a LeNet reaches 65-75% there. On images the "
        "estimator learns as it should (tests/test_sklearn.py trains MNIST digits)"),
}

#: Config fields that describe a run on disk or a named data set, not a fit on arrays.
NOT_FOR_ARRAYS = frozenset({"model", "dataset", "data_dir", "out", "val_split", "eval_test_every_epoch",
                            "limit_train", "limit_test", "strict", "ensemble", "tta", "stream", "workers"})
CONFIG_PARAMS = tuple(f.name for f in fields(TrainConfig) if f.name not in NOT_FOR_ARRAYS)


def _pixels(X: np.ndarray) -> np.ndarray:
    """Images on the 0-255 scale (uint8 kept, float32 otherwise) by the module's one rule; errors otherwise."""
    if X.dtype == np.uint8:
        return X
    if X.dtype == np.bool_ or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"images must be numbers (uint8 0-255, or floats in [0, 1]), got dtype {X.dtype}")
    lo, hi = (float(X.min()), float(X.max())) if X.size else (0.0, 0.0)
    if np.issubdtype(X.dtype, np.integer):
        if lo < 0 or hi > 255:
            raise ValueError(f"integer images must lie in 0-255, got values from {lo:g} to {hi:g}")
        return X.astype(np.float32)
    if lo < 0 or hi > 1:
        raise ValueError(f"float images must lie in [0, 1] (or pass uint8 0-255), got values from {lo:g} to "
                         f"{hi:g}; standardised images are not accepted: the network standardises them itself")
    return X.astype(np.float32) * np.float32(255)


def _as_images(X: np.ndarray) -> torch.Tensor:
    """(N, F) -> (N, 1, 1, F); (N, H, W) -> (N, 1, H, W); NHWC -> NCHW; pixels on the 0-255 scale."""
    if X.ndim == 2:
        X = X[:, None, None, :].astype(np.float32)  # features, not pixels: taken as they are
    elif X.ndim in (3, 4):
        X = _pixels(X)
    if X.ndim == 3:
        X = X[:, None]
    elif X.ndim == 4 and X.shape[-1] in (1, 3, 4) and X.shape[1] not in (1, 3, 4):
        X = X.transpose(0, 3, 1, 2)
    elif X.ndim != 4:
        raise ValueError(f"expected 2-d features or images (3-d or 4-d), got an array of shape {X.shape}")
    X = np.ascontiguousarray(X)
    return torch.from_numpy(X if X.dtype == np.uint8 else X.astype(np.float32))


class CNNClassifier(ClassifierMixin, BaseEstimator):
    """A convolutional network as a scikit-learn classifier.

    ``model`` is a zoo name (default ``lenet5``), a spec file or spec data;
    ``recipe`` a named recipe, ``model:NAME`` or a YAML file, as for
    ``cnnkit train --recipe``; every other parameter is a training option of
    ``cnnkit train`` with the same meaning (see ``cnnkit train --help``).
    ``None`` leaves it to the model's recipe, exactly as the CLI does.
    """

    def __init__(self, model=None, **params):
        unknown = sorted(set(params) - set(CONFIG_PARAMS) - {"recipe", "verbose", "model_overrides"})
        if unknown:
            raise TypeError(f"CNNClassifier got unexpected parameter(s) {', '.join(unknown)}; accepted: model, "
                            f"recipe, verbose, {', '.join(CONFIG_PARAMS)}")
        self.model = model
        self.model_overrides = params.get("model_overrides")
        self.recipe = params.get("recipe")
        for name in CONFIG_PARAMS:
            setattr(self, name, params.get(name))
        self.verbose = params.get("verbose")

    def set_params(self, **params):
        """``model__LAYER__KEY=value`` edits layer LAYER of the spec; the rest as scikit-learn does."""
        nested = {k: v for k, v in params.items() if k.startswith("model__")}
        if nested:
            overrides = {layer: dict(keys) for layer, keys in (self.model_overrides or {}).items()}
            for key, value in nested.items():
                parts = key.split("__")
                if len(parts) != 3 or not all(parts):
                    raise ValueError(f"{key!r}: nested model parameters are model__LAYER__KEY, e.g. "
                                     f"model__fc1__units")
                overrides.setdefault(parts[1], {})[parts[2]] = value
            self.model_overrides = overrides
        return super().set_params(**{k: v for k, v in params.items() if k not in nested})

    def _spec(self, input_shape=None):
        """The network's spec with ``model_overrides`` applied (unknown layers or keys are errors)."""
        from cnnkit.spec import parse_spec, spec_to_data

        spec = resolve_spec(self.model if self.model is not None else "lenet5", input_shape)
        if not self.model_overrides:
            return spec
        data = spec_to_data(spec)
        names = [layer["name"] for layer in data["layers"]]
        for layer_name, keys in self.model_overrides.items():
            if layer_name not in names:
                raise ValueError(f"model__{layer_name}__...: no layer {layer_name!r}; layers: {', '.join(names)}")
            data["layers"][names.index(layer_name)].update(keys)
        return parse_spec(data)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def _config(self, epochs: int | None = None) -> TrainConfig:
        """The config ``cnnkit train`` would resolve for these parameters (the model's recipe under them)."""
        model = self.model if self.model is not None else "lenet5"
        options = {k: getattr(self, k) for k in CONFIG_PARAMS if getattr(self, k) is not None}
        options["dataset"] = "arrays"
        if epochs is not None:
            options["epochs"] = epochs
        return resolve_config(model if isinstance(model, str) else "spec", options, recipe=self.recipe)

    def _images(self, X) -> torch.Tensor:
        return fit_to_input(_as_images(X), self.input_shape_)

    def fit(self, X, y):
        return self._fit(X, y, None)

    def _fit(self, X, y, epochs: int | None, classes=None, one_epoch: bool = False):
        from cnnkit.train.run import EpochPrinter, make_trainer, pick_device

        X, y = validate_data(self, X, y, allow_nd=True, dtype=None, ensure_min_samples=1)
        check_classification_targets(y)
        self.classes_ = np.unique(y) if classes is None else np.asarray(classes)
        labels = np.searchsorted(self.classes_, y)
        images = _as_images(X)
        spec = self._spec()
        self.input_shape_ = (images.shape[1], spec.input[1], spec.input[2])
        spec = with_num_classes(self._spec(self.input_shape_), len(self.classes_))
        data = ImageData(fit_to_input(images, self.input_shape_), torch.as_tensor(labels, dtype=torch.long),
                         [str(c) for c in self.classes_], "arrays")
        cfg = self._config(epochs)
        device = pick_device(cfg.device)
        callbacks = [EpochPrinter(cfg.epochs)] if self.verbose else []
        trainer = make_trainer(cfg, spec, data, device, callbacks)
        if one_epoch:  # partial_fit: the first epoch of the whole schedule, which later calls continue
            self.fit_state_ = FitState()
            trainer.train_one_epoch(data.to(device), self.fit_state_)
            self.fit_state_.epoch += 1
        else:
            trainer.fit(data.to(device), None, None, FitState())
        self.network_, self.normalizer_ = trainer.model.eval(), trainer.normalizer
        self._trainer = trainer
        return self

    def partial_fit(self, X, y, classes=None):
        """One more epoch on (X, y); the first call needs ``classes`` unless y holds them all.

        The learning-rate schedule is the one ``fit`` would follow over the
        config's ``epochs``: each call takes the next epoch of it (the step
        count is kept across calls, and across pickling), so a one-cycle
        schedule warms up once, not at every call.
        """
        if not hasattr(self, "network_"):
            return self._fit(X, y, None, classes, one_epoch=True)
        X, y = validate_data(self, X, y, allow_nd=True, dtype=None, reset=False)
        check_classification_targets(y)
        unseen = set(np.unique(y)) - set(self.classes_.tolist())
        if unseen:
            raise ValueError(f"partial_fit got labels {sorted(unseen)} not among classes_ {self.classes_.tolist()}")
        data = ImageData(self._images(X), torch.as_tensor(np.searchsorted(self.classes_, y), dtype=torch.long),
                         [str(c) for c in self.classes_], "arrays")
        trainer = getattr(self, "_trainer", None)
        if trainer is None:  # after unpickling: the same weights and schedule position, a fresh optimizer
            from cnnkit.train.run import make_trainer, pick_device

            cfg = self._config()
            trainer = make_trainer(cfg, self.network_.spec, data, pick_device(cfg.device), model=self.network_,
                                   normalizer=self.normalizer_)
            self._trainer = trainer
        state = getattr(self, "fit_state_", None) or FitState()
        if state.epoch >= trainer.cfg.epochs and trainer.cfg.schedule in ("onecycle", "cosine"):
            import warnings

            warnings.warn(f"partial_fit: the {trainer.cfg.schedule} schedule planned for {trainer.cfg.epochs} epochs "
                          f"has ended, so the learning rate is now {trainer.schedule.lr_at(state.step):g}; pass "
                          f"epochs= for a longer schedule", stacklevel=2)
        device = next(self.network_.parameters()).device
        trainer.train_one_epoch(data.to(device), state)
        state.epoch += 1
        self.fit_state_ = state
        self.network_.eval()
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "network_")
        X = validate_data(self, X, allow_nd=True, dtype=None, reset=False)
        from cnnkit.evaluate.metrics import predict_logits

        logits = predict_logits(self.network_, self.normalizer_, self._images(X), 1000)
        return torch.softmax(logits, dim=1).numpy().astype(np.float64)

    def predict(self, X):
        check_is_fitted(self, "network_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_trainer", None)  # generators and optimizer: rebuilt on the next partial_fit
        return state


class CNNFeatures(TransformerMixin, BaseEstimator):
    """A trained run as a feature extractor: ``make_pipeline(CNNFeatures(run), SVC())`` reuses its features."""

    def __init__(self, run=None, layer=None):
        self.run = run
        self.layer = layer

    def fit(self, X=None, y=None):
        from cnnkit.rundir.artifacts import load

        if self.run is None:
            raise ValueError("CNNFeatures needs run= (a trained run directory or weights file)")
        self.trained_ = load(self.run)
        if X is not None:
            self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        from cnnkit.transfer.features import extract_features

        check_is_fitted(self, "trained_")
        data = from_arrays(np.asarray(X), np.zeros(len(X), dtype=np.int64), classes=["0"])
        return extract_features(self.trained_, self.trained_.prepare(data.images), self.layer)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("trained_", None)  # reloaded from ``run`` after unpickling
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.run is not None and "n_features_in_" in state:
            self.fit()


# The estimator's signature lists every parameter by name (scikit-learn's get_params, clone and
# GridSearchCV read it), generated from the config's fields rather than copied by hand.
CNNClassifier.__init__.__signature__ = inspect.Signature(
    [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
     inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)]
    + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None)
       for n in ("recipe", *CONFIG_PARAMS, "verbose", "model_overrides")])
