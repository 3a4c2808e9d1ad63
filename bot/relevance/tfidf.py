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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32

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


def hasher(n_features: int = N_FEATURES) -> HashingVectorizer:
    """The stateless term counter every representation goes through."""
    return HashingVectorizer(
        n_features=n_features,
        preprocessor=_preprocess,
        token_pattern=TOKEN_PATTERN,
        stop_words="english",
        ngram_range=(1, 2),
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )


def term_counts(texts: Sequence[str], n_features: int = N_FEATURES) -> sp.csr_matrix:
    """Raw hashed term counts, one row per text."""
    return hasher(n_features).transform(list(texts)).tocsr()


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
    analyzer = hasher(n_features).build_analyzer()
    counts: dict[int, dict[str, int]] = {}
    for text in texts:
        for term in analyzer(text):
            col = abs(murmurhash3_32(term, positive=False)) % n_features
            seen = counts.setdefault(col, {})
            seen[term] = seen.get(term, 0) + 1
    return {col: min(seen, key=lambda t: (-seen[t], t)) for col, seen in counts.items()}
