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

from bot.core.matching.topk import ranges
from bot.relevance.model import (
    ChannelModel,
    Feedback,
    fit,
    prepare,
    prune,
    rocchio_coefficients,
)
from bot.relevance.vectors import PaperVectors
from bot.settings import RelevanceSettings


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


# -- many channels' models at once, and one channel's scores -----------------------------


def fit_many(
    papers: PaperVectors, feedbacks: Sequence[Feedback], settings: RelevanceSettings
) -> list[ChannelModel | None]:
    """:func:`~bot.relevance.model.fit` for each of ``feedbacks``, the Rocchio
    channels together.

    Fitting one channel at a time sums its few hundred papers' TF-IDF rows per
    call (a fraction of a millisecond each, then a sort of tens of thousands of
    columns): seconds for 10,000 channels. Here every Rocchio channel's weights
    are one sparse product ``coefficients @ vectors``, restricted to the columns
    that can make a channel's ``max_terms`` (see :func:`_rocchio_weights`), and
    the embedding weights one more product. Same inputs (``prepare``), same
    coefficients (``rocchio_coefficients``) and the same pruning (``prune``) as
    ``fit``; only the order in which each sum is added up differs, which moves
    weights by float rounding.

    A channel's model does not depend on which other channels are fitted with
    it, nor on the row order of ``papers`` (sums run over papers sorted by key),
    so a channel fitted alone (a typed ``/radar digest``) gets the very same
    model as in the daily run. Channels for the SVM learner go through ``fit``.
    """
    out: list[ChannelModel | None] = [None] * len(feedbacks)
    rocchio: list[tuple[int, Feedback]] = []
    for i, feedback in enumerate(feedbacks):
        ready = prepare(papers, feedback, settings)
        if ready is None:
            continue
        fb, learner = ready
        if learner == "rocchio":
            rocchio.append((i, fb))
        else:
            out[i] = fit(papers, feedback, settings)
    if not rocchio:
        return out
    # Rows sorted by key: every sum below runs in this order, whatever the input's.
    canon = sorted(range(len(papers)), key=papers.keys.__getitem__)
    where = {papers.keys[r]: k for k, r in enumerate(canon)}
    cols: list[list[int]] = []
    coefs: list[list[float]] = []
    special: list[list[int]] = []  # per channel: its liked and disliked papers (rows)
    background = np.zeros(len(rocchio))  # per channel: the largest background |coefficient|
    for j, (_, fb) in enumerate(rocchio):
        keys, coef = rocchio_coefficients(fb, settings)
        mine = [where[k] for k in keys]
        special.append([where[k] for k in dict.fromkeys(fb.liked + fb.disliked)])
        cols.append(mine)
        coefs.append(coef)
        rest = np.abs(np.asarray(coef))[~np.isin(mine, special[-1])]  # the unjudged: background
        background[j] = float(rest.max(initial=0.0))
    lengths = [len(c) for c in cols]
    coefficients = sp.csr_matrix(
        (
            np.fromiter((c for cs in coefs for c in cs), dtype=np.float64, count=sum(lengths)),
            np.fromiter((c for cs in cols for c in cs), dtype=np.int64, count=sum(lengths)),
            np.concatenate(([0], np.cumsum(lengths))),
        ),
        shape=(len(rocchio), len(canon)),
    )
    coefficients.sort_indices()
    # Only the columns some paper has, renumbered by decreasing sum over the
    # papers: the hashed space is a million wide (work arrays that wide do not
    # stay in the CPU's caches), and the columns most rows touch come first.
    tfidf = papers.tfidf[canon]
    vocabulary, compact = np.unique(tfidf.indices, return_inverse=True)
    sums = np.bincount(compact, weights=tfidf.data, minlength=len(vocabulary))
    by_sum = np.argsort(-sums, kind="stable")
    renumber = np.empty(len(by_sum), dtype=np.int32)
    renumber[by_sum] = np.arange(len(by_sum), dtype=np.int32)
    tfidf = sp.csr_matrix(
        (tfidf.data.astype(np.float64), renumber[compact], tfidf.indptr),
        shape=(len(canon), len(vocabulary)),
    )
    original = vocabulary[by_sum]  # renumbered column -> hashed column
    weights = []
    for cols, values in _rocchio_weights(
        coefficients, tfidf, sums[by_sum], special, background, settings.max_terms
    ):
        hashed = original[cols]
        order = np.argsort(hashed)
        weights.append(
            prune(hashed[order], values[order], papers.tfidf.shape[1], settings.max_terms)
        )
    embedding = coefficients @ np.asarray(papers.embedding[canon], dtype=np.float64)
    embedding *= settings.embedding_weight
    for j, (i, fb) in enumerate(rocchio):
        out[i] = ChannelModel(
            weights[j],
            embedding[j].astype(np.float32),
            "rocchio",
            papers.tfidf_id,
            papers.model_id,
            fb.liked,
        )
    return out


