"""Sentence classification on MR (Kim 2014's data): accuracy by 10-fold cross-validation, and training speed.

``--cv``: ``kim-cnn`` (CNN-rand), then ``lstm-text`` and ``gru-text`` on the same seeded, stratified folds,
each through ``cnnkit train MODEL --folds K`` (ordinary run directories); accuracy = 1 - mean fold error,
with seconds of training per fold.  Kim reports 76.1% for CNN-rand.
``--static``: ``kim-cnn-static`` and ``kim-cnn`` (non-static) starting from vectors that ``cnnkit word2vec``
trains on MR's own 10,662 sentences (Kim's 81% used vectors trained on 100 billion words of Google News,
which are not available offline).
``--speed``: sentences per second of training for Kim's CNN, cnnkit's trainer against the plain PyTorch
loop a tutorial writes (a per-sample ``Dataset`` of token-id tensors, ``DataLoader(batch_size=50,
shuffle=True)``, the model as popular Kim-CNN ports write it - ``Conv2d(1, 100, (h, 300))`` over the
sentence matrix - Adadelta, a ``.item()`` per step), whole epochs, alternating, medians.

Usage: python bench/text.py [--cv] [--folds 10] [--static] [--speed] [--rounds 3] [--out DIR]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

import cnnkit
from cnnkit.data import load_dataset


# ----------------------------------------------------------------------------- a tutorial's Kim CNN
class KimCNN(nn.Module):
    def __init__(self, vocab, dim=300, filters=100, widths=(3, 4, 5), classes=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.convs = nn.ModuleList([nn.Conv2d(1, filters, (h, dim)) for h in widths])
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(filters * len(widths), classes)

    def forward(self, x):
        x = self.embed(x).unsqueeze(1)  # (N, 1, L, D)
        x = [F.relu(conv(x)).squeeze(3) for conv in self.convs]  # (N, F, L - h + 1)
        x = [F.max_pool1d(i, i.size(2)).squeeze(2) for i in x]
        return self.fc(self.dropout(torch.cat(x, 1)))


class Sentences(Dataset):
    def __init__(self, ids, labels):
        self.ids, self.labels = ids, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.ids[i].flatten().clone(), int(self.labels[i])


def plain_epoch(ids, labels, vocab) -> float:
    torch.manual_seed(0)
    model = KimCNN(vocab)
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-6)
    loader = DataLoader(Sentences(ids, labels), batch_size=50, shuffle=True)
    model.train()
    start = time.perf_counter()
    for x, y in loader:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        with torch.no_grad():  # Kim's max-norm on the output weights
            model.fc.weight.copy_(torch.renorm(model.fc.weight, 2, 0, 3.0))
        loss.item()
    return len(labels) / (time.perf_counter() - start)


def cnnkit_epoch() -> float:
    with tempfile.TemporaryDirectory() as d:
        r = cnnkit.train("kim-cnn", out=f"{d}/run", quiet=True, epochs=1)
        return r.history[0]["images_per_second"]


def speed(rounds: int) -> dict:
    ds = load_dataset("mr", input_shape=(1, 1, 56))
    train = ds["train"]
    plain, ours = [], []
    for _ in range(rounds):
        plain.append(plain_epoch(train.images, train.labels, len(ds.vocabulary)))
        ours.append(cnnkit_epoch())
    return {"sentences": len(train), "plain_loop_sentences_per_second": [round(v) for v in plain],
            "cnnkit_sentences_per_second": [round(v) for v in ours],
            "ratio_of_medians": round(statistics.median(ours) / statistics.median(plain), 2)}


def cross_validate(models, folds: int, out: Path) -> dict:
    rows = {}
    for model in models:
        run = out / f"{model}-cv{folds}"
        r = cnnkit.train(model, out=str(run), folds=folds, quiet=True, resume=str(run) if run.exists() else None)
        s = r.summary
        rows[model] = {"accuracy_mean": round(1 - s["cv_top1_error_mean"], 4),
                       "accuracy_std": round(s["cv_top1_error_std"], 4),
                       "seconds_per_fold": round(statistics.fmean(f["train_seconds"] for f in s["folds"]), 1),
                       "fold_errors": [round(f["test_top1_error"], 4) for f in s["folds"]], "run": str(run)}
        print(json.dumps({model: rows[model]}), flush=True)
    return rows


def static(folds: int, out: Path, models=("kim-cnn-static", "kim-cnn")) -> dict:
    from cnnkit.data.sources import find_file
    from cnnkit.data.word2vec import train_word2vec
    from cnnkit.models import resolve_spec
    from cnnkit.spec import spec_to_data

    files = [find_file("mr", f"rt-polarity.{c}") for c in ("pos", "neg")]
    vectors = out / "mr-word2vec-300.txt"
    info = train_word2vec(files, vectors, dim=300, window=5, min_count=1, epochs=10)
    rows = {"word2vec": {k: info[k] for k in ("words", "sentences", "tokens")}}
    for model in models:
        spec = spec_to_data(resolve_spec(model))
        spec["layers"][0]["vectors"] = str(vectors)
        path = out / f"{model}-mrvectors.json"
        path.write_text(json.dumps(spec))
        run = out / f"{model}-mrvectors-cv{folds}"
        r = cnnkit.train(str(path), out=str(run), folds=folds, quiet=True, recipe=f"model:{model}",
                         resume=str(run) if run.exists() else None)
        rows[f"{model} + MR word2vec"] = {"accuracy_mean": round(1 - r.summary["cv_top1_error_mean"], 4),
                                          "accuracy_std": round(r.summary["cv_top1_error_std"], 4), "run": str(run)}
        print(json.dumps({model: rows[f"{model} + MR word2vec"]}), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cv", action="store_true")
    ap.add_argument("--static", action="store_true")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default="kim-cnn,lstm-text,gru-text")
    ap.add_argument("--static-models", default="kim-cnn-static,kim-cnn")
    ap.add_argument("--out", default="runs/bench-text")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"threads": torch.get_num_threads()}
    if args.speed:
        result["speed"] = speed(args.rounds)
    if args.cv:
        result["cross_validation"] = cross_validate(args.models.split(","), args.folds, out)
    if args.static:
        result["pretrained_vectors"] = static(args.folds, out, args.static_models.split(","))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
