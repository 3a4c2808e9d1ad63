"""Paper-to-paper similarity: the like-chip watch and the "similar to" reason.

One similarity everywhere, on the same scale as the channel models' scores:
``cos(tfidf) + embedding_weight * cos(embedding)``. TF-IDF dominates by
design (the benchmark's research-group tasks are won on shared rare terms:
method, dataset and system names), and the embedding nudges papers that say
the same thing in other words.

The like-chip watch must stay cheap with thousands of like chips: because the
embedding term is at most ``embedding_weight``, only pairs whose TF-IDF cosine
alone reaches ``threshold - embedding_weight`` can pass, so the sparse product
finds the candidates and embeddings are compared for those pairs only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.relevance.vectors import PaperVectors


def _check(a: PaperVectors, b: PaperVectors) -> None:
    if (a.tfidf_id, a.model_id) != (b.tfidf_id, b.model_id):
        raise ValueError("papers come from different vector spaces; rebuild vectors")


def similarity(a: PaperVectors, b: PaperVectors, embedding_weight: float) -> np.ndarray:
    """``len(a) x len(b)`` similarities (dense; for small sets such as a card list)."""
    _check(a, b)
    s = (a.tfidf @ b.tfidf.T).toarray()
    s += embedding_weight * (a.embedding @ b.embedding.T)
    return s.astype(np.float32)


@dataclass(frozen=True)
class Nearest:
    """For each paper: its most similar liked paper (row in ``liked``) and how similar."""

    liked_row: np.ndarray  # int, -1 when there are no liked papers
    similarity: np.ndarray  # float32


def nearest(papers: PaperVectors, liked: PaperVectors, embedding_weight: float) -> Nearest:
    """Each paper's nearest liked paper (ties: the earlier liked row)."""
    if not len(liked) or not len(papers):
        return Nearest(
            np.full(len(papers), -1, dtype=np.int64), np.zeros(len(papers), dtype=np.float32)
        )
    s = similarity(papers, liked, embedding_weight)
    best = np.argmax(s, axis=1)
    return Nearest(best.astype(np.int64), s[np.arange(len(papers)), best])


@dataclass(frozen=True)
class WatchHit:
    """``paper`` (row of the day's papers) is within the threshold of liked row ``liked``."""

    paper: int
    liked: int
    similarity: float


def like_watch(
    papers: PaperVectors, liked: PaperVectors, threshold: float, embedding_weight: float
) -> list[WatchHit]:
    """Every (paper, liked paper) pair at or above ``threshold``, by paper then liked row.

    ``liked`` may stack the like chips of many channels; map ``liked`` rows back
    to their channels. A paper that *is* a liked paper (same key) is skipped:
    it is already on that radar.
    """
    if not len(liked) or not len(papers):
        return []
    _check(papers, liked)
    floor = threshold - max(embedding_weight, 0.0)
    if floor > 0:
        coarse = (papers.tfidf @ liked.tfidf.T).tocoo()
        keep = coarse.data >= floor
        rows, cols, cos_t = coarse.row[keep], coarse.col[keep], coarse.data[keep]
    else:  # a pair sharing no term could pass on its embedding alone: compare all
        dense = (papers.tfidf @ liked.tfidf.T).toarray()
        rows, cols = np.indices(dense.shape).reshape(2, -1)
        cos_t = dense.ravel()
    cos_e = np.einsum("ij,ij->i", papers.embedding[rows], liked.embedding[cols])
    sim = cos_t + embedding_weight * cos_e
    hits = [
        WatchHit(int(r), int(c), float(s))
        for r, c, s in zip(rows, cols, sim, strict=True)
        if s >= threshold and papers.keys[r] != liked.keys[c]
    ]
    hits.sort(key=lambda h: (h.paper, h.liked))
    return hits
