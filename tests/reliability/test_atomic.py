"""A failed save (disk full, unwritable folder) leaves the previous file intact and no debris."""

import errno
import os

import pytest

from cnnkit.errors import CnnkitError
from cnnkit.rundir import files as checkpoint


def test_disk_full_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "checkpoint.safetensors"
    checkpoint.write_atomic(target, b"good old bytes")

    real_fsync = os.fsync

    def full(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".checkpoint"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CnnkitError, match="No space left on device.*previous file is intact"):
        checkpoint.write_atomic(target, b"new bytes that do not fit")
    assert target.read_bytes() == b"good old bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.safetensors"]


def test_unwritable_folder(tmp_path):
    with pytest.raises(CnnkitError, match="cannot write"):
        checkpoint.write_atomic(tmp_path / "missing" / "x.json", b"{}")
