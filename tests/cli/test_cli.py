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


BAD_INVOCATIONS = [
    ["summary"], ["summary", "lenet5", "--input", "0,28,28"], ["models", "--nope"],
    ["train"], ["train", "lenet5", "--dataset", "nope"], ["train", "lenet5", "--epochs", "-1"],
    ["train", "lenet5", "--optimizer", "sgdx"], ["train", "lenet5", "--config", "/nonexistent.yaml"],
    ["train", "--resume", "/nonexistent/run"], ["train", "lenet5", "--augment", "spin"],
    ["evaluate", "/nonexistent/run"], ["predict", "/nonexistent/run", "x.png"],
    ["data", "info"], ["data", "info", "nope"], ["data", "info", "folder:/nonexistent"], ["data", "explode"],
    ["nonsense-command"],
]


def test_every_command_answers_bad_input_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNKIT_DATA", str(tmp_path))
    monkeypatch.setattr("cnnkit.data.sources.download", _offline)
    for args in BAD_INVOCATIONS:
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's own exits (e.g. --help) are not expected here
            code = exc.code
        err = capsys.readouterr().err
        assert code != 0, args
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith("cnnkit: warning")]
        assert len(lines) == 1 and lines[0].startswith("cnnkit: error: "), (args, err)


def _offline(url, *a, **k):
    from cnnkit.errors import CnnkitError

    raise CnnkitError(f"cannot download {url}: offline (test)")
