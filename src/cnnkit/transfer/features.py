"""Feature reuse: a trained network's activations as features for another classifier (SVM, softmax)."""

from __future__ import annotations

import numpy as np
import torch

from cnnkit.errors import CnnkitError
from cnnkit.rundir.artifacts import TrainedModel
from cnnkit.spec.schema import OUTPUT_TYPES


def feature_layer_names(tm: TrainedModel) -> list[str]:
    return [*tm.model.features._modules, *tm.model.classifier._modules]


def default_layer(tm: TrainedModel) -> str:
    """The penultimate layer: the last one before the output layer, skipping dropout and softmax."""
    kinds = {layer.name: layer.type for layer in tm.model.spec.layers}
    names = feature_layer_names(tm)
    out = max(i for i, n in enumerate(names) if kinds.get(n) in OUTPUT_TYPES)
    for n in reversed(names[:out]):
        if kinds.get(n) not in ("dropout", "softmax", "flatten"):
            return n
    raise CnnkitError("the model has no layer before its output layer to take features from")


@torch.inference_mode()
def extract_features(tm: TrainedModel, images: torch.Tensor, layer: str | None = None,
                     batch_size: int = 500) -> np.ndarray:
    """Activations of ``layer`` (default: penultimate) for uint8 images, flattened to (N, D)."""
    layer = layer or default_layer(tm)
    modules = {**tm.model.features._modules, **tm.model.classifier._modules}
    if layer not in modules:
        raise CnnkitError(f"no layer {layer!r}; layers: {', '.join(modules)}")
    captured = []
    hook = modules[layer].register_forward_hook(lambda m, i, o: captured.append(o.detach().flatten(1).cpu()))
    device = next(tm.model.parameters()).device
    tm.model.eval()
    try:
        for i in range(0, len(images), batch_size):
            tm.model(tm.normalizer(images[i:i + batch_size].to(device)))
    finally:
        hook.remove()
    return torch.cat(captured).numpy() if captured else np.zeros((0, 0), np.float32)


def make_classifier(kind: str, seed: int = 0):
    """``svm``: a linear SVM on standardised features; ``logreg``: a softmax (multinomial logistic) classifier."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC
    except ImportError:
        raise CnnkitError("transfer classifiers need scikit-learn: pip install 'cnnkit[sklearn]'") from None
    from sklearn.model_selection import GridSearchCV

    # the regularisation strength is chosen by 3-fold cross-validation on the training features only
    grid = {"clf__C": [0.001, 0.01, 0.1, 1.0]}
    if kind == "svm":
        pipe = Pipeline([("scale", StandardScaler()),
                         ("clf", LinearSVC(dual="auto", max_iter=5000, random_state=seed))])
    elif kind == "logreg":
        pipe = Pipeline([("scale", StandardScaler()),
                         ("clf", LogisticRegression(max_iter=2000, random_state=seed))])
    else:
        raise CnnkitError(f"classifier must be svm or logreg, got {kind!r}")
    return GridSearchCV(pipe, grid, cv=3)


def transfer_classify(tm: TrainedModel, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                      test_y: torch.Tensor, classifier: str = "svm", layer: str | None = None) -> dict:
    """Fit a scikit-learn classifier on one layer's features; test top-1/top-5 error like ``evaluate``."""
    from cnnkit.evaluate.metrics import topk_errors

    f_train = extract_features(tm, train_x, layer)
    f_test = extract_features(tm, test_x, layer)
    clf = make_classifier(classifier)
    clf.fit(f_train, train_y.numpy())
    scores = clf.decision_function(f_test)
    scores = torch.as_tensor(np.asarray(scores, dtype=np.float64))
    if scores.ndim == 1:  # two classes: one signed score
        scores = torch.stack([-scores, scores], 1)
    labels = torch.as_tensor(np.searchsorted(clf.classes_, test_y.numpy()))
    errs = topk_errors(scores, labels)
    n = len(test_y)
    return {"classifier": classifier, "layer": layer or default_layer(tm), "features": int(f_train.shape[1]),
            "n_train": int(len(train_y)), "n": n, "errors": errs[1], "top1_error": errs[1] / n,
            "top5_error": errs[5] / n}
