"""Text data sets: sentences and documents as fixed-length rows of token ids.

A text split is an :class:`~cnnkit.data.tensors.ImageData` whose "images" are
int64 token ids shaped (N, 1, 1, L) - one row of L tokens per sample, padded
with id 0 (``<pad>``) at the end - so batching, limits, splits, checkpoints and
resume are the images' own code.  The tokeniser and vocabulary are fitted on the
training split only and saved with the run (``vocabulary.json``), so
``predict`` and ``evaluate`` encode new text exactly as training did.

Layouts read (UTF-8, falling back to Latin-1 with a note; lines end at ``\\n``
or ``\\r\\n`` only, never at the other characters ``str.splitlines`` breaks on):

* ``mr``: the movie-review polarity set of Kim 2014 (Pang & Lee 2005);
* ``text:DIR``: one sub-folder per class holding one document per ``.txt``
  file, or one ``CLASS.txt`` file per class holding one sample per line;
* ``csv:PATH`` / ``tsv:PATH``: a file with a header row, or a folder with
  ``train``/``dev``/``test`` files; the text and label columns are found by
  their names (or given with ``--text-column`` / ``--label-column``).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cnnkit.errors import CnnkitError

PAD, UNK = "<pad>", "<unk>"
TEXT_COLUMNS = ("text", "sentence", "review", "content", "document", "comment", "tweet", "body", "utterance",
                "question", "title", "phrase", "message", "text_a", "headline", "post", "query", "review_text")
LABEL_COLUMNS = ("label", "class", "sentiment", "category", "target", "polarity", "y", "labels", "topic", "intent",
                 "gold_label", "emotion", "rating", "stars", "score")
TEXT_PREFIXES = ("text:", "csv:", "tsv:")


# ----------------------------------------------------------------------------- tokeniser and vocabulary
def clean_str(text: str) -> str:
    """Kim 2014's cleaning (his ``clean_str``): keep letters, digits and a little punctuation, split
    clitics ('s, 've, n't, 're, 'd, 'll) and punctuation into tokens of their own, lower-case."""
    text = re.sub(r"[^A-Za-z0-9(),!?\'`]", " ", text)
    for clitic in ("'s", "'ve", "n't", "'re", "'d", "'ll"):
        text = text.replace(clitic, " " + clitic)
    for mark, spaced in ((",", " , "), ("!", " ! "), ("(", " ( "), (")", " ) "), ("?", " ? ")):
        text = text.replace(mark, spaced)
    return re.sub(r"\s{2,}", " ", text).strip().lower()


def tokenize(text: str) -> list[str]:
    return clean_str(text).split()


@dataclass
class Vocabulary:
    """Token strings by id: 0 is ``<pad>``, 1 is ``<unk>``, then the training words by falling frequency."""

    words: list[str]
    length: int  # tokens per sample: longer samples are cut, shorter ones padded
    min_count: int = 1
    max_size: int = 0
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, token_lists, length: int, min_count: int = 1, max_size: int = 0) -> Vocabulary:
        counts = Counter(t for tokens in token_lists for t in tokens)
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size:
            ranked = ranked[:max(0, max_size - 2)]
        return cls([PAD, UNK, *ranked], length, min_count, max_size)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: list[str]) -> tuple[list[int], int]:
        """Token ids padded or cut to ``length``, and how many of the tokens were unknown."""
        ids = [self.index.get(t, 1) for t in tokens[:self.length]]
        unknown = sum(i == 1 for i in ids)
        return ids + [0] * (self.length - len(ids)), unknown

    def encode_texts(self, texts: list[str]) -> tuple[torch.Tensor, int, int]:
        """(N, 1, 1, L) int64 ids, how many samples were cut, how many tokens were unknown."""
        rows, cut, unknown = [], 0, 0
        for text in texts:
            tokens = tokenize(text)
            cut += len(tokens) > self.length
            ids, unk = self.encode(tokens)
            unknown += unk
            rows.append(ids)
        ids = torch.tensor(rows, dtype=torch.long).view(len(rows), 1, 1, self.length)
        return ids, cut, unknown

    def decode(self, ids) -> str:
        return " ".join(self.words[int(i)] for i in ids if int(i) != 0)

    def to_json(self) -> dict:
        return {"tokenizer": "kim2014", "length": self.length, "min_count": self.min_count,
                "max_size": self.max_size, "words": self.words}

    @classmethod
    def from_json(cls, data: dict) -> Vocabulary:
        if data.get("tokenizer") != "kim2014" or data.get("words", [None, None])[:2] != [PAD, UNK]:
            raise CnnkitError("vocabulary.json is not a cnnkit vocabulary (tokenizer kim2014, <pad> and <unk> "
                              "first)")
        return cls(list(data["words"]), int(data["length"]), int(data.get("min_count", 1)),
                   int(data.get("max_size", 0)))


# ----------------------------------------------------------------------------- reading files
def read_text(path: Path, notes: list[str] | None = None) -> str:
    """A file's text: UTF-8 (a BOM is dropped), else Latin-1 - which never fails - with a note saying so."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        if notes is not None:
            notes.append(f"{path.name} is not UTF-8; read as Latin-1 (ISO-8859-1)")
        return raw.decode("latin-1")


