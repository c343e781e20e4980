"""Reports: every section with decodable images, PNGs on disk, and a real headless browser renders it."""

import base64
import io
import json
import re
import shutil
import subprocess

import pytest
from PIL import Image

import cnnkit
from cnnkit.evaluate.report import SECTIONS, compare, write_report


@pytest.fixture(scope="module")
def report(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("report") / "run"
    cnnkit.train("lenet5", "mnist", out=str(out), limit_train=3000, limit_test=1000, epochs=2, batch_size=64,
                 val_split=0.1, quiet=True, data_dir=str(data_root))
    return out, write_report(out, data_dir=data_root, image_index=3)


def test_every_section_and_image_decodes(report):
    run, path = report
    text = path.read_text()
    for section in SECTIONS:
        assert f"id='{section}'" in text, section
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) >= 7  # curves, confusion, gallery, per-class, filters, 2 conv layers
    for b64 in images:
        img = Image.open(io.BytesIO(base64.b64decode(b64)))
        img.verify()
    pngs = sorted((path.parent / "report").glob("*.png"))
    assert len(pngs) == len(images)
    assert "http://" not in text and "https://" not in text  # self-contained


def test_report_shows_the_resolved_recipe_and_a_picture_of_the_users(report, tmp_path, mnist):
    run, path = report
    text = path.read_text()
    assert "Hyper-parameters" in text and "lenet5&#x27;s recipe" in text  # where each value came from
    assert "measured only training figures" not in text  # this run has a validation curve
    Image.fromarray(255 - mnist["test"].images[0, 0].numpy()).resize((90, 90)).save(tmp_path / "mine.png")
    own = write_report(run, tmp_path / "own.html", image=tmp_path / "mine.png").read_text()
    assert "Feature maps are of " in own and "mine.png" in own and "inverted" in own


def test_compare_overlays_runs(report, tmp_path):
    run, _ = report
    png, table = compare([run, run], tmp_path / "cmp.png")
    assert Image.open(png).size[0] > 500
    assert len(table) == 2 and table[0]["epochs"] == 2


CHECK = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.target && e.target.src)), true);
const origError = console.error; console.error = (...a) => { window.__errors.push(a.join(' ')); origError(...a); };
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  document.documentElement.setAttribute('data-check',
    JSON.stringify({images: imgs.length, broken: broken, errors: window.__errors}));
});
</script>"""


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="no chromium (the test setup installs Debian's chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    _, path = report
    page = tmp_path / "page.html"
    page.write_text(path.read_text().replace("<head>", "<head>" + CHECK, 1))
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
           page.as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r"data-check=\"([^\"]+)\"", r.stdout)
    assert m, r.stderr[-2000:]
    check = json.loads(m.group(1).replace("&quot;", '"'))
    assert check["images"] >= 7 and check["broken"] == 0 and check["errors"] == []


@pytest.mark.parametrize("model,task,expect", [
    ("conv-ae", "reconstruct", ["id='reconstructions'", "test MSE per pixel"]),
    ("lenet5", "rotation", ["Rotation is ambiguous", "id='confusion'", "by the image&#x27;s own class"]),
])
def test_reports_follow_the_task(tmp_path, data_root, model, task, expect):
    out = tmp_path / "run"
    cnnkit.train(model, "mnist", task=task, out=str(out), limit_train=2000, limit_test=500, epochs=1, quiet=True,
                 data_dir=str(data_root))
    text = write_report(out, data_dir=data_root).read_text()
    for phrase in expect:
        assert phrase in text, phrase
