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


def test_unknown_claim_is_one_line(capsys):
    assert main(["reproduce", "relu-vs-tahn"]) == 2
    assert "unknown claim" in capsys.readouterr().err
