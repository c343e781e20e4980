"""Data-parallel training: 2 CPU processes (gloo) step like 1 process with the same global batch.

Tolerance: the ranks sum gradients in another order than one process does, and
SGD with momentum carries those last-bit differences forward; after 40 steps the
weights agree to 2e-3 (they are ~0.05 in size) and the epoch losses to 0.1%.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from cnnkit.rundir.artifacts import read_weights

ARGS = ["lenet5", "--dataset", "mnist", "--limit-train", "2000", "--limit-test", "500", "--epochs", "2",
        "--batch-size", "100", "--augment", "", "--quiet", "--lr", "0.02", "--schedule", "constant",
        "--device", "cpu"]


@pytest.mark.skipif(shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None, reason="no torchrun")
def test_two_gloo_ranks_match_one_process(tmp_path, data_root):
    env = dict(os.environ, CNNKIT_DATA=str(data_root), OMP_NUM_THREADS="1")
    single = tmp_path / "single"
    subprocess.run([sys.executable, "-m", "cnnkit", "train", *ARGS, "--threads", "1", "--out", str(single)],
                   check=True, env=env, capture_output=True, timeout=300)
    ddp = tmp_path / "ddp"
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    r = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "cnnkit", "train", *ARGS,
                        "--out", str(ddp)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    a, _ = read_weights(single / "model.safetensors")
    b, _ = read_weights(ddp / "model.safetensors")
    for k in a:
        if k.startswith("model."):
            # same data, same global batches, gradients averaged by DDP: equal up to float summation order
            torch.testing.assert_close(a[k], b[k], atol=2e-3, rtol=1e-2)
    assert not (ddp / "run.lock").exists()
    rows = [json.loads(line) for line in (ddp / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(line) for line in (single / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2  # written once, by rank 0
    for x, y in zip(rows, ref):
        assert x["images"] == y["images"] == 2000
        assert abs(x["train_loss"] - y["train_loss"]) < 1e-3 * y["train_loss"]
