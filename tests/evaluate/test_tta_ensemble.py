"""TTA with no transform equals plain evaluation; an ensemble of identical members equals the member."""

import pytest
import torch

import cnnkit
from cnnkit.errors import CnnkitError
from cnnkit.evaluate.ensemble import ensemble
from cnnkit.evaluate.tta import parse_tta, predict_proba, views


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("tta") / "run"
    cnnkit.train("lenet5", "mnist", out=str(out), limit_train=4000, limit_test=1000, epochs=2, batch_size=64,
                 quiet=True, data_dir=str(data_root))
    return out


def test_identity_tta_equals_plain(run, mnist):
    tm = cnnkit.load(run)
    images = mnist["test"].images[:500]
    plain = torch.softmax(tm.model(tm.normalizer(images)), 1)
    torch.testing.assert_close(predict_proba(tm.model, tm.normalizer, images, ""), plain.detach())


def test_views_and_names():
    x = torch.randn(2, 1, 28, 28)
    assert len(views(x, [])) == 1 and len(views(x, ["flip"])) == 2 and len(views(x, ["flip", "crops"])) == 10
    assert torch.equal(views(x, ["flip"])[1], x.flip(-1))
    shifted = views(x, ["flip", "translate"])
    assert len(shifted) == 6 and torch.equal(shifted[1][..., 1:, 1:], x[..., :-1, :-1])
    assert torch.equal(shifted[1][..., 0, :], torch.zeros_like(x[..., 0, :]))
    assert torch.equal(shifted[2][..., :-1, :-1], x[..., 1:, 1:])
    with pytest.raises(CnnkitError, match="unknown test-time augmentation"):
        parse_tta("spin")


def test_evaluate_reports_with_and_without_tta(run, data_root):
    m = cnnkit.evaluate(run, data_dir=data_root, tta="crops")
    assert m["tta"]["transforms"] == "crops"
    assert m["top1_error"] < 0.1 and abs(m["tta"]["top1_error"] - m["top1_error"]) < 0.03


def test_ensemble_of_identical_members_equals_member(run, data_root):
    r = ensemble([run, run, run], data_dir=data_root)
    member = r["members"][0]
    assert r["ensemble"]["top1_error"] == pytest.approx(member["top1_error"])
    assert r["ensemble"]["top5_error"] == pytest.approx(member["top5_error"])
    assert r["mean_member_top1_error"] == pytest.approx(member["top1_error"])
    assert set(r) >= {"members", "mean_member_top1_error", "ensemble"}


def test_train_ensemble_members(tmp_path, data_root):
    r = cnnkit.train("lenet5", "mnist", out=str(tmp_path / "ens"), ensemble=2, limit_train=3000, limit_test=500,
                     epochs=2, batch_size=64, quiet=True, data_dir=str(data_root))
    assert [p.name for p in sorted((tmp_path / "ens").glob("member-*"))] == ["member-1", "member-2"]
    assert len(r.summary["members"]) == 2 and 0 < r.summary["test_top1_error"] < 0.3


def test_compiled_inference_matches_eager(run, mnist):
    from cnnkit.evaluate.metrics import predict_logits

    tm = cnnkit.load(run)
    images = mnist["test"].images[:300]
    eager = predict_logits(tm.model, tm.normalizer, images, 100)
    compiled = predict_logits(tm.model, tm.normalizer, images, 100, compile=True)
    torch.testing.assert_close(compiled, eager, atol=1e-4, rtol=1e-4)
