"""cnnkit reproduce: every claim's --quick run produces the documented object, from real runs."""

import json
from pathlib import Path

import pytest

from cnnkit.cli.main import main
from cnnkit.reproduce import CLAIMS, VERDICTS


def test_list_names_every_claim_with_its_source(capsys):
    assert main(["reproduce", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["claim"] for r in rows] == list(CLAIMS) and all(r["source"] and r["claimed"] for r in rows)


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_quick_run_of_each_claim(name, tmp_path, capsys, data_root):
    assert main(["reproduce", name, "--quick", "--seeds", "1", "--out", str(tmp_path / name), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert set(r) >= {"claim", "source", "claimed", "measured", "verdict", "seeds", "runs"}
    assert r["verdict"] in VERDICTS and r["seeds"] == 1 and r["quick"] is True
    for run in r["runs"]:  # ordinary run directories
        assert (Path(run) / "summary.json").exists() or (Path(run) / "config.json").exists()
    assert json.loads((tmp_path / name / "result.json").read_text())["verdict"] == r["verdict"]
    if name == "dropout":  # the experiment as specified: the two nets differ only by dropout
        plain = json.loads((tmp_path / name / "plain.yaml").read_text())["layers"]
        dropped = json.loads((tmp_path / name / "dropout.yaml").read_text())["layers"]
        assert [x for x in dropped if not x.startswith("dropout")] == plain
    if name == "batch-norm":
        assert r["measured"]["learning_rate"] >= 1.0
    if name == "relu-vs-tanh":  # the sweep happened, and no regularisation of any kind
        row = next(iter(r["measured"]["variants"].values()))
        assert len(row["relu"]["sweep_epochs_to_target"]) >= 2 and len(row["tanh"]["sweep_epochs_to_target"]) >= 2
        for run in r["runs"]:
            cfg = json.loads((Path(run) / "config.json").read_text())
            assert cfg["weight_decay"] == 0 and cfg["augment"] == "" and cfg["momentum"] == 0
    if name in CHECKS:  # the experiment as specified (declared below)
        CHECKS[name](r, tmp_path / name)


def _config(run):
    return json.loads((Path(run) / "config.json").read_text())


def _checks_lenet5_1998(r, folder):  # the published training, with and without distortions, beside the modern one
    cfgs = [_config(run) for run in r["runs"]]
    published = [c for c in cfgs if c["model"] == "lenet5-1998"]
    assert {(c["optimizer"], c["schedule"], c["init"]) for c in published} == {("sdlm", "lecun1998", "lecun1998")}
    assert sorted(c["augment"] for c in published) == ["", "distort"]
    assert any(c["model"] == "lenet5" and c["optimizer"] == "sgd" for c in cfgs)


def _checks_overlapping_pooling(r, folder):  # the two nets differ only in their pooling windows
    a, b = (json.loads((folder / f"{n}.yaml").read_text())["layers"] for n in ("pool3s2", "pool2s2"))
    differ = [(x, y) for x, y in zip(a, b) if x != y]
    assert len(a) == len(b) and differ and all(x["type"] == y["type"] == "maxpool" for x, y in differ)
    assert {x["size"] for x, _ in differ} == {3} and {y["size"] for _, y in differ} == {2}


def _checks_lrn(r, folder):  # both sides ran, and the LRN nets are their plain twins plus LRN layers
    for with_lrn, plain in (("alexnet-lrn", "alexnet-plain"), ("vgg-a-lrn", "vgg-a")):
        a, b = (json.loads((folder / f"{n}.yaml").read_text())["layers"] for n in (with_lrn, plain))
        is_lrn = lambda x: (x if isinstance(x, str) else x["type"]).lower() == "lrn"  # noqa: E731
        assert [x for x in a if not is_lrn(x)] == b and any(is_lrn(x) for x in a)
    assert set(r["measured"]) >= {"alexnet_claim_lrn_lowers_error", "vgg_claim_lrn_does_not_help"}


def _checks_transfer(r, folder):  # three methods at each label budget, the target never seen by the source
    errors = r["measured"]["test_top1_error"]
    assert set(errors) == {"scratch", "features", "finetune"}
    assert all(set(v) == {"10", "100"} for v in errors.values())
    assert _config(next(run for run in r["runs"] if "source" in run))["dataset"] == "mnist-0-4"


def _checks_kim_cnn(r, folder):  # cross-validated as Kim measured: every fold an ordinary run of kim-cnn on mr
    assert r["measured"]["folds"] == 2 and len(r["runs"]) == 2
    assert {_config(run)["model"] for run in r["runs"]} == {"kim-cnn"}
    assert {_config(run)["fold"] for run in r["runs"]} == {1, 2}
    assert 0.5 <= r["measured"]["cv_accuracy"]["mean"] <= 1


CHECKS = {"kim-cnn": _checks_kim_cnn, "lenet5-1998": _checks_lenet5_1998,
          "overlapping-pooling": _checks_overlapping_pooling, "lrn": _checks_lrn, "transfer": _checks_transfer}


def test_unknown_claim_is_one_line(capsys):
    assert main(["reproduce", "relu-vs-tahn"]) == 2
    assert "unknown claim" in capsys.readouterr().err
