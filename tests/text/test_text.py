"""Text: every loader layout (files written here, broken ones too), the tokeniser and vocabulary, the new
layers against the inspector, padding invariance, a real MR training run, predict on sentences, word2vec."""

import json
import subprocess
import sys

import pytest
import torch

import cnnkit
from cnnkit.data.text import Vocabulary, clean_str, load_text_dataset, stratified_folds, text_lines, tokenize
from cnnkit.errors import CnnkitError


# ----------------------------------------------------------------------------- layouts
def test_class_folders_of_documents(tmp_path):
    for cls, docs in {"ham": ["Hello there, friend.", "See you at noon!"], "spam": ["WIN money now", "Free $$$ prize",
                                                                                   "   "]}.items():
        (tmp_path / cls).mkdir()
        for i, d in enumerate(docs):
            (tmp_path / cls / f"{i}.txt").write_text(d)
    ds = load_text_dataset(f"text:{tmp_path}", test_split=0)
    assert ds.classes == ["ham", "spam"] and ds.totals["per_class"] == {"ham": 2, "spam": 2}
    assert any("skipped 1 empty documents" in n for n in ds.notes)
    assert ds["train"].texts[0] == "Hello there, friend." and ds["train"].images.shape == (4, 1, 1, 5)


def test_class_files_lines_end_only_at_newlines_and_latin1_is_reported(tmp_path):
    # \u2028 and \x0c are characters inside a sample (str.splitlines would cut there); \r\n ends a line
    (tmp_path / "pos.txt").write_bytes("a fine\u2028film\r\n\r\ngreat\x0cfun\r\nlovely\n".encode())
    (tmp_path / "neg.txt").write_bytes("caf\xe9 was awful\nboring\ndull\n".encode("latin-1"))
    ds = load_text_dataset(f"text:{tmp_path}", test_split=0)
    texts = ds["train"].texts
    assert ds.totals["samples"] == 6 and "a fine\u2028film" in texts and "great\x0cfun" in texts
    assert "café was awful" in texts  # decoded as Latin-1, and said so
    assert any("neg.txt is not UTF-8" in n for n in ds.notes) and any("skipped 1 empty lines" in n for n in ds.notes)
    assert text_lines("x\n\ny\n") == (["x", "y"], 1)


def test_csv_columns_found_by_name_and_errors_name_the_columns(tmp_path):
    f = tmp_path / "reviews.csv"
    f.write_text('id,Review,Sentiment\n1,"Loved it, truly",positive\n2,Hated it,negative\n3,"Meh, fine",positive\n'
                 '4,Awful,negative\n')
    ds = load_text_dataset(f"csv:{f}", test_split=0)
    assert ds.classes == ["negative", "positive"] and "Loved it, truly" in ds["train"].texts
    assert any("text column 'Review', label column 'Sentiment'" in n for n in ds.notes)
    with pytest.raises(CnnkitError, match=r"no column 'body'.*id, Review, Sentiment"):
        load_text_dataset(f"csv:{f}", test_split=0, text_column="body")
    g = tmp_path / "bad.csv"
    g.write_text("id,words\n1,hello\n")
    with pytest.raises(CnnkitError, match=r"bad.csv: no text column found by name.*id, words.*--text-column"):
        load_text_dataset(f"csv:{g}")


