"""Every command's --json: exactly one JSON document on stdout, whatever it says on stderr."""

import json
import subprocess
import sys

import pytest

import cnnkit
from cnnkit.cli.main import SUBCOMMANDS, make_parser


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("json") / "run"
    cnnkit.train("lenet5", "mnist", out=str(out), epochs=1, limit_train=512, limit_test=300, quiet=True,
                 data_dir=str(data_root))
    cnnkit.train("vae-mnist", out=str(out.parent / "vae"), epochs=1, limit_train=256, limit_test=100, quiet=True,
                 data_dir=str(data_root))
    return out


def json_commands():
    parser = make_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(name for name, p in sub.choices.items() if any("--json" in a.option_strings for a in p._actions))


def test_every_json_command_prints_one_document(run, tmp_path, mnist):
    from PIL import Image

    Image.fromarray(mnist["test"].images[0, 0].numpy()).save(tmp_path / "d.png")
    argv = {"summary": ["lenet5"], "models": [], "evaluate": [str(run), "--tta", "flip"],
            "predict": [str(run), str(tmp_path / "d.png")], "data": ["info", "mnist"],
            "ensemble": [str(run), str(run)], "compare": [str(run), "--out", str(tmp_path / "c.png")],
            "transfer": [str(run), "--dataset", "mnist", "--limit-train", "200", "--limit-test", "100"],
            "demo": ["backprop"], "reproduce": ["list"],
            "export": [str(run), "--out", str(tmp_path / "m.onnx")],
            "explain": [str(run), str(tmp_path / "d.png"), "--out", str(tmp_path / "exp")],
            "sample": [str(run.parent / "vae"), "--n", "4", "--out", str(tmp_path / "s.png")],
            "word2vec": [str(tmp_path / "corpus.txt"), "--out", str(tmp_path / "v.txt"), "--min-count", "1",
                         "--neighbours", "cat"]}
    (tmp_path / "corpus.txt").write_text("the cat sat on the mat\nthe dog sat on the log\n" * 20)
    assert set(json_commands()) == set(argv), "a new --json command needs a row here"
    assert set(json_commands()) <= set(SUBCOMMANDS)
    for name, args in argv.items():
        r = subprocess.run([sys.executable, "-m", "cnnkit", name, *args, "--json"], capture_output=True, text=True)
        assert r.returncode == 0, (name, r.stderr)
        json.loads(r.stdout)  # the whole of stdout, one document
