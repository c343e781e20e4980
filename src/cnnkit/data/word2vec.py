"""Word vectors: ``cnnkit word2vec`` trains skip-gram or CBOW (Mikolov et al. 2013) on text files with gensim
and writes the standard word2vec text format, which an embedding layer can start from (``vectors: FILE``).

Corpora are read as every other text in cnnkit: UTF-8 with a Latin-1 fallback that is reported, lines
ending at ``\\n`` or ``\\r\\n`` only, each line tokenised by Kim's cleaning (so the words match a run's
vocabulary).  Training is seeded and single-threaded, so the same corpus gives the same vectors.
"""

from __future__ import annotations

from pathlib import Path

from cnnkit.data.text import read_text, read_word_vectors, text_lines, tokenize
from cnnkit.errors import CnnkitError


def _gensim():
    try:
        from gensim.models import Word2Vec
    except ImportError:
        raise CnnkitError("word2vec needs gensim: pip install 'cnnkit[text]' (or pip install gensim)") from None
    return Word2Vec


def read_corpus(files) -> tuple[list[list[str]], list[str]]:
    """Tokenised sentences (one per non-empty line) of every file, and notes on how they were read."""
    sentences, notes = [], []
    for f in files:
        path = Path(f).expanduser()
        if not path.is_file():
            raise CnnkitError(f"corpus file {path} does not exist")
        lines, _ = text_lines(read_text(path, notes))
        sentences += [t for t in (tokenize(line) for line in lines) if t]
    if not sentences:
        raise CnnkitError("the corpus holds no words")
    return sentences, notes


def train_word2vec(files, out, *, model: str = "skipgram", dim: int = 100, window: int = 5, negative: int = 5,
                   min_count: int = 2, epochs: int = 5, seed: int = 0) -> dict:
    """Train vectors on ``files`` and write them to ``out`` (word2vec text format); returns a summary."""
    if model not in ("skipgram", "cbow"):
        raise CnnkitError(f"--model must be skipgram or cbow, got {model!r}")
    for name, value in (("dim", dim), ("window", window), ("epochs", epochs), ("min-count", min_count)):
        if value < 1:
            raise CnnkitError(f"--{name} must be at least 1, got {value}")
    if negative < 0:
        raise CnnkitError(f"--negative must be 0 or more, got {negative}")
    sentences, notes = read_corpus(files)
    w2v = _gensim()(sentences, vector_size=dim, window=window, negative=negative, hs=0 if negative else 1,
                    min_count=min_count, sg=1 if model == "skipgram" else 0, epochs=epochs, seed=seed, workers=1)
    if not len(w2v.wv):
        raise CnnkitError(f"no word occurs {min_count} times in the corpus: lower --min-count")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    w2v.wv.save_word2vec_format(str(out), binary=out.suffix == ".bin")
    return {"out": str(out), "model": model, "words": len(w2v.wv), "dim": dim, "sentences": len(sentences),
            "tokens": sum(len(s) for s in sentences), "notes": notes}


def neighbours(vectors, word: str, top: int = 10) -> list[dict]:
    """The ``top`` words nearest to ``word`` by cosine similarity in a word2vec file."""
    import torch

    words, matrix = read_word_vectors(vectors)
    key = word.lower()
    if key not in words:
        from cnnkit.spec.schema import suggest

        raise CnnkitError(f"{word!r} is not in {vectors}{suggest(key, words)}")
    unit = torch.nn.functional.normalize(matrix, dim=1)
    sims = unit @ unit[words.index(key)]
    sims[words.index(key)] = -2
    values, idx = sims.topk(min(top, len(words) - 1))
    return [{"word": words[int(i)], "similarity": round(float(v), 4)} for v, i in zip(values, idx)]
