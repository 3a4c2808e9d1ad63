"""One channel's taste: a linear model over the papers' stored vectors.

What it learns from (:class:`Feedback`, all paper keys):

- ``liked``: like chips, *More like this*, 👍, saves (positives);
- ``disliked``: *Less like this*, 👎 (negatives);
- ``pool``: the radar's recent matches, unlabelled background. Subtracting it
  is what arxiv-sanity-lite's SVM does by training against every other paper:
  it removes what all of the channel's papers share (every cs.CL paper says
  "language model") and keeps what the liked ones have in particular;
- ``ignored``: cards a digest showed that nobody reacted to. They are part of
  the pool, so they serve as the background only when no pool is given. Per
  paper they weigh far less than a dislike (a centroid of hundreds against
  one of a few): silence is not a verdict.

How, chosen by measurement (bench/bench_relevance.py --full --ablation: 676
tasks from real arXiv listings, NDCG@10):

- **Rocchio**, always by default: ``w = mean(liked) - d * mean(disliked)
  - p * mean(background)``, on TF-IDF and on the embedding (the latter scaled
  by ``embedding_weight``). 0.373, against 0.349 for TF-IDF cosine, 0.288
  for embedding cosine and 0.324 for the nearest liked paper (the latter is
  no better with few labels either: with one like the two coincide, with
  more the centroid wins), so the "too few labels" fallback *is* this
  centroid. Closed form, deterministic, a few milliseconds per channel.
- **Linear SVM** (scikit-learn ``LinearSVC``, arxiv-sanity-lite style): tied
  with Rocchio at every like count measured (1 to 30 likes: 0.372 overall when
  used always, 0.374 when used from 20 likes, 0.419 vs 0.414 with 30 likes), at
  several times the fitting cost, so it is off by default; ``svm_min_labels``
  switches a channel to it once it has that many likes and negatives.

Either way the result is one weight vector per space, so a channel scores a
day's papers with one sparse and one dense product, and 10,000 channels stack
into two matrices (:mod:`bot.relevance.scoring`). The TF-IDF weights are
pruned to the ``max_terms`` largest, which bounds that stacked matrix (1,000:
300 cost 0.013 NDCG@10, mostly on research groups, whose rare terms matter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from bot.relevance.tfidf import column_terms
from bot.relevance.vectors import PaperVectors
from bot.settings import RelevanceSettings


@dataclass(frozen=True)
class Feedback:
    """What one channel has told the radar, as paper keys."""

    liked: tuple[str, ...] = ()
    disliked: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()  # oldest first: the newest ``background_size`` are used
    pool: tuple[str, ...] = ()  # oldest first, likewise; when given, the background

    @property
    def has_signal(self) -> bool:
        """A channel with no like and no dislike keeps today's order."""
        return bool(self.liked or self.disliked)

    def cleaned(self) -> Feedback:
        """Each paper in one role only: an explicit verdict beats silence and background.

        A paper liked and disliked by different people counts as liked (someone
        here wants it); anything liked or disliked is neither ignored nor pool.
        """
        liked = tuple(dict.fromkeys(self.liked))
        first = set(liked)
        disliked = tuple(k for k in dict.fromkeys(self.disliked) if k not in first)
        judged = first | set(disliked)
        ignored = tuple(k for k in dict.fromkeys(self.ignored) if k not in judged)
        pool = tuple(k for k in dict.fromkeys(self.pool) if k not in judged)
        return Feedback(liked, disliked, ignored, pool)


@dataclass(frozen=True)
class ChannelModel:
    """A channel's weights: score = tfidf . w_tfidf + embedding . w_embedding."""

    tfidf_weights: sp.csr_matrix  # (1, n_features) float32, at most max_terms non-zeros
    embedding_weights: np.ndarray  # (dim,) float32, embedding_weight already applied
    learner: str  # "rocchio" or "svm"
    tfidf_id: str
    model_id: str
    liked: tuple[str, ...]  # the liked keys it learned from (for reasons and /radar likes)

    def score(self, papers: PaperVectors) -> np.ndarray:
        """Relevance of each paper (higher first); only comparable within this channel."""
        _same_space(self, papers)
        sparse = (papers.tfidf @ self.tfidf_weights.T).toarray().ravel()
        return (sparse + papers.embedding @ self.embedding_weights).astype(np.float32)

    def top_terms(self, liked_texts: Sequence[str], n: int = 10) -> list[str]:
        """The ``n`` terms that pull papers up most, for ``/radar likes``.

        ``liked_texts``: :func:`~bot.relevance.tfidf.paper_text` of the liked
        papers, from which the hashed columns' words are recovered.
        """
        w = self.tfidf_weights
        words = column_terms(liked_texts, w.shape[1])
        order = np.argsort(-w.data, kind="stable")
        found = [words.get(int(w.indices[k])) for k in order if w.data[k] > 0]
        return [t for t in found if t][:n]