def text_lines(text: str) -> tuple[list[str], int]:
    """Non-empty lines (ending at \\n or \\r\\n only) and how many empty ones were skipped."""
    lines, empty = [], 0
    for line in text.split("\n"):
        line = line[:-1] if line.endswith("\r") else line
        if line.strip():
            lines.append(line)
        else:
            empty += 1
    if text.endswith("\n"):  # the final newline ends the last line; it does not start an empty one
        empty -= 1
    return lines, max(0, empty)


@dataclass
class TextSplits:
    """Raw samples before tokenising: per split, the texts and their label names."""

    splits: dict[str, tuple[list[str], list[str]]]
    notes: list[str]
    classes: list[str] | None = None  # a fixed order (mr: neg, pos); default sorted label names


SPLIT_FOLDERS = {"train": "train", "test": "test", "dev": "val", "val": "val", "valid": "val", "validation": "val"}


def _read_text_dir(root: Path) -> TextSplits:
    """``root/CLASS/*.txt`` or ``root/CLASS.txt``; or either layout inside ``train/`` (and ``test/``, ``dev/``)."""
    subdirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if subdirs and all(d.name.lower() in SPLIT_FOLDERS for d in subdirs):
        if not any(d.name.lower() == "train" for d in subdirs):
            raise CnnkitError(f"text:{root} has split folders ({', '.join(sorted(d.name for d in subdirs))}) but no "
                              f"train/ folder")
        parts = {SPLIT_FOLDERS[d.name.lower()]: _read_text_split(d) for d in subdirs}
        notes = [n for p in parts.values() for n in p.notes]
        return TextSplits({k: p.splits["train"] for k, p in parts.items()}, notes)
    return _read_text_split(root)


def _read_text_split(root: Path) -> TextSplits:
    notes: list[str] = []
    texts: list[str] = []
    labels: list[str] = []
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = sorted(f for f in root.iterdir() if f.is_file() and f.suffix.lower() == ".txt")
    empty_total = 0
    if subdirs:  # one document per file, one folder per class
        for d in subdirs:
            docs = sorted(f for f in d.rglob("*.txt") if f.is_file())
            for f in docs:
                body = read_text(f, notes).strip()
                if body:
                    texts.append(body)
                    labels.append(d.name)
                else:
                    empty_total += 1
        what = "documents (one per .txt file, one folder per class)"
    elif files:  # CLASS.txt, one sample per line
        for f in files:
            lines, empty = text_lines(read_text(f, notes))
            empty_total += empty
            texts += lines
            labels += [f.stem] * len(lines)
        what = "lines (one CLASS.txt file per class)"
    else:
        raise CnnkitError(f"text:{root} holds neither class folders of .txt documents nor CLASS.txt files "
                          f"(one sample per line)")
    if empty_total:
        notes.append(f"skipped {empty_total} empty {'documents' if subdirs else 'lines'}")
    notes.insert(0, f"text:{root}: {len(texts):,} {what}")
    return TextSplits({"train": (texts, labels)}, notes)


def _find_column(header: list[str], wanted: str | None, names: tuple[str, ...], what: str, path: Path) -> int:
    lowered = [h.strip().lower() for h in header]
    if wanted:
        if wanted.strip().lower() in lowered:
            return lowered.index(wanted.strip().lower())
        raise CnnkitError(f"{path}: no column {wanted!r} for the {what}; its columns are {', '.join(header)}")
    for name in names:
        if name in lowered:
            return lowered.index(name)
    flag = "--text-column" if what == "text" else "--label-column"
    raise CnnkitError(f"{path}: no {what} column found by name (looked for {', '.join(names[:6])}, ...); its "
                      f"columns are {', '.join(header)}: choose one with {flag}")


