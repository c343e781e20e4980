"""Lookup order and downloads against a local HTTP server on loopback."""

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from cnnkit.data import sources
from cnnkit.errors import CnnkitError

PAYLOAD = b"cnnkit test payload " * 5000
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == "/good":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/cut":  # promises everything, sends half, hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
            self.wfile.flush()
            self.connection.close()
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_good_download_is_verified(server, tmp_path):
    dest = sources.download(f"{server}/good", tmp_path / "f.bin", SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_bad_checksum_leaves_nothing(server, tmp_path):
    with pytest.raises(CnnkitError, match="failed its checksum"):
        sources.download(f"{server}/good", tmp_path / "f.bin", "0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_transfer_leaves_nothing(server, tmp_path):
    with pytest.raises(CnnkitError, match="interrupted"):
        sources.download(f"{server}/cut", tmp_path / "f.bin", SHA, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_fetch_downloads_into_first_writable_root(server, tmp_path, monkeypatch):
    monkeypatch.delenv("CNNKIT_DATA", raising=False)
    remote = sources.RemoteFile("f.bin", SHA, (f"{server}/missing", f"{server}/good"))
    path = sources.fetch("toy", remote, tmp_path / "data")
    assert path == tmp_path / "data" / "toy" / "f.bin" and path.read_bytes() == PAYLOAD
    assert sources.fetch("toy", remote, tmp_path / "data") == path  # found, not downloaded again


def test_lookup_order_flag_env_cache(tmp_path, monkeypatch):
    a, b, c = (tmp_path / n for n in "abc")
    for root in (a, b, c):
        (root / "toy").mkdir(parents=True)
        (root / "toy" / "x").write_text(root.name)
    monkeypatch.setenv("CNNKIT_DATA", str(b))
    monkeypatch.setenv("CNNKIT_CACHE", str(c))
    assert sources.find_file("toy", "x", a).read_text() == "a"
    assert sources.find_file("toy", "x").read_text() == "b"
    monkeypatch.delenv("CNNKIT_DATA")
    assert sources.find_file("toy", "x").read_text() == "c"
    assert sources.data_roots()[-1] == Path("/usr/share/datasets")


def test_offline_and_missing_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_DATA", str(tmp_path))
    remote = sources.RemoteFile("f.bin", SHA, ("http://127.0.0.1:9/nothing",))
    with pytest.raises(CnnkitError) as err:
        sources.fetch("toy", remote, how_to_get="Get it from the moon.")
    msg = str(err.value)
    assert str(tmp_path) in msg and "Get it from the moon." in msg and "\n" not in msg


def test_local_checksum_mismatch_warns(tmp_path, monkeypatch):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "f.bin").write_bytes(b"not the official bytes")
    remote = sources.RemoteFile("f.bin", SHA, ())
    with pytest.warns(sources.ChecksumWarning, match="differs from the official release"):
        assert sources.fetch("toy", remote, tmp_path).read_bytes() == b"not the official bytes"
