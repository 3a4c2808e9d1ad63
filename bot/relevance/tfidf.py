"""TF-IDF that means the same thing on every day: hashed terms, a fixed IDF table.

Papers arrive every day and are represented once, at harvest, then stored. A
``TfidfVectorizer`` fitted on whatever is in the store would change its
vocabulary (and so every stored vector's meaning) each time it is refitted,
and a vocabulary frozen once would drop every term coined after it (new model
and dataset names are exactly what a research radar must notice). So:

- terms (unigrams and bigrams, English stop words removed) are *hashed* into
  a fixed number of columns: no vocabulary, stateless, and a term first seen
  next year gets a column like any other;
- the inverse document frequencies come from a table built once from real
  arXiv listings and shipped with the package (:mod:`bot.relevance.idf`). A
  column the table never saw gets the rarest IDF, since an unseen term is rare
  by definition;
- term frequency is sublinear (``1 + log tf``) and rows are L2-normalised, as
  in arxiv-sanity-lite, so a long abstract does not outweigh a short one.

Titles are given twice: they are the author's own summary of the paper.

The counting is scikit-learn's ``HashingVectorizer`` (same analyzer, same
MurmurHash3 columns, same stop-word list; a test holds the two equal), done
here with ``mmh3`` so that representing papers does not import scikit-learn:
that import alone costs about 85 MiB of memory, which the harvest of a bot
serving thousands of channels should not pay (issue 13). scikit-learn stays for
the optional SVM learner (:mod:`.model`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import mmh3
import numpy as np
import scipy.sparse as sp

from bot.core.text import fold, strip_latex

#: Columns of the hashed term space (2**20: bigram collisions stay rare).
N_FEATURES = 1 << 20
#: A token is a letter followed by letters or digits (``gpt4o``, ``qwen2``):
#: bare numbers are noise in abstracts ("2", "10", "2025").
TOKEN_PATTERN = r"(?u)\b[a-z][a-z0-9]+\b"


def paper_text(title: str, abstract: str) -> str:
    """The text a paper is represented by: its title (twice) and abstract."""
    return f"{title}. {title}. {abstract}"


def _preprocess(text: str) -> str:
    return fold(strip_latex(text))


#: scikit-learn's English stop words (its ``stop_words="english"``), shipped as data.
STOP_WORDS_FILE = Path(__file__).with_name("data") / "english_stop_words.txt"


@cache
def stop_words() -> frozenset[str]:
    lines = STOP_WORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(w for w in (line.strip() for line in lines) if w and not w.startswith("#"))


def analyzer() -> Callable[[str], list[str]]:
    """Text to its terms: folded tokens, stop words removed, then the unigrams and
    the bigrams of what is left (``HashingVectorizer.build_analyzer()`` with
    ``ngram_range=(1, 2)``)."""
    findall = re.compile(TOKEN_PATTERN).findall
    stop = stop_words()

    def terms(text: str) -> list[str]:
        tokens = [t for t in findall(_preprocess(text)) if t not in stop]
        return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]

    return terms


def columns(terms: Sequence[str], n_features: int = N_FEATURES) -> np.ndarray:
    """The hashed column of each term: ``abs(murmurhash3_32(utf-8 term, seed 0))
    % n_features``, exactly as scikit-learn's ``FeatureHasher`` (which maps the one
    hash whose absolute value overflows, -2**31, the same way)."""
    h = np.fromiter(map(mmh3.hash, terms), dtype=np.int64, count=len(terms))
    return (np.abs(h) % n_features).astype(np.int32)


def term_counts(texts: Sequence[str], n_features: int = N_FEATURES) -> sp.csr_matrix:
    """Raw hashed term counts, one row per text (float32, sorted columns)."""
    terms_of = analyzer()
    per_text = [terms_of(t) for t in texts]
    indptr = np.zeros(len(per_text) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in per_text], out=indptr[1:])
    flat = [term for terms in per_text for term in terms]
    counts = sp.csr_matrix(
        (np.ones(len(flat), dtype=np.float32), columns(flat, n_features), indptr),
        shape=(len(per_text), n_features),
    )
    counts.sum_duplicates()  # one entry per column, columns sorted
    return counts


def tfidf_rows(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear TF times ``idf``, L2-normalised rows (float32 CSR)."""
    x = counts.astype(np.float32, copy=True).tocsr()
    x.sum_duplicates()
    np.log(x.data, out=x.data)
    x.data += 1.0
    x.data *= idf[x.indices]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    x = sp.csr_matrix(sp.diags((1.0 / norms).astype(np.float32)) @ x, dtype=np.float32)
    x.sort_indices()
    return x


def column_terms(texts: Sequence[str], n_features: int = N_FEATURES) -> dict[int, str]:
    """The words behind hashed columns, recovered from ``texts`` (e.g. liked papers).

    Hashing keeps no vocabulary, so to show a person which terms weigh most
    (``/radar likes``) the terms are re-derived from the papers that produced
    the weights. Where several terms share a column, the most frequent wins
    (then the alphabetically first, so the answer is stable).
    """
    terms_of = analyzer()
    counts: dict[int, dict[str, int]] = {}
    for text in texts:
        terms = terms_of(text)
        for term, col in zip(terms, columns(terms, n_features).tolist(), strict=True):
            seen = counts.setdefault(col, {})
            seen[term] = seen.get(term, 0) + 1
    return {col: min(seen, key=lambda t: (-seen[t], t)) for col, seen in counts.items()}