def _same_space(model: ChannelModel, papers: PaperVectors) -> None:
    if (model.tfidf_id, model.model_id) != (papers.tfidf_id, papers.model_id):
        raise ValueError("model and papers come from different vector spaces; rebuild vectors")


def prune(cols: np.ndarray, weights: np.ndarray, width: int, keep: int) -> sp.csr_matrix:
    """The ``keep`` largest-magnitude of ``weights`` (at distinct, sorted ``cols``)
    as a 1-row CSR of ``width`` columns.

    Ties at the cut keep the lower columns, so the kept set never depends on
    input order; selection is linear (a partition, not a sort).
    """
    nz = weights != 0
    cols, weights = cols[nz], weights[nz]
    if len(cols) > keep:
        size = np.abs(weights)
        cut = np.partition(size, len(size) - keep)[len(size) - keep]
        above = np.flatnonzero(size > cut)
        at = np.flatnonzero(size == cut)[: keep - len(above)]  # cols ascending
        chosen = np.sort(np.concatenate([above, at]))
        cols, weights = cols[chosen], weights[chosen]
    return sp.csr_matrix(
        (weights.astype(np.float32), cols.astype(np.int32), np.array([0, len(cols)])),
        shape=(1, width),
    )


@dataclass(frozen=True)
class Prepared:
    """What a channel's model learns from, as rows of one batch of vectors: the
    feedback's papers that have vectors, each in one role (:meth:`Feedback.cleaned`),
    the newest ``background_size`` of the background; and the learner."""

    liked: np.ndarray  # rows, in the feedback's order
    disliked: np.ndarray
    ignored: np.ndarray
    pool: np.ndarray
    learner: str
    liked_keys: tuple[str, ...]  # the liked rows' keys (the model keeps them)


def prepare(
    papers: PaperVectors,
    feedback: Feedback,
    settings: RelevanceSettings,
    pool: np.ndarray | None = None,
) -> Prepared | None:
    """What :func:`fit` learns from (see :class:`Prepared`) and with which
    learner; None when no signal is left. Shared with the batched fit of many
    channels (:func:`bot.relevance.scoring.fit_many`).

    ``pool``: the feedback's pool already as rows of ``papers`` (-1: no
    vectors), in its order, in place of ``feedback.pool`` (a daily run has the
    rows of thousands of channels' radars at hand: no key is looked up again).
    """
    have = papers.index
    liked = tuple(dict.fromkeys(feedback.liked))
    judged = set(liked)
    disliked = tuple(k for k in dict.fromkeys(feedback.disliked) if k not in judged)
    judged.update(disliked)
    liked_keys = tuple(k for k in liked if k in have)
    liked_rows = _rows(have, liked_keys)
    disliked_rows = _rows(have, [k for k in disliked if k in have])
    if not len(liked_rows) and not len(disliked_rows):
        return None
    # The judged papers' rows: each paper in one role (keys and rows correspond
    # one to one; a judged key without vectors has no row to leave out).
    skip = np.concatenate((liked_rows, disliked_rows))
    n = settings.background_size
    if pool is None:
        pool = _rows(have, [k for k in feedback.pool if k not in judged], missing=-1)
    background = _background(pool, skip)
    # One background, not two: the shown-but-ignored cards are part of the
    # radar's pool, and subtracting both ranked no better than either alone
    # (measured); the pool ranked a little better (0.373 vs 0.370 NDCG@10,
    # 0.414 vs 0.393 with 30 likes), so it wins when given.
    if len(background):
        ignored = background[:0]
    else:
        ignored = _background(_rows(have, feedback.ignored, missing=-1), skip)
    ignored, background = (ignored[-n:], background[-n:]) if n else (ignored[:0], background[:0])
    negatives = len(disliked_rows) + len(ignored) + len(background)
    m = settings.svm_min_labels
    learner = "svm" if m and len(liked_rows) >= m and negatives >= m else "rocchio"
    return Prepared(liked_rows, disliked_rows, ignored, background, learner, liked_keys)


def _rows(have: dict[str, int], keys: Sequence[str], missing: int | None = None) -> np.ndarray:
    """Rows of ``keys`` (each in ``have``; or ``missing`` for those that are not)."""
    get = have.__getitem__ if missing is None else lambda k: have.get(k, missing)
    return np.fromiter(map(get, keys), dtype=np.int64, count=len(keys))


