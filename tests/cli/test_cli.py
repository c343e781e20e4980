"""The command line: outputs users read, and one-line errors with exit status 2."""

import json
import subprocess
import sys

from cnnkit.cli.main import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "cnnkit", *args], capture_output=True, text=True)


def test_summary_json(capsys):
    assert main(["summary", "cifar10-net", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["totals"] == {"weights": 22400, "biases": 66, "params": 22466, "neurons": 31562,
                           "connections": 3942784, "macs": 3920000}


def test_summary_table(capsys):
    assert main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "61,706" in out and "6x28x28" in out


def test_models_lists_the_zoo(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("mlp", "lenet5-1998", "alexnet", "vgg-e", "googlenet", "resnet20"):
        assert name in out


def test_errors_are_one_line_exit_2():
    for args in (["summary", "alexnet", "--input", "3,224,224"], ["summary", "nope"], ["summary", "lenet5", "--x"],
                 ["summary", "missing.yaml"]):
        r = run(*args)
        assert r.returncode == 2, args
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith("cnnkit: error: ")