#: Channels whose TF-IDF weights are computed per product (bounds its memory).
FIT_BLOCK = 256


def _rocchio_weights(
    coefficients: sp.csr_matrix,
    tfidf: sp.csr_matrix,
    sums: np.ndarray,
    special: list[list[int]],
    background: np.ndarray,
    keep: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each channel, the columns and weights of ``coefficients @ tfidf``'s
    row that ``prune`` may keep (the ``keep`` largest, ties at its cut
    included), exact. ``tfidf``'s columns come by decreasing ``sums`` (each
    column's sum over all rows).

    Only ``keep`` columns survive pruning, so most of the product is never
    needed. A column outside a channel's liked and disliked papers gets weight
    only from its background papers: at most ``background coefficient x the
    column's sum`` (TF-IDF is never negative). So each channel is computed
    exactly on the first columns (one product for many channels) and on its
    own liked and disliked papers' columns; when the ``keep``-th largest
    weight among those beats the bound of every other column, nothing else can
    be kept. The channels where it does not are computed on more columns, up
    to all of them.

    Every weight is the same sum however it is computed: its products
    ``coefficient x value`` added one by one, papers in row order (what
    scipy's sparse product does; :func:`_own_columns` does the same), so a
    channel's weights never depend on which path, or which other channels,
    computed them.
    """
    n_rows, width = coefficients.shape[0], tfidf.shape[1]
    by_column = tfidf.T.tocsr()  # columns x papers
    by_column.sort_indices()
    # (row, paper) of every coefficient, as one sorted integer each.
    codes = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(coefficients.indptr))
    codes = codes * coefficients.shape[1] + coefficients.indices
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * n_rows
    todo = np.arange(n_rows)
    for head in (8 * keep, 32 * keep, width):
        if not len(todo):
            break
        complete = head >= width
        beyond = 0.0 if complete else float(sums[head])  # any later column's sum
        sliced = tfidf if complete else tfidf[:, :head]
        undone: list[int] = []
        for start in range(0, len(todo), FIT_BLOCK):
            block = todo[start : start + FIT_BLOCK]
            part = coefficients[block] @ sliced
            own_row, own_col, own_val = _own_columns(
                coefficients, codes, tfidf, by_column, block, special, head
            )
            own_at = np.searchsorted(own_row, np.arange(len(block) + 1))
            for b, j in enumerate(block.tolist()):
                lo, hi = part.indptr[b], part.indptr[b + 1]
                mine = slice(own_at[b], own_at[b + 1])
                cols = np.concatenate((part.indices[lo:hi], own_col[mine]))
                values = np.concatenate((part.data[lo:hi], own_val[mine]))
                if len(values) > keep:
                    size = np.abs(values)
                    cut = np.partition(size, len(values) - keep)[len(values) - keep]
                    if not complete and background[j] * beyond >= cut:
                        undone.append(j)  # a column left out might beat the cut
                        continue
                    near = size >= cut  # all that pruning can keep, ties included
                    cols, values = cols[near], values[near]
                elif not complete:
                    undone.append(j)  # fewer than ``keep``: the others may be non-zero
                    continue
                out[j] = (cols, values)
        todo = np.asarray(undone, dtype=np.int64)
    return out  # type: ignore[return-value]


def _own_columns(
    coefficients: sp.csr_matrix,
    coefficient_codes: np.ndarray,
    tfidf: sp.csr_matrix,
    by_column: sp.csr_matrix,
    block: np.ndarray,
    special: list[list[int]],
    head: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights of each block channel's liked and disliked papers' columns from
    ``head`` on (the first ones are computed with every channel's):
    (block row, column, weight), sorted by row. Each weight adds its products
    one by one in paper order, exactly as the sparse product would."""
    n, width = coefficients.shape[1], tfidf.shape[1]
    rows = [b for b, j in enumerate(block.tolist()) for _ in special[j]]
    papers = [r for j in block.tolist() for r in special[j]]
    empty = np.zeros(0, dtype=np.int64)
    if not papers:
        return empty, empty, np.zeros(0)
    lengths = np.diff(tfidf.indptr)[papers]
    cols = tfidf.indices[ranges(tfidf.indptr[papers], lengths)].astype(np.int64)
    owner = np.repeat(np.asarray(rows, dtype=np.int64), lengths)
    keep = cols >= head
    pair_row, pair_col = np.divmod(np.unique(owner[keep] * width + cols[keep]), width)
    # Each pair's papers (by_column's row: in paper order) with the channel's
    # coefficient of each; a paper that is not one of the channel's is dropped.
    counts = np.diff(by_column.indptr)[pair_col]
    entries = ranges(by_column.indptr[pair_col], counts)
    paper = by_column.indices[entries].astype(np.int64)
    pair_of = np.repeat(np.arange(len(pair_row)), counts)
    wanted = block[pair_row][pair_of].astype(np.int64) * n + paper
    at = np.minimum(np.searchsorted(coefficient_codes, wanted), len(coefficient_codes) - 1)
    mine = coefficient_codes[at] == wanted
    products = by_column.data[entries][mine] * coefficients.data[at[mine]]
    per_pair = np.bincount(pair_of[mine], minlength=len(pair_row))
    summed = sp.csr_matrix(
        (products, paper[mine], np.concatenate(([0], np.cumsum(per_pair)))),
        shape=(len(pair_row), n),
    )
    weights = summed @ np.ones(n)  # one by one, in paper order: the product's sums
    nonzero = weights != 0
    return pair_row[nonzero], pair_col[nonzero], weights[nonzero]


class Scorer:
    """Channel models' scores for rows of one batch of paper vectors:
    ``ChannelModel.score``'s, minus its cost, and computed so that a paper's
    score depends on nothing but its vectors and the model (not on which
    other papers or channels are scored alongside, nor on BLAS threads).

    ``ChannelModel.score`` transposes a weight row as wide as the hashed space
    on every call. Here a model's weights are spread into one dense row reused
    from call to call, over the batch's own columns only, numbered most
    frequent first so that the row's busy part stays in the CPU's caches
    (each paper's entries keep their stored order: the TF-IDF part is the
    same sum as ``ChannelModel.score``'s).
    """

    def __init__(self, papers: PaperVectors) -> None:
        self.papers = papers
        tfidf = papers.tfidf
        self._columns, compact, frequency = np.unique(
            tfidf.indices, return_inverse=True, return_counts=True
        )
        self._number = np.empty(len(self._columns), dtype=np.int32)
        self._number[np.argsort(-frequency, kind="stable")] = np.arange(
            len(self._columns), dtype=np.int32
        )
        self._tfidf = sp.csr_matrix(
            (tfidf.data, self._number[compact], tfidf.indptr),
            shape=(tfidf.shape[0], len(self._columns)),
        )
        self._row = np.zeros(len(self._columns), dtype=np.float32)

    def __call__(self, model: ChannelModel, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """``model.score(papers.rows(rows))``."""
        if (model.tfidf_id, model.model_id) != (self.papers.tfidf_id, self.papers.model_id):
            raise ValueError("model and papers come from different vector spaces")
        w = model.tfidf_weights
        at = np.minimum(np.searchsorted(self._columns, w.indices), len(self._columns) - 1)
        known = self._columns[at] == w.indices  # a column no paper here has adds nothing
        slots = self._number[at[known]]
        self._row[slots] = w.data[known]
        try:
            sparse = self._tfidf[rows] @ self._row
        finally:
            self._row[slots] = 0.0
        # Not a BLAS product: its threads would be woken once per channel, and
        # its kernel may differ with the matrix's shape; a row's own sum never does.
        dense = (self.papers.embedding[rows] * model.embedding_weights).sum(axis=1)
        return (sparse + dense).astype(np.float32)