def _read_table(path: Path, sep: str, text_column: str | None, label_column: str | None,
                notes: list[str]) -> tuple[list[str], list[str]]:
    body = read_text(path, notes)
    body = body.replace("\r\n", "\n")
    # TSV files quote nothing (quotes are part of the text, as in SST and GLUE); CSV quotes fields with commas
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=sep, quoting=quoting)
    try:
        header = next(reader)
    except StopIteration:
        raise CnnkitError(f"{path} is empty: it needs a header row naming the text and label columns") from None
    t = _find_column(header, text_column, TEXT_COLUMNS, "text", path)
    y = _find_column(header, label_column, LABEL_COLUMNS, "label", path)
    texts, labels, empty = [], [], 0
    for lineno, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            empty += 1
            continue
        if len(row) <= max(t, y):
            raise CnnkitError(f"{path}, row {lineno}: {len(row)} fields, but the header has {len(header)} "
                              f"(a {'tab' if sep == chr(9) else 'comma'} missing, or text with unquoted separators?)")
        if not row[t].strip():
            empty += 1
            continue
        texts.append(row[t])
        labels.append(row[y].strip())
    if empty:
        notes.append(f"{path.name}: skipped {empty} empty rows")
    notes.append(f"{path.name}: text column {header[t]!r}, label column {header[y]!r}, {len(texts):,} rows")
    return texts, labels


def _read_tables(root: Path, sep: str, text_column, label_column) -> TextSplits:
    notes: list[str] = []
    if root.is_file():
        return TextSplits({"train": _read_table(root, sep, text_column, label_column, notes)}, notes)
    if not root.is_dir():
        raise CnnkitError(f"{root} does not exist (a {'csv' if sep == ',' else 'tsv'} file, or a folder with "
                          f"train/dev/test files)")
    splits = {}
    for split, stems in (("train", ("train",)), ("val", ("dev", "val", "valid", "validation")), ("test", ("test",))):
        found = [f for f in sorted(root.iterdir()) if f.is_file() and f.stem.lower() in stems]
        if found:
            splits[split] = _read_table(found[0], sep, text_column, label_column, notes)
    if "train" not in splits:
        raise CnnkitError(f"{root}: no train file (train.csv / train.tsv / train.txt) in the folder")
    return TextSplits(splits, notes)


def _read_mr(data_dir) -> TextSplits:
    from cnnkit.data.sources import check_local, find_file

    texts, labels = [], []
    for cls in ("neg", "pos"):
        path = find_file("mr", f"rt-polarity.{cls}", data_dir, ("mr", "rt-polaritydata"))
        if path is None:
            path = _download_mr(data_dir) / f"rt-polarity.{cls}"
        check_local(path, MR_SHA256[cls])
        lines, _ = text_lines(path.read_bytes().decode("latin-1"))  # the release is Latin-1, as its README says
        texts += lines
        labels += [cls] * len(lines)
    return TextSplits({"train": (texts, labels)}, [], classes=["neg", "pos"])


MR_SHA256 = {"pos": "2da124ec187a9d5a29c9f04e91c540e02baed5af8868f550a26bd6fd4dbf8bf0",
             "neg": "4ace77d558c3714723843f1d65b60c01e3417b208180f0728808d76ad0eeeaca"}
MR_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"


def _mr_local(data_dir) -> bool:
    from cnnkit.data.sources import find_file

    return all(find_file("mr", f"rt-polarity.{c}", data_dir, ("mr", "rt-polaritydata")) for c in ("pos", "neg"))


def _download_mr(data_dir) -> Path:
    """The official tarball (no SHA-256 of it is published); the two files inside are checked."""
    import tarfile

    from cnnkit.data.sources import RemoteFile, fetch, sha256_of, writable_root

    tar = fetch("mr", RemoteFile("rt-polaritydata.tar.gz", None, (MR_URL,)), data_dir,
                how_to_get=f"download {MR_URL} into DATA/mr/")
    dest = writable_root(data_dir) / "mr"
    with tarfile.open(tar) as tf:
        for member in tf.getmembers():
            name = Path(member.name).name
            if name in ("rt-polarity.pos", "rt-polarity.neg") and member.isfile():
                (dest / name).write_bytes(tf.extractfile(member).read())
    for c in ("pos", "neg"):
        if sha256_of(dest / f"rt-polarity.{c}") != MR_SHA256[c]:
            raise CnnkitError(f"{dest / f'rt-polarity.{c}'} does not match the official release (SHA-256)")
    return dest


