"""Fault injection: SIGKILL a real training process at seeded random moments, then resume.

Each time: the run directory must still load (checkpoint intact, metrics a prefix
of its history), and ``--resume`` must finish with exactly the weights of an
uninterrupted run.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from cnnkit.rundir.artifacts import read_weights

ARGS = ["lenet5", "--dataset", "mnist", "--limit-train", "1200", "--limit-test", "200", "--epochs", "3",
        "--batch-size", "40", "--augment", "translate", "--quiet", "--threads", "1", "--device", "cpu"]
KILLS = 4


def cnnkit_cmd(*args):
    return [sys.executable, "-m", "cnnkit", "train", *ARGS, *args]


def check_consistent(run):
    ck = run / "checkpoint.safetensors"
    if not ck.exists():
        return 0
    tensors, meta = read_weights(ck)  # loads: never half-written
    history = meta["checkpoint"]["history"]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()] \
        if (run / "metrics.jsonl").exists() else []
    assert rows == [{k: v for k, v in h.items() if k != "best"} for h in history[:len(rows)]]
    assert len(rows) >= len(history) - 1
    return meta["checkpoint"]["epoch"]


def test_sigkill_at_random_moments_then_resume(tmp_path, data_root):
    env = dict(os.environ, CNNKIT_DATA=str(data_root))
    ref = tmp_path / "ref"
    subprocess.run(cnnkit_cmd("--out", str(ref)), check=True, env=env, capture_output=True, timeout=300)
    want = read_weights(ref / "model.safetensors")[0]
    rng = random.Random(1234)
    survived = 0
    for k in range(KILLS):
        run = tmp_path / f"killed{k}"
        proc = subprocess.Popen(cnnkit_cmd("--out", str(run)), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 5.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if run.exists():
            check_consistent(run)
        r = subprocess.run(cnnkit_cmd("--out", str(run), "--resume", str(run)), env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        got = read_weights(run / "model.safetensors")[0]
        assert got.keys() == want.keys() and all(torch.equal(got[n], want[n]) for n in want), f"kill {k}"
        survived += 1
    assert survived == KILLS


def test_second_writer_is_locked_out(tmp_path, data_root):
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (run / "run.lock").write_text(str(holder.pid))
        r = subprocess.run(cnnkit_cmd("--out", str(run)), capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, CNNKIT_DATA=str(data_root)))
        errors = [line for line in r.stderr.splitlines() if not line.startswith("cnnkit: warning")]
        assert r.returncode == 2 and len(errors) == 1 and "being written by another cnnkit process" in errors[0]
    finally:
        holder.kill()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_is_a_clear_error(tmp_path, data_root):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    r = subprocess.run(cnnkit_cmd("--out", str(locked / "run")), capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, CNNKIT_DATA=str(data_root)))
    assert r.returncode == 2 and "Traceback" not in r.stderr
