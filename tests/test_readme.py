"""The README is executed: every command and Python block runs as shown, with quick substitutions.

A ``<!-- readme-test: skip "PATTERN": REASON -->`` comment before a block leaves out its lines
holding PATTERN (``skip block:`` the whole block) and says why; nothing else is left out.
Output blocks (lines after ``$ cnnkit ...``) must equal what the command prints now.
The commands run in-process through ``cnnkit.cli.main`` (the same code as the ``cnnkit``
script, without a Python start per command), in one scratch folder, in README order.
"""

import contextlib
import io
import json
import os
import re
import shlex
from pathlib import Path

import pytest
from PIL import Image

README = Path(__file__).resolve().parents[1] / "README.md"
QUICK_TRAIN = ["--epochs", "1", "--limit-train", "512", "--limit-test", "256"]
QUICK = {  # command -> flags appended so that it runs in seconds
    "finetune": ["--stages", "head:1:0.01", "--limit-train", "256", "--limit-test", "128"],
    "features": ["--limit-train", "300", "--limit-test", "200"],
    "transfer": ["--limit-train", "300", "--limit-test", "200"],
}
EXPAND = {"cnnkit data list | info NAME | fetch NAME": ["cnnkit data list", "cnnkit data info mnist",
                                                        "cnnkit data fetch mnist"]}


def blocks():
    """(kind, lines, skips) for each fenced block; skips = [(pattern or None for the block, reason)]."""
    out, skips, lines, kind = [], [], None, None
    for line in README.read_text().splitlines():
        m = re.match(r'<!-- readme-test: skip (block|"([^"]+)"): (.*?) -->', line.strip())
        if m and lines is None:
            skips.append((m.group(2), m.group(3)))
            continue
        if line.startswith("```"):
            if lines is None:
                kind, lines = line[3:].strip() or "output", []
            else:
                out.append((kind, lines, skips))
                lines, skips = None, []
        elif lines is not None:
            lines.append(line)
    return out


def commands(lines):
    joined, buf = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        joined.append((buf + line).split("  #")[0].split(" # ")[0].strip())
        buf = ""
    return [c for c in joined if c]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, data_root, mnist):
    d = tmp_path_factory.mktemp("readme")
    x = mnist["test"].images[:2, 0].numpy()
    Image.fromarray(255 - x[0]).resize((150, 150)).save(d / "digit.png")  # a black-on-white 7
    Image.fromarray(x[1]).convert("RGB").resize((200, 160)).save(d / "photo.jpg")
    (d / "run.yaml").write_text("epochs: 1\nbatch_size: 64\n")
    spec = next(lines for kind, lines, _ in blocks() if kind == "yaml")
    (d / "my-net.yaml").write_text("\n".join(spec) + "\n")  # the README's own spec example
    return d


@contextlib.contextmanager
def inside(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def cnnkit(argv):
    from cnnkit.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def variants(cmd):
    """The command as written, and once more with each bracketed option ([--json]) switched on."""
    plain = re.sub(r"\s*\[[^\]]*\]", "", cmd)
    extra = re.findall(r"\[([^\]]*)\]", cmd)
    return [plain] + ([plain + " " + " ".join(extra)] if extra else [])


def test_every_readme_block_runs(sandbox, mnist):
    ran, skipped = [], []
    namespace = {"X": mnist["train"].images[:600, 0].numpy(), "y": mnist["train"].labels[:600].numpy(),
                 "X_train": mnist["train"].images[:1000, 0].numpy(), "y_train": mnist["train"].labels[:1000].numpy(),
                 "X_test": mnist["test"].images[:300, 0].numpy(), "y_test": mnist["test"].labels[:300].numpy()}
    import torch

    namespace["x"] = torch.randn(2, 1, 28, 28)
    with inside(sandbox):
        for kind, lines, skips in blocks():
            if any(p is None for p, _ in skips):
                skipped.append((lines[:1], [r for p, r in skips if p is None][0]))
                continue
            if kind == "bash":
                for written in commands(lines):
                    reason = next((r for p, r in skips if p in written), None)
                    if reason:
                        skipped.append((written, reason))
                        continue
                    for cmd in EXPAND.get(written, [written]):
                        for form in variants(cmd):
                            argv = shlex.split(form)
                            assert argv[0] == "cnnkit", f"README command not cnnkit: {form}"
                            argv = argv[1:]
                            if argv[0] == "train" and "--resume" not in argv and "--show-config" not in argv:
                                argv += QUICK_TRAIN
                            argv += QUICK.get(argv[0], [])
                            code, out, err = cnnkit(argv)
                            assert code == 0, f"{form}\n{err}"
                            if "--json" in argv:
                                json.loads(out)  # exactly one JSON document on stdout
                            ran.append(form)
            elif kind == "output":
                if not lines or not lines[0].startswith("$ cnnkit"):
                    continue
                argv = shlex.split(lines[0][2:])[1:]
                code, out, err = cnnkit(argv)
                shown = "\n".join(x.rstrip() for x in lines[1:]).strip()
                got = "\n".join(x.rstrip() for x in (out if code == 0 else err).splitlines()).strip()
                assert got == shown, f"README output of {lines[0]} differs from what it prints now:\n{got}"
                ran.append(lines[0])
            elif kind == "yaml":
                Path("example.yaml").write_text("\n".join(lines) + "\n")
                assert cnnkit(["summary", "example.yaml"])[0] == 0
                ran.append("yaml spec")
            elif kind == "python":
                code = "\n".join(lines).replace("epochs=3,", "epochs=1, limit_train=512, limit_test=256,")
                exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
                ran.append("python block")
    assert len(ran) >= 25, ran
    assert all(reason for _, reason in skipped)