def _background(rows: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """``rows`` with vectors, each once (its first place), judged ones left out:
    :meth:`Feedback.cleaned` and the vectors filter, on rows."""
    rows = rows[rows >= 0]
    if len(judged) and len(rows):  # a few liked and disliked papers: one pass each
        keep = rows != judged[0]
        for r in judged[1:]:
            keep &= rows != r
        rows = rows[keep]
    if len(rows) and np.bincount(rows).max() > 1:  # a repeated paper counts once
        rows = rows[np.sort(np.unique(rows, return_index=True)[1])]
    return rows


def fit(
    papers: PaperVectors, feedback: Feedback, settings: RelevanceSettings
) -> ChannelModel | None:
    """The channel's model, or None when it has no signal (keep today's order).

    ``papers`` must hold the vectors of the feedback's papers; keys without
    vectors (not represented yet) are left out rather than guessed.
    """
    ready = prepare(papers, feedback, settings)
    return None if ready is None else fit_prepared(papers, ready, settings)


def fit_prepared(
    papers: PaperVectors, ready: Prepared, settings: RelevanceSettings
) -> ChannelModel:
    """:func:`fit` once :func:`prepare` is done."""
    cols, w_t, w_e = (_svm if ready.learner == "svm" else _rocchio)(papers, ready, settings)
    return ChannelModel(
        prune(cols, w_t, papers.tfidf.shape[1], settings.max_terms),
        w_e.astype(np.float32),
        ready.learner,
        papers.tfidf_id,
        papers.model_id,
        ready.liked_keys,
    )


def _rocchio(
    papers: PaperVectors, ready: Prepared, settings: RelevanceSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each group's centroid, weighted: (TF-IDF columns, their weights, embedding weights)."""
    rows, c = rocchio_coefficients(ready, settings)
    sub = papers.rows(rows)
    # sum_k c_k * row_k, straight from the CSR arrays (a sparse 1 x n product
    # would allocate work arrays the width of the whole hashed space per call).
    x = sub.tfidf
    per_entry = np.repeat(c, np.diff(x.indptr)) * x.data
    cols, where = np.unique(x.indices, return_inverse=True)
    w_t = np.bincount(where, weights=per_entry, minlength=len(cols))
    w_e = settings.embedding_weight * (c @ sub.embedding)
    return cols, w_t, w_e


def rocchio_coefficients(
    ready: Prepared, settings: RelevanceSettings
) -> tuple[np.ndarray, np.ndarray]:
    """The Rocchio weights as (rows, coefficient of each, float64): every group's
    centroid, weighted, so the model is ``sum coef_k * vector_k``."""
    groups = [(ready.liked, 1.0), (ready.disliked, -settings.disliked_weight)]
    if len(ready.liked):  # background only sharpens likes; with dislikes alone it would mislead
        groups += [(ready.ignored, -settings.ignored_weight), (ready.pool, -settings.pool_weight)]
    used = [(group, weight) for group, weight in groups if len(group) and weight]
    if not used:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    rows = np.concatenate([group for group, _ in used])
    coef = np.concatenate([np.full(len(group), weight / len(group)) for group, weight in used])
    return rows, coef


def _svm(
    papers: PaperVectors, ready: Prepared, settings: RelevanceSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LinearSVC on [tfidf | a*embedding] with a*a = embedding_weight, so the two
    learners weigh the spaces alike; pool papers are weak negatives."""
    from sklearn.svm import LinearSVC

    a = float(np.sqrt(settings.embedding_weight))
    rows = np.concatenate((ready.liked, ready.disliked, ready.ignored, ready.pool))
    sub = papers.rows(rows)
    y = np.array([1] * len(ready.liked) + [0] * (len(rows) - len(ready.liked)))
    # Per paper, a dislike (someone said so) weighs more than silence, and
    # silence more than background. The data has no dislikes, so their 3.0 is
    # a judgement; 1.0 and 0.3 are the measured ones.
    weight = np.array(
        [1.0] * len(ready.liked)
        + [3.0] * len(ready.disliked)
        + [1.0] * len(ready.ignored)
        + [0.3] * len(ready.pool)
    )
    weight[y == 1] *= weight[y == 0].sum() / weight[y == 1].sum()  # balanced classes
    x = sp.hstack([sub.tfidf, sp.csr_matrix(a * sub.embedding)], format="csr")
    svm = LinearSVC(C=0.3, max_iter=5000, tol=1e-5, random_state=0)
    svm.fit(x, y, sample_weight=weight)
    coef = svm.coef_.ravel()
    width = papers.tfidf.shape[1]
    return np.arange(width), coef[:width], a * coef[width:]
