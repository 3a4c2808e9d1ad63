"""The lean representation path gives the very vectors of the libraries it replaces.

Representing papers no longer imports scikit-learn (hashed term counts come
from ``mmh3``) or the ``wordllama`` package (its tokenizer and float16 weights
are read from its wheel), to keep a bot's memory small (issue 13). Stored
vectors must not change with that, or every stored paper would rank
differently the day the bot is upgraded: these tests compare both against the
original libraries on real arXiv abstracts (tests/fixtures/relevance, see its
README), bit for bit.
"""

from __future__ import annotations

import gzip
import json
import logging
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from bot.relevance import embed as embed_module
from bot.relevance.embed import WORDLLAMA_CONFIG, WORDLLAMA_DIM, WordLlamaEmbedder, WordLlamaModel
from bot.relevance.tfidf import N_FEATURES, TOKEN_PATTERN, _preprocess, column_terms, paper_text
from bot.relevance.tfidf import term_counts as lean_counts

SLICE = Path(__file__).parent / "fixtures" / "relevance" / "arxiv_cs_2026-06_slice.jsonl.gz"


@cache
def texts(n: int = 400) -> list[str]:
    """``n`` real papers' texts, plus the odd ones: empty, LaTeX, non-ASCII, digits only."""
    out = []
    with gzip.open(SLICE, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            out.append(paper_text(row["title"], row["summary"]))
            if len(out) == n:
                break
    return [*out, "", "$\\mathcal{O}(n^2)$ Schrödinger's Ørsted straße", "2025 10 42"]


def test_hashed_term_counts_equal_scikit_learns() -> None:
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.utils import murmurhash3_32

    reference = HashingVectorizer(
        n_features=N_FEATURES,
        preprocessor=_preprocess,
        token_pattern=TOKEN_PATTERN,
        stop_words="english",
        ngram_range=(1, 2),
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )
    want = reference.transform(texts()).tocsr()
    want.sort_indices()
    got = lean_counts(texts())
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got.indptr, want.indptr)
    assert np.array_equal(got.indices, want.indices)
    assert np.array_equal(got.data, want.data)
    # The words `/radar likes` shows behind hashed columns, likewise.
    analyzer = reference.build_analyzer()
    words: dict[int, dict[str, int]] = {}
    for text in texts(60):
        for term in analyzer(text):
            seen = words.setdefault(abs(murmurhash3_32(term, positive=False)) % N_FEATURES, {})
            seen[term] = seen.get(term, 0) + 1
    expected = {col: min(seen, key=lambda t: (-seen[t], t)) for col, seen in words.items()}
    assert column_terms(texts(60)) == expected


def test_lean_wordllama_embeds_exactly_as_wordllama(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # it calls basicConfig
    import wordllama

    reference = wordllama.WordLlama.load(
        config=WORDLLAMA_CONFIG,
        dim=WORDLLAMA_DIM,
        cache_dir=Path(wordllama.__file__).parent,
        disable_download=True,
    )
    lean = WordLlamaModel.bundled()
    assert lean.weights.dtype == np.float16  # half the memory of WordLlama's float32 copy
    batch = sorted(texts(), key=len)  # as WordLlamaEmbedder batches them
    assert np.array_equal(lean.embed(batch, batch_size=64), reference.embed(batch, batch_size=64))


def test_the_embedder_loads_its_model_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed_module, "_WORDLLAMA", [])
    embedder = WordLlamaEmbedder()
    assert embed_module._WORDLLAMA == [] and embedder.model_id.startswith("wordllama/")
    assert embedder.embed(["Graph neural networks"]).shape == (1, WORDLLAMA_DIM)
    assert len(embed_module._WORDLLAMA) == 1
