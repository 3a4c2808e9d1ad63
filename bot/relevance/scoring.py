"""Score many channels against a day's papers in one product per vector space.

Every channel model is a TF-IDF weight row (sparse, at most ``max_terms``
entries) and an embedding weight row (dense). Stacked, they are a sparse
``channels x terms`` matrix and a dense ``channels x dim`` matrix, and the
scores of all channels for all of the day's papers are

    S = W_tfidf @ X_tfidf.T + W_emb @ X_emb.T        (channels x papers)

computed in blocks of channels so memory stays bounded (a 2,048-channel block
against 2,000 papers is 16 MB of float32). No Python loop runs per channel
and paper pair; bench/bench_relevance.py prints the cost for 10,000 channels
against 2,000 papers (about 3 s on the 2-core development machine).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from bot.relevance.model import ChannelModel
from bot.relevance.vectors import PaperVectors


@dataclass(frozen=True)
class ChannelMatrix:
    """Many channels' models, stacked (row ``k`` is channel ``channels[k]``)."""

    channels: tuple[str, ...]
    tfidf: sp.csr_matrix  # (C, n_features) float32
    embedding: np.ndarray  # (C, dim) float32
    tfidf_id: str
    model_id: str

    @staticmethod
    def stack(models: Mapping[str, ChannelModel]) -> ChannelMatrix:
        """Stack ``models`` (by channel id); all must share one vector space."""
        if not models:
            raise ValueError("ChannelMatrix.stack needs at least one model")
        ids = tuple(models)
        first = models[ids[0]]
        for m in models.values():
            if (m.tfidf_id, m.model_id) != (first.tfidf_id, first.model_id):
                raise ValueError("channel models from different vector spaces")
        tfidf = sp.vstack([models[c].tfidf_weights for c in ids], format="csr", dtype=np.float32)
        emb = np.vstack([models[c].embedding_weights for c in ids]).astype(np.float32)
        return ChannelMatrix(ids, tfidf, emb, first.tfidf_id, first.model_id)

    def blocks(self, papers: PaperVectors, block: int = 2048) -> Iterator[tuple[int, np.ndarray]]:
        """(first channel row, scores of ``block`` channels x all papers), block by block."""
        if (self.tfidf_id, self.model_id) != (papers.tfidf_id, papers.model_id):
            raise ValueError("channel models and papers come from different vector spaces")
        rare, common, dense = _split_terms(papers)
        xe = np.ascontiguousarray(papers.embedding.T)
        for start in range(0, len(self.channels), block):
            w = self.tfidf[start : start + block]
            scores = (w @ rare).toarray()
            if len(common):
                scores += w[:, common].toarray() @ dense
            scores += self.embedding[start : start + block] @ xe
            yield start, scores.astype(np.float32, copy=False)

    def scores(self, papers: PaperVectors) -> np.ndarray:
        """All channels x all papers (float32)."""
        out = np.empty((len(self.channels), len(papers)), dtype=np.float32)
        for start, part in self.blocks(papers):
            out[start : start + len(part)] = part
        return out

    def top(self, papers: PaperVectors, k: int) -> dict[str, list[int]]:
        """Each channel's ``k`` best paper rows, best first.

        Equal scores inside the top ``k`` keep row order; which of several
        papers tied exactly at the cut-off gets the last place is numpy's
        (deterministic) choice. Callers that need a documented tie-break (e.g.
        newest first) sort ``scores()`` themselves with :func:`order`.
        """
        k = min(k, len(papers))
        if k == 0:
            return {c: [] for c in self.channels}
        out: dict[str, list[int]] = {}
        for start, part in self.blocks(papers):
            best = np.sort(np.argpartition(-part, k - 1, axis=1)[:, :k], axis=1)
            ranked = np.take_along_axis(
                best, np.argsort(-np.take_along_axis(part, best, axis=1), axis=1, kind="stable"), 1
            )
            for r, row in enumerate(ranked.tolist()):
                out[self.channels[start + r]] = row
        return out


#: A term in more than this share of the day's papers is "common": its column
#: is multiplied densely (BLAS), the rest sparsely. Common terms carry most of
#: a sparse product's work (each weight on one touches hundreds of papers), so
#: the split roughly halves the cost; the result is the same product.
COMMON_SHARE = 0.02


def _split_terms(papers: PaperVectors) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """(rare-term rows of X.T as CSR, common columns, their dense rows of X.T)."""
    xt = papers.tfidf.T.tocsr()  # terms x papers
    df = np.diff(xt.indptr)
    common = np.flatnonzero(df > max(COMMON_SHARE * len(papers), 8))
    if not len(common):
        return xt, common, np.zeros((0, len(papers)), dtype=np.float32)
    keep = np.ones(xt.shape[0], dtype=np.float32)
    keep[common] = 0.0
    rare = sp.csr_matrix(sp.diags(keep) @ xt, dtype=np.float32)
    rare.eliminate_zeros()
    return rare, common, np.ascontiguousarray(xt[common].toarray(), dtype=np.float32)


def order(scores: np.ndarray, tiebreak: Sequence[int] | None = None) -> list[int]:
    """Rows by descending score; equal scores keep ``tiebreak`` order (default: row order).

    Scores are rounded to 6 decimals first so that float noise between
    machines or BLAS builds cannot reorder papers the model sees as equal.
    """
    s = np.round(np.asarray(scores, dtype=np.float64), 6)
    rank = np.arange(len(s)) if tiebreak is None else np.asarray(tiebreak)
    return [int(i) for i in np.lexsort((rank, -s))]
