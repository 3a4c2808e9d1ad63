"""Score many channels against a day's papers in one product per vector space.

Every channel model is a TF-IDF weight row (sparse, at most ``max_terms``
entries) and an embedding weight row (dense). Stacked, they are a sparse
``channels x terms`` matrix and a dense ``channels x dim`` matrix, and the
scores of all channels for all of the day's papers are

    S = W_tfidf @ X_tfidf.T + W_emb @ X_emb.T        (channels x papers)

computed in blocks of channels so memory stays bounded (a 2,048-channel block
against 2,000 papers is 16 MB of float32). No Python loop runs per channel
and paper pair; bench/bench_relevance.py prints the cost for 10,000 channels
against 2,000 papers (1.4 s for scoring and top-10 on the 2-core development
machine, 2026-12-02).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from bot.core.matching.arrays import ranges
from bot.relevance.model import (
    ChannelModel,
    Feedback,
    fit_prepared,
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
    papers: PaperVectors,
    feedbacks: Sequence[Feedback],
    settings: RelevanceSettings,
    pools: Sequence[np.ndarray] | None = None,
) -> list[ChannelModel | None]:
    """:func:`~bot.relevance.model.fit` for each of ``feedbacks``, the Rocchio
    channels together. ``pools``: each feedback's pool as rows of ``papers``
    (-1: no vectors) in place of its keys, when the caller has them (see
    :func:`~bot.relevance.model.prepare`).

    Fitting one channel at a time sums its few hundred papers' TF-IDF rows per
    call (a fraction of a millisecond each, then a sort of tens of thousands of
    columns): seconds for 10,000 channels. Here every Rocchio channel's weights
    come from products of all channels' coefficients with the vectors,
    restricted to the columns that can make a channel's ``max_terms`` (see
    :class:`_RocchioWeights`), and the embedding weights one more product.
    Same inputs (``prepare``), same coefficients (``rocchio_coefficients``) and
    the same pruning (``prune``) as ``fit``; only the order in which each sum
    is added up differs, which moves weights by float rounding.

    A channel's model does not depend on which other channels are fitted with
    it, nor on the row order of ``papers`` (sums run over papers sorted by key),
    so a channel fitted alone (a typed ``/radar digest``) gets the very same
    model as in the daily run. Channels for the SVM learner go through ``fit``.
    """
    out: list[ChannelModel | None] = [None] * len(feedbacks)
    rocchio: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, float]] = []
    liked: list[tuple[str, ...]] = []
    # Rows ranked by key: every sum below runs in this order, whatever the input's.
    canon = np.empty(len(papers), dtype=np.int64)
    canon[sorted(range(len(papers)), key=papers.keys.__getitem__)] = np.arange(len(papers))
    for i, feedback in enumerate(feedbacks):
        ready = prepare(papers, feedback, settings, None if pools is None else pools[i])
        if ready is None:
            continue
        if ready.learner != "rocchio":
            out[i] = fit_prepared(papers, ready, settings)
            continue
        rows, coef = rocchio_coefficients(ready, settings)
        # The coefficients come liked, disliked (unless their weight is 0), then
        # the background: the judged ones are the first ``judged``.
        judged = len(ready.liked) + (len(ready.disliked) if settings.disliked_weight else 0)
        # The largest background |coefficient| (the unjudged come after the judged).
        background = float(np.abs(coef[judged:]).max(initial=0.0))
        special = np.unique(canon[rows[:judged]])  # the liked and disliked papers
        rocchio.append((i, canon[rows], coef, special, background))
        liked.append(ready.liked_keys)
    if not rocchio:
        return out
    lengths = np.fromiter((len(r[1]) for r in rocchio), dtype=np.int64, count=len(rocchio))
    coefficients = sp.csr_matrix(
        (
            np.concatenate([r[2] for r in rocchio]),
            np.concatenate([r[1] for r in rocchio]),
            np.concatenate(([0], np.cumsum(lengths))),
        ),
        shape=(len(rocchio), len(papers)),
    )
    coefficients.sort_indices()
    # Only the columns some paper has, renumbered by decreasing sum over the
    # papers: the hashed space is a million wide (work arrays that wide do not
    # stay in the CPU's caches), and the columns most rows touch come first.
    order = np.argsort(canon)
    tfidf = papers.tfidf[order]
    width = tfidf.shape[1]
    vocabulary = np.flatnonzero(np.bincount(tfidf.indices, minlength=width))
    sums = np.bincount(tfidf.indices, weights=tfidf.data, minlength=width)[vocabulary]
    by_sum = np.argsort(-sums, kind="stable")
    original = vocabulary[by_sum]  # renumbered column -> hashed column
    renumber = np.empty(width, dtype=np.int32)
    renumber[original] = np.arange(len(original), dtype=np.int32)
    tfidf = sp.csr_matrix(
        (tfidf.data.astype(np.float64), renumber[tfidf.indices], tfidf.indptr),
        shape=(len(papers), len(vocabulary)),
    )
    weights = []
    for cols, values in _RocchioWeights(
        coefficients,
        tfidf,
        sums[by_sum],
        [r[3] for r in rocchio],
        np.asarray([r[4] for r in rocchio]),
        settings.max_terms,
    ).run():
        hashed = original[cols]
        at = np.argsort(hashed)
        weights.append(prune(hashed[at], values[at], width, settings.max_terms))
    embedding = coefficients @ np.asarray(papers.embedding[order], dtype=np.float64)
    embedding *= settings.embedding_weight
    for j, (i, *_) in enumerate(rocchio):
        out[i] = ChannelModel(
            weights[j],
            embedding[j].astype(np.float32),
            "rocchio",
            papers.tfidf_id,
            papers.model_id,
            liked[j],
        )
    return out


#: Channels whose weights are computed together. A block's head is
#: ``FIT_BLOCK x HEAD x max_terms`` doubles (4 MB by default), and its
#: coefficients a papers x ``FIT_BLOCK`` table that the head's product reads
#: once per entry of the papers' vectors: at 64 channels (1 MB for 2,000
#: papers) it stays in the CPU's cache, and fitting 2,000 channels took 0.78 s
#: against 0.92 s in blocks of 256 (2026-12-02, Intel Xeon VM; 128: 0.81 s).
FIT_BLOCK = 64
#: The first columns, computed for every channel: this many times ``max_terms``.
HEAD = 8
_TINY = float(np.finfo(np.float64).tiny)


@dataclass(frozen=True)
class _Partial:
    """A channel that needs more columns: the weights computed so far that
    pruning may keep, the ``keep``-th largest magnitude among them (0: fewer
    than ``keep`` non-zero), its own papers' columns beyond the head
    (computed already), and the columns done (all before ``done``)."""

    cols: np.ndarray
    values: np.ndarray
    cut: float
    own: np.ndarray
    done: int


class _RocchioWeights:
    """For each channel (a row of ``coefficients``), the columns and weights of
    its row of ``coefficients @ tfidf`` that ``prune`` may keep (the ``keep``
    largest, ties at its cut included), exact. ``tfidf``'s columns come by
    decreasing ``sums`` (each column's sum over all rows); ``special``: each
    channel's liked and disliked papers (rows); ``background``: its largest
    background |coefficient|.

    Only ``keep`` columns survive pruning, so most of the product is never
    needed. A column outside a channel's liked and disliked papers gets weight
    only from its background papers: at most ``background coefficient x the
    column's sum`` (TF-IDF is never negative). So each channel is computed
    exactly on the first columns (the head: many channels at once, densely)
    and on its own liked and disliked papers' columns; when the ``keep``-th
    largest weight among those beats the bound of every other column, nothing
    else can be kept. A channel where it does not gets the next columns (a
    sparse product: few channels, rare columns), and so on until it does or
    no column is left; no column is computed twice.

    Every weight is the same sum however it is computed: its products
    ``coefficient x value`` added one by one, papers in row order (what
    scipy's sparse products do, with a dense right-hand side or a sparse one,
    and what :meth:`own` does), so a channel's weights never depend on which
    path, or which other channels, computed them.
    """

    def __init__(
        self,
        coefficients: sp.csr_matrix,
        tfidf: sp.csr_matrix,
        sums: np.ndarray,
        special: list[np.ndarray],
        background: np.ndarray,
        keep: int,
    ) -> None:
        self.coefficients, self.tfidf, self.sums = coefficients, tfidf, sums
        self._falling = -sums  # ascending, for ``searchsorted`` (``reach`` runs per channel)
        self.special, self.background, self.keep = special, background, keep
        self.by_column = tfidf.T.tocsr()  # columns x papers, papers in row order
        self.by_column.sort_indices()
        self.first = min(tfidf.shape[1], HEAD * keep)
        self.out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * coefficients.shape[0]
        self.pending: dict[int, _Partial] = {}

    def run(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every channel's weights that pruning may keep (see the class)."""
        n = self.coefficients.shape[0]
        for start in range(0, n, FIT_BLOCK):
            self.head(range(start, min(n, start + FIT_BLOCK)))
        while self.pending:
            # Each waiting channel's next columns: up to where every later column's
            # bound is below its cut so far (a cut only grows), rounded up to a
            # power of two times the head so that channels share products.
            waiting, self.pending = self.pending, {}
            groups: dict[tuple[int, int], list[int]] = {}
            for j, partial in waiting.items():
                groups.setdefault((partial.done, self.reach(j, partial)), []).append(j)
            for (first, upto), channels in groups.items():
                self.more(channels, waiting, first, upto)
        return self.out  # type: ignore[return-value]

    def head(self, block: range) -> None:
        """The head and the own papers' columns of the channels of ``block``.

        The head is the costly part and dense (a channel has most of its
        columns): the block's coefficients as a papers x channels table,
        multiplied by the head's columns (scipy's sparse x dense product: each
        weight summed paper by paper, in row order, SIMD over the channels).
        """
        c = self.coefficients[block.start : block.stop]
        table = np.zeros((self.tfidf.shape[0], len(block)))
        table[c.indices, np.repeat(np.arange(len(block)), np.diff(c.indptr))] = c.data
        weights = self.by_column[: self.first] @ table  # head x block
        own_row, own_col, own_val = self.own(table, block)
        own_at = np.searchsorted(own_row, np.arange(len(block) + 1))
        # A lower bound of each channel's cut, to look at the few weights above
        # it only: the keep-th largest of its first ``2 keep`` columns' weights,
        # an untouched (zero) column made slightly negative, each its own
        # value, as ties slow the selection down.
        size = np.abs(weights)
        keep = self.keep
        sample = min(self.first, 2 * keep)
        if sample > keep:
            ramp = np.arange(sample, dtype=np.float64) * -_TINY
            low = np.partition(size[:sample].T + ramp, sample - keep, axis=1)[:, sample - keep]
            low = np.maximum(low, _TINY)
        else:
            low = np.full(len(block), _TINY)
        above = np.ascontiguousarray((size >= low).T)  # channels x head
        channel, col = np.divmod(np.flatnonzero(above), self.first)
        value = weights[col, channel]
        at = np.searchsorted(channel, np.arange(len(block) + 1))
        last = self.first >= self.tfidf.shape[1]
        bound = 0.0 if last else float(self.sums[self.first])  # any later column's sum
        for b, j in enumerate(block):
            mine = slice(own_at[b], own_at[b + 1])
            oc, ov = own_col[mine], own_val[mine]
            big = np.abs(ov) >= low[b]
            cols = np.concatenate((col[at[b] : at[b + 1]], oc[big]))
            values = np.concatenate((value[at[b] : at[b + 1]], ov[big]))
            complete = last or self.background[j] == 0.0  # no other column has weight
            bound_j = self.background[j] * bound
            self.settle(j, cols, values, bound_j, complete, oc, self.first, self.pending)

    def reach(self, j: int, partial: _Partial) -> int:
        """Where channel ``j``'s next product should end (see :class:`_RocchioWeights`)."""
        width = len(self.sums)
        if partial.cut <= 0.0:  # fewer than ``keep`` non-zero weights yet: all the rest
            return width
        # sums decrease: the first column whose bound is below the cut
        end = int(np.searchsorted(self._falling, -partial.cut / self.background[j], side="right"))
        upto = partial.done
        while upto < min(end, width):
            upto *= 2
        return min(upto, width)

    def more(
        self, channels: list[int], waiting: dict[int, _Partial], first: int, upto: int
    ) -> None:
        """Columns ``first`` to ``upto`` for ``channels`` (each of them waiting, with
        those before ``first`` done)."""
        width = self.tfidf.shape[1]
        chunk = self.tfidf[:, first:upto]
        complete = upto >= width
        bound = 0.0 if complete else float(self.sums[upto])
        for start in range(0, len(channels), FIT_BLOCK):
            block = np.asarray(channels[start : start + FIT_BLOCK], dtype=np.int64)
            part = self.coefficients[block] @ chunk
            before = [waiting[j] for j in block.tolist()]
            cuts = np.fromiter((p.cut for p in before), dtype=np.float64, count=len(block))
            row = np.repeat(np.arange(len(block)), np.diff(part.indptr))
            # Only a weight at or above the cut so far can be kept, and a column
            # of the channel's own papers is computed already.
            big = np.abs(part.data) >= np.maximum(cuts[row], _TINY)
            row, col, value = row[big], part.indices[big].astype(np.int64) + first, part.data[big]
            known = np.concatenate([b * width + p.own for b, p in enumerate(before)])
            if len(known) and len(col):
                codes = row * width + col
                fresh = known[np.minimum(np.searchsorted(known, codes), len(known) - 1)] != codes
                row, col, value = row[fresh], col[fresh], value[fresh]
            at = np.searchsorted(row, np.arange(len(block) + 1))
            for b, j in enumerate(block.tolist()):
                p = before[b]
                cols = np.concatenate((p.cols, col[at[b] : at[b + 1]]))
                values = np.concatenate((p.values, value[at[b] : at[b + 1]]))
                bound_j = self.background[j] * bound
                self.settle(j, cols, values, bound_j, complete, p.own, upto, self.pending)

    def settle(
        self,
        j: int,
        cols: np.ndarray,
        values: np.ndarray,
        bound: float,
        complete: bool,
        own: np.ndarray,
        done: int,
        pending: dict[int, _Partial],
    ) -> None:
        """Channel ``j``'s weights computed so far (its columns before ``done``
        and its own): those pruning may keep go to ``out`` when no other column
        can beat them (each is at most ``bound``; ``complete``: none has
        weight), else the channel waits in ``pending``."""
        size = np.abs(values)
        keep = self.keep
        if len(values) >= keep:
            cut = float(np.partition(size, len(values) - keep)[len(values) - keep])
            if cut > 0.0:
                near = size >= cut  # all that pruning can keep, ties included
                if bound < cut:
                    self.out[j] = (cols[near], values[near])
                else:
                    pending[j] = _Partial(cols[near], values[near], cut, own, done)
                return
        near = size > 0.0  # fewer than ``keep`` non-zero: another column may be
        if complete:
            self.out[j] = (cols[near], values[near])
        else:
            pending[j] = _Partial(cols[near], values[near], 0.0, own, done)

    def own(self, table: np.ndarray, block: range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weights of each block channel's liked and disliked papers' columns
        beyond the head: (block row, column, weight), sorted by row then
        column. ``table``: the block's coefficients, papers x channels. Each
        weight adds its products one by one in paper order, as the sparse
        product would."""
        tfidf, by_column, head = self.tfidf, self.by_column, self.first
        n, width = tfidf.shape
        empty = np.zeros(0, dtype=np.int64)
        counts = np.fromiter((len(self.special[j]) for j in block), np.int64, len(block))
        if head >= width or not counts.sum():
            return empty, empty, np.zeros(0)
        papers = np.concatenate([self.special[j] for j in block])
        lengths = np.diff(tfidf.indptr)[papers]
        cols = tfidf.indices[ranges(tfidf.indptr[papers], lengths)].astype(np.int64)
        owner = np.repeat(np.repeat(np.arange(len(block)), counts), lengths)
        beyond = cols >= head
        # (row, column) codes: sorted already but where a channel has several
        # such papers, runs a stable sort merges in linear time.
        codes = np.sort(owner[beyond] * width + cols[beyond], kind="stable")
        if len(codes):
            codes = codes[np.concatenate(([True], codes[1:] != codes[:-1]))]
        pair_row, pair_col = np.divmod(codes, width)
        # Each pair's papers (by_column's row: in paper order) with the channel's
        # coefficient of each; a paper that is not one of the channel's is dropped.
        counts = np.diff(by_column.indptr)[pair_col]
        entries = ranges(by_column.indptr[pair_col], counts)
        paper = by_column.indices[entries].astype(np.int64)
        pair_of = np.repeat(np.arange(len(pair_row)), counts)
        coefficient = table[paper, pair_row[pair_of]]
        mine = coefficient != 0
        products = by_column.data[entries][mine] * coefficient[mine]
        per_pair = np.bincount(pair_of[mine], minlength=len(pair_row))
        summed = sp.csr_matrix(
            (products, paper[mine], np.concatenate(([0], np.cumsum(per_pair)))),
            shape=(len(pair_row), n),
        )
        weights = summed @ np.ones(n)  # one by one, in paper order: the product's sums
        nonzero = weights != 0
        return pair_row[nonzero], pair_col[nonzero], weights[nonzero]


#: Bytes of one block's TF-IDF scores in :meth:`Scorer.many` (a papers x
#: channels float32 table, and about twice that while the sparse product
#: that fills it is alive): 1,024 channels a block over 2,000 papers.
SCORE_BYTES = 8 << 20


class Scorer:
    """Channel models' scores for rows of one batch of paper vectors:
    ``ChannelModel.score``'s, minus its cost, and computed so that a paper's
    score depends on nothing but its vectors and the model (not on which
    other papers or channels are scored alongside, nor on BLAS threads).

    The TF-IDF part of a block of channels is one sparse product, papers x
    terms @ terms x channels, over the batch's own columns only. Each score
    is then the sum ``ChannelModel.score`` makes: the paper's entries in
    their stored order, each times the model's weight (scipy's sparse product
    adds them one by one per (paper, channel); a weight the model does not
    have adds an exact zero there, nothing here). A channel gets the whole
    batch's scores and keeps its rows: a product over every paper costs less
    than selecting a channel's few hundred rows, thousands of times.

    The embedding part is a row-by-row dot product of each row the channel
    asks for (not a BLAS product: its kernel, and so its rounding, may change
    with the matrix's shape and threads; a row's own dot product never does).
    """

    def __init__(self, papers: PaperVectors) -> None:
        self.papers = papers
        tfidf = papers.tfidf
        frequency = np.bincount(tfidf.indices, minlength=tfidf.shape[1])
        columns = np.flatnonzero(frequency)
        # Each hashed column's slot (-1: no paper here has it): one lookup per
        # model weight, not a search.
        self._slot = np.full(tfidf.shape[1], -1, dtype=np.int32)
        self._slot[columns] = np.arange(len(columns), dtype=np.int32)
        self._tfidf = sp.csr_matrix(
            (tfidf.data, self._slot[tfidf.indices], tfidf.indptr),
            shape=(tfidf.shape[0], len(columns)),
        )

    def __call__(self, model: ChannelModel, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """``model.score(papers.rows(rows))``."""
        [scores] = self.many([model], [rows])
        return scores

    def many(
        self, models: Sequence[ChannelModel], rows: Sequence[Sequence[int] | np.ndarray]
    ) -> list[np.ndarray]:
        """Each model's scores for its rows (``rows[k]`` for ``models[k]``)."""
        for model in models:
            if (model.tfidf_id, model.model_id) != (self.papers.tfidf_id, self.papers.model_id):
                raise ValueError("model and papers come from different vector spaces")
        embedding = self.papers.embedding
        out: list[np.ndarray] = []
        step = max(1, SCORE_BYTES // (4 * max(1, self._tfidf.shape[0])))
        for start in range(0, len(models), step):
            block = models[start : start + step]
            sparse = (self._tfidf @ self._weights(block)).toarray()  # papers x channels
            for k, model in enumerate(block):
                at = np.asarray(rows[start + k], dtype=np.int64)
                dense = np.einsum("ij,j->i", embedding[at], model.embedding_weights)
                out.append((sparse[at, k] + dense).astype(np.float32, copy=False))
        return out

    def _weights(self, models: Sequence[ChannelModel]) -> sp.csr_matrix:
        """The models' TF-IDF weights as columns, over the batch's slots (a
        weight on a column no paper here has adds nothing: dropped)."""
        slots = [self._slot[m.tfidf_weights.indices] for m in models]
        values = [m.tfidf_weights.data for m in models]
        lengths = np.fromiter(map(len, slots), np.int64, len(slots))
        slot, value = np.concatenate(slots), np.concatenate(values)
        channel = np.repeat(np.arange(len(models)), lengths)
        known = slot >= 0
        return sp.csr_matrix(
            (value[known].astype(np.float32), (slot[known], channel[known])),
            shape=(self._tfidf.shape[1], len(models)),
        )
