"""SIGKILL a fine-tuning run at seeded random moments; ``finetune --resume`` ends with the uninterrupted weights."""

import os
import random
import signal
import subprocess
import sys
import time

import torch

import cnnkit
from cnnkit.rundir.artifacts import read_weights

STAGES = ["--head", "FC-32,dropout0.5", "--stages", "head:3:0.01,top1:3:0.003", "--limit-train", "8000",
          "--limit-test", "200", "--batch-size", "40", "--quiet", "--device", "cpu"]


def finetune_cmd(base, out, *extra):
    return [sys.executable, "-m", "cnnkit", "finetune", str(base), "--dataset", "fashion-mnist", *STAGES,
            "--out", str(out), *extra]


def test_killed_finetune_resumes_to_the_uninterrupted_weights(tmp_path, data_root):
    env = dict(os.environ, CNNKIT_DATA=str(data_root), OMP_NUM_THREADS="1")
    base = tmp_path / "base"
    cnnkit.train("lenet5", "mnist", out=str(base), epochs=1, limit_train=1000, limit_test=200, quiet=True,
                 data_dir=str(data_root))
    ref = tmp_path / "ref"
    subprocess.run(finetune_cmd(base, ref), check=True, env=env, capture_output=True, timeout=300)
    want = read_weights(ref / "model.safetensors")[0]
    rng = random.Random(7)
    resumed = 0
    for k in range(2):
        out = tmp_path / f"killed{k}"
        proc = subprocess.Popen(finetune_cmd(base, out), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not (out / "stage-1" / "config.json").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)  # training has begun: kill at a random moment of it
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if (out / "model.safetensors").exists() or not (out / "finetune.json").exists():
            continue  # finished before, or killed before it began: nothing to resume
        r = subprocess.run([sys.executable, "-m", "cnnkit", "finetune", "--resume", str(out), "--quiet"], env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        got = read_weights(out / "model.safetensors")[0]
        assert set(got) == set(want)
        for name, value in want.items():
            assert torch.equal(got[name], value), name
        resumed += 1
    assert resumed >= 1, "no kill landed inside the fine-tuning"