#: text data sets known by name: (description, reader)
TEXT_DATASETS = {"mr": ("movie-review sentence polarity (Pang & Lee 2005; Kim 2014): 10,662 snippets, neg/pos, "
                        "no official split", _read_mr)}


def is_text_dataset(name: str) -> bool:
    return name.strip().lower() in TEXT_DATASETS or name.startswith(TEXT_PREFIXES)


def read_text_dataset(name: str, data_dir=None, text_column: str | None = None,
                      label_column: str | None = None) -> TextSplits:
    key = name.strip().lower()
    if key in TEXT_DATASETS:
        return TEXT_DATASETS[key][1](data_dir)
    kind, _, path = name.partition(":")
    root = Path(path).expanduser()
    if kind == "text":
        if not root.is_dir():
            raise CnnkitError(f"text:{root} is not a folder (class folders of .txt files, or CLASS.txt files)")
        return _read_text_dir(root)
    return _read_tables(root, "," if kind == "csv" else "\t", text_column, label_column)


def load_text_dataset(name: str, data_dir=None, *, length: int = 0, seed: int = 0, test_split: float = 0.1,
                      min_count: int = 1, max_size: int = 0, text_column: str | None = None,
                      label_column: str | None = None, min_per_class: int = 2, vocabulary: Vocabulary | None = None,
                      fold: tuple[int, int] | None = None):
    """Read, split (a seeded, stratified hold-out test split when the data has none), fit the vocabulary on
    the training split and encode every split to (N, 1, 1, ``length``) token ids (``length`` 0: the
    longest training sample).  ``vocabulary``: encode with a trained run's instead of fitting one.
    ``fold`` (k, K): K-fold cross-validation over the training split, fold k (1..K) the test split."""
    from cnnkit.data.datasets import Dataset
    from cnnkit.data.tensors import ImageData

    raw = read_text_dataset(name, data_dir, text_column, label_column)
    notes = list(raw.notes)
    train_texts, train_labels = raw.splits["train"]
    classes = raw.classes or sorted(set(train_labels))
    counts = Counter(train_labels)
    total = {"samples": len(train_texts), "per_class": {c: counts.get(c, 0) for c in classes}}
    splits = dict(raw.splits)
    if fold is not None:
        k, folds = fold
        check_class_sizes(counts, folds, name, f" with --folds {folds}")
        parts = stratified_folds([classes.index(y) for y in train_labels], folds, seed)
        held = set(parts[k - 1])
        splits = {"train": ([t for i, t in enumerate(train_texts) if i not in held],
                            [y for i, y in enumerate(train_labels) if i not in held]),
                  "test": ([train_texts[i] for i in parts[k - 1]], [train_labels[i] for i in parts[k - 1]])}
        notes.append(f"fold {k} of {folds}: testing on {len(held):,} samples, training on the other "
                     f"{len(train_texts) - len(held):,}" + (" (the data set's own dev/test files are not used)"
                                                            if len(raw.splits) > 1 else ""))
    elif "test" not in splits and test_split > 0:
        keep, held = stratified_split(train_labels, test_split, seed)
        splits["train"] = ([train_texts[i] for i in keep], [train_labels[i] for i in keep])
        splits["test"] = ([train_texts[i] for i in held], [train_labels[i] for i in held])
        notes.append(f"no test split: held out a seeded, stratified {test_split:.0%} ({len(held):,} samples) "
                     f"as the test split")
    notes += check_class_sizes(Counter(splits["train"][1]), min_per_class, name)
    if vocabulary is not None:
        vocab = vocabulary
        length = vocab.length
    else:
        tokens = [tokenize(t) for t in splits["train"][0]]
        if not length:
            length = max(len(t) for t in tokens)
        vocab = Vocabulary.build(tokens, length, min_count, max_size)
    index = {c: i for i, c in enumerate(classes)}
    data = {}
    for split, (texts, labels) in splits.items():
        unknown_labels = sorted(set(labels) - set(index))
        if unknown_labels:
            raise CnnkitError(f"{name}: the {split} split has labels {', '.join(unknown_labels[:5])} that the "
                              f"training split lacks (classes: {', '.join(classes)})")
        ids, cut, _ = vocab.encode_texts(texts)
        if cut:
            notes.append(f"{split}: {cut:,} samples longer than {length} tokens were cut")
        data[split] = ImageData(ids, torch.tensor([index[x] for x in labels], dtype=torch.long), classes,
                                f"{name}/{split}", texts=list(texts))
    return Dataset(name, data, classes, notes, mirror_safe=False, vocabulary=vocab, totals=total)