def test_tsv_folder_with_splits_and_too_small_classes(tmp_path):
    for split, rows in {"train": [("good", "pos"), ("bad", "neg")] * 3, "dev": [("ok", "pos")],
                        "test": [("great", "pos"), ("awful", "neg")]}.items():
        (tmp_path / f"{split}.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    ds = load_text_dataset(f"tsv:{tmp_path}")
    assert set(ds.splits) == {"train", "val", "test"} and len(ds["test"]) == 2 and len(ds["val"]) == 1
    (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood\tpos\nbad\tneg\nfine\tneg\n")
    with pytest.raises(CnnkitError, match="class 'pos' has 1 training sample; each class needs at least 2"):
        load_text_dataset(f"tsv:{tmp_path}")


def test_mr_counts_and_a_stratified_holdout(data_root):
    ds = load_text_dataset("mr", seed=3)
    assert ds.totals == {"samples": 10_662, "per_class": {"neg": 5_331, "pos": 5_331}}
    test = ds["test"]
    assert len(test) == 1_066 and int(test.labels.sum()) == 533  # 10% of each class
    assert ds.vocabulary.length == 56  # the longest training sentence after Kim's cleaning
    folds = stratified_folds(torch.arange(100) % 2, 10, seed=0)
    assert sorted(i for f in folds for i in f) == list(range(100)) and all(len(f) == 10 for f in folds)


# ----------------------------------------------------------------------------- tokeniser and vocabulary
def test_tokeniser_and_vocabulary_round_trip():
    assert clean_str("It's a GREAT film, isn't it?!") == "it 's a great film , is n't it ? !"
    vocab = Vocabulary.build([tokenize("a b b c"), tokenize("b c d")], length=5, min_count=2)
    assert vocab.words == ["<pad>", "<unk>", "b", "c"]
    ids, unknown = vocab.encode(tokenize("b zz c"))
    assert ids == [2, 1, 3, 0, 0] and unknown == 1
    again = Vocabulary.from_json(json.loads(json.dumps(vocab.to_json())))
    assert again.words == vocab.words and again.encode(tokenize("c b a"))[0] == vocab.encode(tokenize("c b a"))[0]
    assert Vocabulary.build([["x"] * 3, ["y"], ["z"]], 4, max_size=3).words == ["<pad>", "<unk>", "x"]


# ----------------------------------------------------------------------------- layers and the inspector
@pytest.mark.parametrize("layer", [
    {"type": "conv1d", "filters": 7, "size": 3, "pad": 1, "activation": "relu"},
    {"type": "maxpool1d", "size": 2},
    {"type": "rnn", "hidden": 5},
    {"type": "gru", "hidden": 6, "layers": 2, "output": "sequence"},
    {"type": "lstm", "hidden": 4, "bidirectional": True, "layers": 2},
    {"type": "lstm", "hidden": 4, "bidirectional": True, "output": "sequence"},
])
def test_inspector_equals_the_built_module(layer):
    spec = {"input": {"tokens": 12}, "layers": [{"type": "embedding", "dim": 9, "vocab": 30, "channels": "2"}, layer,
                                                  {"type": "fc", "units": 3}]}
    s = cnnkit.summary(spec)
    net = cnnkit.build(spec).eval()
    assert s.totals["params"] == sum(p.numel() for p in net.parameters())
    shapes = {}
    for name, m in net.features.named_children():
        m.register_forward_hook(lambda mod, i, o, n=name: shapes.__setitem__(n, tuple(o.shape[1:])))
    net(torch.randint(1, 30, (2, 1, 1, 12)))
    for row in s.layers[:-1]:
        assert shapes[row.name] == tuple(row.output), row.name
    if layer["type"] in ("rnn", "gru", "lstm"):
        row = next(r for r in s.layers if r.type == layer["type"])
        assert "U " in row.description and "W " in row.description


def test_recurrent_results_do_not_depend_on_padding():
    torch.manual_seed(0)
    spec = lambda n: {"input": {"tokens": n}, "layers": [  # noqa: E731
        {"type": "embedding", "dim": 8, "vocab": 40}, {"type": "gru", "hidden": 6, "bidirectional": True},
        {"type": "fc", "units": 2}]}
    short, long = cnnkit.build(spec(6)).eval(), cnnkit.build(spec(25)).eval()
    long.load_state_dict(short.state_dict())
    words = torch.tensor([5, 9, 2, 33])
    a = torch.zeros(1, 1, 1, 6, dtype=torch.long)
    a[0, 0, 0, :4] = words
    b = torch.zeros(3, 1, 1, 25, dtype=torch.long)
    b[:, 0, 0, :4] = words
    b[1, 0, 0, :20] = torch.arange(1, 21)  # a long neighbour in the batch
    with torch.no_grad():
        assert torch.allclose(short(a)[0], long(b)[0], atol=1e-6) and torch.allclose(long(b)[0], long(b)[2])


def test_embedding_starts_from_word_vectors_and_pad_stays_zero(tmp_path, data_root):
    vec = tmp_path / "v.txt"
    vec.write_text("3 4\ngood 1 2 3 4\nbad -1 -2 -3 -4\nzzz 9 9 9 9\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(f"input: {{tokens: 20}}\nlayers:\n  - {{type: embedding, dim: 4, vectors: {vec}, freeze: true}}\n"
                    "  - {type: maxpool1d, global: true}\n  - {type: fc, units: 2}\n")
    r = cnnkit.train(str(spec), "mr", out=str(tmp_path / "run"), epochs=1, limit_train=500, quiet=True,
                     lr=0.01, optimizer="adam", nesterov=False)
    tm = cnnkit.load(r.path)
    table = tm.model.features.embed1.embed.weight
    vocab = tm.vocabulary
    assert torch.equal(table[vocab.index["good"]], torch.tensor([1.0, 2, 3, 4])) and table[0].abs().sum() == 0


# ----------------------------------------------------------------------------- training, predict, word2vec
SMALL_KIM = {"input": {"tokens": 56}, "layers": [
    {"type": "embedding", "dim": 48},
    {"type": "inception", "branches": [[{"type": "conv1d", "filters": 32, "size": h, "activation": "relu"},
                                        {"type": "maxpool1d", "global": True}] for h in (3, 4, 5)]},
    {"type": "dropout", "p": 0.5}, {"type": "fc", "units": 2}]}


@pytest.fixture(scope="module")
def mr_run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("text") / "run"
    spec = out.parent / "small-kim.json"
    spec.write_text(json.dumps(SMALL_KIM))
    r = cnnkit.train(str(spec), "mr", out=str(out), epochs=4, optimizer="adam", lr=0.002, nesterov=False,
                     batch_size=50, max_norm=3.0, quiet=True)
    return r


def test_a_small_kim_cnn_learns_sentiment(mr_run):
    # chance is 50%; this 4-epoch, 48-d slice of Kim's CNN reaches about 30% on the 1,066 held-out sentences
    assert mr_run.summary["test_top1_error"] < 0.36
    w = cnnkit.load(mr_run.path).model.classifier.fc1.fc.weight  # max-norm held the output weights
    assert float(w.detach().norm(dim=1).max()) <= 3.0 + 1e-4


def test_predict_on_raw_sentences(mr_run, tmp_path):
    f = tmp_path / "s.txt"
    f.write_text("a moving , funny and beautiful film\r\nzzxq blorf\n")
    r = subprocess.run([sys.executable, "-m", "cnnkit", "predict", str(mr_run.path), "an utterly dull , lifeless mess",
                        "--file", str(f), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)
    assert [i["text"] for i in items] == ["an utterly dull , lifeless mess", "a moving , funny and beautiful film",
                                          "zzxq blorf"]
    assert items[0]["top"][0]["class"] == "neg" and items[1]["top"][0]["class"] == "pos"
    assert items[2]["unknown_words"] == 2 and abs(sum(t["prob"] for t in items[0]["top"]) - 1) < 1e-5
    ev = subprocess.run([sys.executable, "-m", "cnnkit", "evaluate", str(mr_run.path), "--json"], capture_output=True,
                        text=True)
    assert json.loads(ev.stdout)["top1_error"] == pytest.approx(mr_run.summary["test_top1_error"])


def test_text_errors_are_one_line(tmp_path, data_root):
    r = subprocess.run([sys.executable, "-m", "cnnkit", "train", "lenet5", "--dataset", "mr", "--out",
                        str(tmp_path / "x")], capture_output=True, text=True)
    assert r.returncode == 2 and "mr holds text, but the model reads images" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()
    r = subprocess.run([sys.executable, "-m", "cnnkit", "train", "kim-cnn-static", "--out", str(tmp_path / "y")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "give them with --vectors FILE" in r.stderr and not (tmp_path / "y").exists()


def test_word2vec_writes_vectors_that_read_back(tmp_path):
    from cnnkit.data.text import read_word_vectors
    from cnnkit.data.word2vec import train_word2vec

    corpus = tmp_path / "c.txt"
    corpus.write_text("the king rules the land\nthe queen rules the land\na dog chases a cat\n" * 50)
    for model, suffix in (("skipgram", "txt"), ("cbow", "bin")):
        info = train_word2vec([corpus], tmp_path / f"v.{suffix}", model=model, dim=12, min_count=1, epochs=3)
        words, matrix = read_word_vectors(tmp_path / f"v.{suffix}")
        assert info["words"] == len(words) == 9 and matrix.shape == (9, 12) and "king" in words


def test_a_killed_cross_validation_resumes_to_the_uninterrupted_result(tmp_path, data_root, killed_then_resumed):
    import os

    from cnnkit.rundir.artifacts import read_weights

    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps({"input": {"tokens": 56}, "layers": [
        {"type": "embedding", "dim": 24}, {"type": "conv1d", "filters": 16, "size": 3, "activation": "relu"},
        {"type": "maxpool1d", "global": True}, {"type": "fc", "units": 2}]}))
    env = dict(os.environ, CNNKIT_DATA=str(data_root))
    cmd = [sys.executable, "-m", "cnnkit", "train", str(spec), "--dataset", "mr", "--folds", "2", "--epochs", "3",
           "--limit-train", "1500", "--batch-size", "50", "--optimizer", "adam", "--lr", "0.003", "--threads", "1",
           "--quiet"]
    subprocess.run([*cmd, "--out", str(tmp_path / "ref")], check=True, env=env, capture_output=True, timeout=300)
    run = tmp_path / "killed"  # killed in the second fold, after its first checkpoint; resumed from the top
    r = killed_then_resumed(cmd, run, watch="fold-02/checkpoint.safetensors",
                            resume_cmd=[sys.executable, "-m", "cnnkit", "train", "--resume", str(run), "--quiet"])
    assert r.returncode == 0, r.stderr
    for fold in ("fold-01", "fold-02"):
        want, got = (read_weights(d / fold / "model.safetensors")[0] for d in (tmp_path / "ref", run))
        assert all(torch.equal(want[k], got[k]) for k in want), fold
    ref, resumed = (json.loads((d / "summary.json").read_text()) for d in (tmp_path / "ref", run))
    assert resumed["cv_top1_error_mean"] == ref["cv_top1_error_mean"] and len(resumed["folds"]) == 2


def test_report_of_a_text_run(mr_run):
    from cnnkit.evaluate.report import write_report

    page = write_report(mr_run.path).read_text()
    assert "Misclassified sentences" in page and "What filters respond to" in page and "1,066 sentences" in page
    assert "First-layer filters" not in page  # no pictures of word vectors
    pngs = sorted(p.name for p in (mr_run.path / "report").glob("*.png"))
    assert any("confusion" in p for p in pngs) and not any("feature-maps" in p for p in pngs)


def test_split_folders_and_tsv_quotes(tmp_path):
    for split, docs in {"train": {"pos": ["fun", "great", "lovely"], "neg": ["dull", "bad"]},
                        "test": {"pos": ["nice"], "neg": ["awful"]}}.items():
        for cls, texts in docs.items():
            (tmp_path / "imdb" / split / cls).mkdir(parents=True)
            for i, t in enumerate(texts):
                (tmp_path / "imdb" / split / cls / f"{i}.txt").write_text(t)
    ds = load_text_dataset(f"text:{tmp_path / 'imdb'}")
    assert ds.classes == ["neg", "pos"] and len(ds["train"]) == 5 and len(ds["test"]) == 2  # no 'train' class
    f = tmp_path / "sst.tsv"  # quotes are text in TSV, never field delimiters
    f.write_text('sentence\tlabel\n"a " quoted\tpos\nthe "best\tpos\nworst " ever\tneg\nmeh\tneg\n')
    ds = load_text_dataset(f"tsv:{f}", test_split=0)
    assert ds["train"].texts == ['"a " quoted', 'the "best', 'worst " ever', "meh"]
