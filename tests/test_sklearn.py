"""The scikit-learn contract: estimator checks, clone, pickle, Pipeline, GridSearchCV, partial_fit."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import check_estimator

from cnnkit.sklearn import EXPECTED_FAILED_CHECKS, CNNClassifier, CNNFeatures


def test_estimator_checks():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(CNNClassifier(epochs=2), expected_failed_checks=EXPECTED_FAILED_CHECKS)


@pytest.fixture(scope="module")
def digits(mnist):
    x = mnist["train"].images[:2000, 0].numpy()  # N x H x W uint8
    y = np.array([f"digit-{d}" for d in mnist["train"].labels[:2000].tolist()])
    xt = mnist["test"].images[:500, 0].numpy()
    yt = np.array([f"digit-{d}" for d in mnist["test"].labels[:500].tolist()])
    return x, y, xt, yt


def test_fit_predict_score_on_real_digits(digits):
    x, y, xt, yt = digits
    clf = CNNClassifier(epochs=3, batch_size=32).fit(x, y)  # lenet5's recipe otherwise
    assert clf.classes_.tolist() == sorted(set(y.tolist()))
    assert clf.predict(xt[:3]).dtype == y.dtype
    assert clf.score(xt, yt) > 0.85  # 2,000 digits, 3 epochs
    proba = clf.predict_proba(xt)
    assert proba.shape == (500, 10) and np.allclose(proba.sum(1), 1, atol=1e-5)
    again = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(again.predict(xt), clf.predict(xt))
    before = clf.score(xt, yt)
    again.partial_fit(x, y)  # another epoch after unpickling
    assert again.score(xt, yt) > before - 0.05


def test_nhwc_and_nchw_inputs(digits):
    x, y, xt, _ = digits
    rgb = np.repeat(x[:300, :, :, None], 3, axis=3)  # N x H x W x 3
    clf = CNNClassifier(epochs=1).fit(rgb, y[:300])
    assert clf.input_shape_ == (3, 28, 28)
    assert clf.predict(rgb[:5]).shape == (5,)
    nchw = CNNClassifier(epochs=1).fit(rgb.transpose(0, 3, 1, 2), y[:300])
    assert nchw.input_shape_ == (3, 28, 28)


def test_clone_and_grid_search(digits):
    x, y, _, _ = digits
    est = CNNClassifier(epochs=1, batch_size=128)
    assert clone(est).get_params() == est.get_params()
    grid = GridSearchCV(est, {"lr": [0.01, 0.1]}, cv=2).fit(x[:600], y[:600])
    assert grid.best_params_["lr"] in (0.01, 0.1)
    assert len(grid.cv_results_["mean_test_score"]) == 2


def test_features_pipeline(tmp_path, digits, data_root):
    import cnnkit

    x, y, xt, yt = digits
    run = tmp_path / "run"
    cnnkit.train("lenet5", "mnist", out=str(run), limit_train=3000, epochs=2, batch_size=64, quiet=True,
                 data_dir=str(data_root))
    pipe = make_pipeline(CNNFeatures(str(run)), LinearSVC(dual="auto")).fit(x[:1000], y[:1000])
    assert pipe.score(xt, yt) > 0.85
    assert CNNFeatures(str(run)).fit(x[:5]).transform(x[:5]).shape == (5, 84)  # lenet5's fc2


def test_partial_fit_continues_one_schedule_across_calls(digits):
    x, y, _, _ = digits
    clf = CNNClassifier(epochs=3, schedule="onecycle", lr=0.05, batch_size=100)
    lrs = []
    for _ in range(3):
        clf.partial_fit(x[:500], y[:500], classes=np.unique(y))
        lrs.append(clf._trainer.schedule.lr_at(clf.fit_state_.step - 1))
    assert clf.fit_state_.epoch == 3 and clf.fit_state_.step == 15
    assert lrs[0] > lrs[1] > lrs[2]  # one one-cycle over the three calls, not three warm-ups
    again = pickle.loads(pickle.dumps(clf))
    assert again.fit_state_.step == 15
    with pytest.warns(UserWarning, match="schedule planned for 3 epochs has ended"):
        again.partial_fit(x[:500], y[:500])


def test_nested_parameters_route_into_the_spec(digits):
    x, y, _, _ = digits
    est = CNNClassifier(epochs=1, batch_size=64)
    est.set_params(model__fc1__units=32, model__fc2__units=16, lr=0.02)
    assert est.model_overrides == {"fc1": {"units": 32}, "fc2": {"units": 16}} and est.lr == 0.02
    assert clone(est).get_params()["model_overrides"] == est.model_overrides
    est.fit(x[:300], y[:300])
    assert est.network_.features is not None and est.network_.classifier.fc1.fc.out_features == 32
    grid = GridSearchCV(CNNClassifier(epochs=1, batch_size=128), {"model__fc1__units": [16, 64]}, cv=2)
    grid.fit(x[:400], y[:400])
    assert grid.best_params_["model__fc1__units"] in (16, 64)
    with pytest.raises(ValueError, match="no layer 'nope'"):
        CNNClassifier(epochs=1).set_params(model__nope__units=3).fit(x[:50], y[:50])