def stratified_split(labels: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(kept, held-out) indices: ``fraction`` of each class held out, chosen by a seeded shuffle."""
    g = torch.Generator().manual_seed(seed)
    keep, held = [], []
    for cls in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == cls]
        order = torch.randperm(len(idx), generator=g).tolist()
        k = int(round(len(idx) * fraction))
        held += [idx[j] for j in order[:k]]
        keep += [idx[j] for j in order[k:]]
    return sorted(keep), sorted(held)


def stratified_folds(labels, k: int, seed: int) -> list[list[int]]:
    """``k`` disjoint test folds covering every sample, each class spread evenly over them (seeded)."""
    g = torch.Generator().manual_seed(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    labels = [int(y) for y in labels]
    offset = 0
    for cls in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == cls]
        for j, pos in enumerate(torch.randperm(len(idx), generator=g).tolist()):
            folds[(j + offset) % k].append(idx[pos])
        offset += len(idx)
    return [sorted(f) for f in folds]


def check_class_sizes(counts: Counter, minimum: int, name: str, why: str = "") -> list[str]:
    """An error for a class with fewer than ``minimum`` training samples; warnings under 10."""
    small = {c: n for c, n in counts.items() if n < minimum}
    if small:
        c, n = next(iter(small.items()))
        raise CnnkitError(f"{name}: class {c!r} has {n} training sample{'s' if n != 1 else ''}; each class needs "
                          f"at least {minimum}{why} (add samples or drop the class)")
    return [f"class {c!r} has only {n} training samples" for c, n in counts.items() if n < 10]


# ----------------------------------------------------------------------------- word vectors
def read_word_vectors(path) -> tuple[list[str], torch.Tensor]:
    """A word2vec file's words and (V, D) vectors: the text format (``V D`` header optional, then
    ``word v1 ... vD`` per line) or the binary one (``V D`` header, then each word, a space and D
    little-endian float32s), told apart by their content."""
    import numpy as np

    path = Path(path).expanduser()
    if not path.is_file():
        raise CnnkitError(f"word vectors {path}: no such file (a word2vec .txt or .bin file, e.g. from "
                          f"'cnnkit word2vec CORPUS --out vectors.txt')")
    raw = path.read_bytes()
    first, _, rest = raw.partition(b"\n")
    header = first.split()
    counted = len(header) == 2 and all(h.isdigit() for h in header)
    if counted:
        v, d = int(header[0]), int(header[1])
        probe = rest[:4096]
        binary = b"\x00" in probe or not _is_text(probe)
        if binary:
            words, rows, pos = [], [], 0
            for _ in range(v):
                end = rest.index(b" ", pos)
                words.append(rest[pos:end].decode("utf-8", errors="replace").strip())
                pos = end + 1
                rows.append(np.frombuffer(rest, dtype="<f4", count=d, offset=pos))
                pos += 4 * d
                if pos < len(rest) and rest[pos:pos + 1] == b"\n":
                    pos += 1
            return words, torch.tensor(np.stack(rows))
        body = rest
    else:
        body = raw
    words, rows, dim = [], [], None
    text = body.decode("utf-8", errors="replace")
    for lineno, line in enumerate(text.split("\n"), start=2 if counted else 1):
        parts = line.rstrip("\r").rstrip().split(" ")
        if len(parts) < 2:
            continue
        try:
            vec = [float(x) for x in parts[1:]]
        except ValueError:
            raise CnnkitError(f"{path}, line {lineno}: not 'word number number ...' (a word2vec text file?)") from None
        dim = dim or len(vec)
        if len(vec) != dim:
            raise CnnkitError(f"{path}, line {lineno}: {len(vec)} numbers where the file's vectors have {dim}")
        words.append(parts[0])
        rows.append(vec)
    if not rows:
        raise CnnkitError(f"{path} holds no word vectors")
    return words, torch.tensor(rows, dtype=torch.float32)


def vector_dim(path) -> int:
    """The number of values per word in a word2vec file, from its first line(s) only."""
    with open(Path(path).expanduser(), "rb") as f:
        first = f.readline().split()
        if len(first) == 2 and all(x.isdigit() for x in first):
            return int(first[1])
    return len(first) - 1


def _is_text(probe: bytes) -> bool:
    try:
        probe.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut by the probe's end is still text
        return exc.start > len(probe) - 4
    return True
