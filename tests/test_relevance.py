"""Relevance engine (issue 12): representation, per-channel models, watch, reasons.

Real data: tests/fixtures/relevance/arxiv_cs_2026-06_slice.jsonl.gz (real
arXiv listings of June 2026; origin in that folder's README). Labels come
from the data itself (arXiv categories the authors chose), never invented.
The OpenAI-compatible embedder runs against tests/fakellm.py over real HTTP.
"""

from __future__ import annotations

import gzip
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.errors import UpstreamError
from bot.relevance import (
    ChannelMatrix,
    ChannelModel,
    Feedback,
    OpenAIEmbedder,
    PaperVectors,
    Representer,
    WordLlamaEmbedder,
    card_reasons,
    fit,
    like_watch,
    order,
    reason_line,
    scoring,
    stale,
)
from bot.relevance import embed as embed_module
from bot.relevance.scoring import Scorer, fit_many
from bot.relevance.tfidf import paper_text
from bot.settings import RelevanceSettings
from tests.fakellm import EMBEDDING_DIM, FakeLLM, Status

SLICE = Path(__file__).parent / "fixtures" / "relevance" / "arxiv_cs_2026-06_slice.jsonl.gz"
SETTINGS = RelevanceSettings()
#: Days the tests represent (about 1,300 papers: a second or two to embed).
LIKE_DAYS = ("2026-06-01", "2026-06-02", "2026-06-03")
DAYS = ("2026-06-08", "2026-06-09", "2026-06-10")


def _rows() -> list[dict[str, Any]]:
    with gzip.open(SLICE, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def data() -> tuple[list[dict[str, Any]], PaperVectors]:
    """The listings of DAYS, plus the robotics-in-vision papers of LIKE_DAYS, as vectors."""
    rows = [
        r
        for r in _rows()
        if r["listing_date"] in DAYS
        or (r["listing_date"] in LIKE_DAYS and r["categories"][0] == "cs.CV")
    ]
    rep = Representer(WordLlamaEmbedder())
    vecs = rep.texts(
        [f"arxiv:{r['id']}" for r in rows],
        [r["title"] for r in rows],
        [r["summary"] for r in rows],
    )
    return rows, vecs


def keys_where(rows: list[dict[str, Any]], test: Any) -> list[str]:
    return [f"arxiv:{r['id']}" for r in rows if test(r)]


# -- representation ----------------------------------------------------------------------


def test_representation_is_deterministic_and_independent_of_the_batch(
    data: tuple[list[dict[str, Any]], PaperVectors],
) -> None:
    """A paper's vectors are the same whichever day's batch it was harvested in,
    and survive the store's round trip byte for byte."""
    rows, vecs = data
    some = rows[:5]
    alone = Representer(WordLlamaEmbedder()).texts(
        [f"arxiv:{r['id']}" for r in some[2:3]], [some[2]["title"]], [some[2]["summary"]]
    )
    again = vecs.take(alone.keys)
    assert alone.tfidf_id == vecs.tfidf_id and alone.model_id == vecs.model_id
    assert np.array_equal(alone.tfidf.indices, again.tfidf.indices)
    np.testing.assert_allclose(alone.tfidf.data, again.tfidf.data, rtol=0, atol=1e-6)
    np.testing.assert_allclose(alone.embedding, again.embedding, rtol=0, atol=1e-5)
    assert abs(float(np.linalg.norm(alone.embedding[0])) - 1) < 1e-5

    stored = PaperVectors.from_bytes(
        vecs.keys[:5],
        [vecs.tfidf_bytes(k) for k in range(5)],
        [vecs.embedding_bytes(k) for k in range(5)],
        vecs.tfidf_id,
        vecs.model_id,
    )
    assert (stored.tfidf != vecs.tfidf[:5]).nnz == 0
    assert np.array_equal(stored.embedding, vecs.embedding[:5])
    # Vectors from another model are flagged for rebuilding, never mixed in.
    ids = [(vecs.tfidf_id, vecs.model_id), (vecs.tfidf_id, "openai/other")]
    assert stale(ids, vecs.tfidf_id, vecs.model_id) == [1]


def test_wordllama_loads_from_its_wheel_with_the_network_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The default embedder needs no download (the autouse fixture refuses any
    non-local connection; requests.get would be WordLlama's download path), and
    importing it leaves the bot's logging configuration alone."""
    import requests

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("WordLlama tried to download a file")

    monkeypatch.setattr(requests, "get", no_download)
    monkeypatch.setattr(embed_module, "_WORDLLAMA", [])
    for name in [m for m in sys.modules if m == "wordllama" or m.startswith("wordllama.")]:
        monkeypatch.delitem(sys.modules, name)
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    embedder = WordLlamaEmbedder()
    assert (list(root.handlers), root.level) == before
    vectors = embedder.embed(["Diffusion models for video generation", "Robot grasping"])
    assert vectors.shape == (2, 256) and vectors.dtype == np.float32
    assert embedder.model_id.startswith("wordllama/l2_supercat-256-c")


# -- the channel model on real data --------------------------------------------------------


def test_a_channel_that_likes_robotics_sees_robotics_first_in_a_vision_digest(
    data: tuple[list[dict[str, Any]], PaperVectors],
) -> None:
    """A cs.CV channel liked 15 vision papers of its first days that their
    authors also filed under robotics (cs.RO), and ignored the other cards it
    was shown. In the next week's real cs.CV listings, the robotics papers
    (authors hidden: title and abstract only) rank near the top, where
    newest-first scatters them."""
    rows, vecs = data
    robotics = keys_where(
        rows, lambda r: r["listing_date"] in LIKE_DAYS and "cs.RO" in r["categories"]
    )[:15]
    shown = keys_where(
        rows, lambda r: r["listing_date"] in LIKE_DAYS and "cs.RO" not in r["categories"]
    )[-100:]
    later = [r for r in rows if r["listing_date"] in DAYS and "cs.CV" in r["categories"]]
    relevant = {f"arxiv:{r['id']}" for r in later if "cs.RO" in r["categories"]}
    assert len(robotics) == 15 and 5 <= len(relevant) <= len(later) // 10
    model = fit(vecs, Feedback(liked=tuple(robotics), ignored=tuple(shown)), SETTINGS)
    assert model is not None and model.learner == "rocchio"
    today = vecs.take(f"arxiv:{r['id']}" for r in later)
    ranked = [today.keys[i] for i in order(model.score(today))]
    newest = sorted(today.keys, reverse=True)
    assert sum(k in relevant for k in ranked[:20]) >= 2 > sum(k in relevant for k in newest[:20])
    mean_rank = np.mean([ranked.index(k) for k in relevant]) / len(ranked)
    assert mean_rank < 0.25  # any order blind to topic puts them at 0.5 on average
    # /radar likes can say what it learned, in words.
    texts = {f"arxiv:{r['id']}": paper_text(r["title"], r["summary"]) for r in rows}
    terms = model.top_terms([texts[k] for k in robotics], 10)
    assert len(terms) == 10 and {"navigation", "collision"} <= set(terms)


def test_one_channels_likes_never_change_another_channels_scores(
    data: tuple[list[dict[str, Any]], PaperVectors],
) -> None:
    rows, vecs = data
    day = vecs.take(keys_where(rows, lambda r: r["listing_date"] == "2026-06-10"))
    vision = keys_where(rows, lambda r: r["listing_date"] == "2026-06-08")
    a = Feedback(liked=tuple(vision[:2]))
    b = Feedback(liked=tuple(vision[10:13]), disliked=(vision[20],))
    before = ChannelMatrix.stack({"A": fit(vecs, a, SETTINGS), "B": fit(vecs, b, SETTINGS)})
    a_more = replace(a, liked=(*a.liked, *vision[30:40]), disliked=tuple(vision[40:45]))
    after = ChannelMatrix.stack({"A": fit(vecs, a_more, SETTINGS), "B": fit(vecs, b, SETTINGS)})
    s0, s1 = before.scores(day), after.scores(day)
    assert np.array_equal(s0[1], s1[1])  # B: bit for bit
    assert not np.allclose(s0[0], s1[0])  # A did learn
    # The stacked product is exactly each channel's own score.
    np.testing.assert_allclose(s1[1], fit(vecs, b, SETTINGS).score(day), atol=1e-6)


def test_no_signal_keeps_todays_order_and_dislikes_alone_push_papers_down(
    data: tuple[list[dict[str, Any]], PaperVectors],
) -> None:
    rows, vecs = data
    day = keys_where(rows, lambda r: r["listing_date"] == "2026-06-10")
    assert fit(vecs, Feedback(ignored=tuple(day[:50]), pool=tuple(day)), SETTINGS) is None
    disliked = day[0]
    model = fit(vecs, Feedback(disliked=(disliked,)), SETTINGS)
    assert model is not None
    ranked = [vecs.take(day).keys[i] for i in order(model.score(vecs.take(day)))]
    assert ranked[-1] == disliked


def test_many_labels_switch_to_the_linear_svm(
    data: tuple[list[dict[str, Any]], PaperVectors],
) -> None:
    rows, vecs = data
    keys = keys_where(rows, lambda r: r["listing_date"] == "2026-06-08")
    settings = replace(SETTINGS, svm_min_labels=5)
    model = fit(vecs, Feedback(liked=tuple(keys[:6]), ignored=tuple(keys[6:40])), settings)
    assert model is not None and model.learner == "svm"
    assert model.tfidf_weights.nnz <= settings.max_terms
    scores = model.score(vecs.take(keys[:40]))
    assert scores[:6].mean() > scores[6:40].mean()


# -- like-chip watch and reasons -----------------------------------------------------------


def test_a_like_chip_admits_a_handful_a_day_not_hundreds(
    data: tuple[list[dict[str, Any]], PaperVectors],
) -> None:
    """40 real papers liked on 2026-06-08 watch the next two real days: on
    average a like chip admits at most a few papers a day, some admit one, and
    the same text under another id (a re-listing) is always admitted."""
    rows, vecs = data
    liked = vecs.take(keys_where(rows, lambda r: r["listing_date"] == "2026-06-08")[::5][:40])
    per_day = []
    for day in DAYS[1:]:
        papers = vecs.take(keys_where(rows, lambda r, d=day: r["listing_date"] == d))
        hits = like_watch(papers, liked, SETTINGS.like_threshold, SETTINGS.embedding_weight)
        per_day.append(len(hits) / len(liked))
        assert len(hits) < len(papers) / 20
    assert 0 < np.mean(per_day) <= 3
    copy = Representer(WordLlamaEmbedder()).texts(
        ["arxiv:relisted"], [rows[0]["title"]], [rows[0]["summary"]]
    )
    original = vecs.take([f"arxiv:{rows[0]['id']}"])
    hits = like_watch(copy, original, SETTINGS.like_threshold, SETTINGS.embedding_weight)
    assert [(h.paper, h.liked) for h in hits] == [(0, 0)] and hits[0].similarity > 1.0


def test_a_ranked_card_says_why_in_words_not_scores(
    data: tuple[list[dict[str, Any]], PaperVectors],
) -> None:
    rows, vecs = data
    title = {f"arxiv:{r['id']}": r["title"] for r in rows}
    robotics = keys_where(
        rows, lambda r: r["listing_date"] in LIKE_DAYS and "cs.RO" in r["categories"]
    )[:8]
    liked = vecs.take(robotics)
    model = fit(vecs, Feedback(liked=tuple(robotics)), SETTINGS)
    assert model is not None
    day = vecs.take(keys_where(rows, lambda r: r["listing_date"] == "2026-06-09"))
    top = [day.keys[i] for i in order(model.score(day))[:10]]
    why = card_reasons(vecs.take([*top, robotics[0]]), liked, title, {robotics[0]: 3}, SETTINGS)
    assert why[robotics[0]] == "liked by 3 here"
    similar = [line for line in why.values() if line and line.startswith("similar to")]
    assert len(similar) >= 5
    for line in similar:
        quoted = line.removeprefix('similar to "').removesuffix('"')
        assert any(title[k].startswith(quoted.rstrip("…")[:40]) for k in liked.keys)
        assert len(line) <= 75 and not any(c.isdigit() for c in line.split('"')[0])
    # A card only faintly like anything liked gets no reason at all.
    assert reason_line(nearest_title="X", similarity=0.01, floor=SETTINGS.reason_floor) is None
    long = reason_line(nearest_title="A " * 80 + "end", similarity=1.0)
    assert long is not None and long.endswith('…"') and len(long) <= 75


# -- the OpenAI-compatible embedder ---------------------------------------------------------


def test_openai_compatible_embeddings_endpoint_over_real_http() -> None:
    with FakeLLM() as llm:
        settings = replace(
            SETTINGS,
            embedder="openai",
            embedding_base_url=llm.url,
            embedding_model="nomic-embed-text",
            embedding_batch=2,
            embedding_max_retries=0,
            embedding_timeout_seconds=2.0,
        )
        embedder = OpenAIEmbedder(settings)
        texts = ["graph neural networks", "neural networks on graphs", "protein folding"]
        vectors = embedder.embed(texts)
        assert vectors.shape == (3, EMBEDDING_DIM)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
        assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
        assert [r["input"] for r in llm.requests] == [texts[:2], texts[2:]]
        assert {r["model"] for r in llm.requests} == {"nomic-embed-text"}
        assert embedder.model_id == "openai/nomic-embed-text"

        llm.push(Status(503))
        with pytest.raises(UpstreamError, match="embeddings server"):
            embedder.embed(["one more"])


def test_the_openai_embedder_feeds_the_same_pipeline() -> None:
    """Vectors from the endpoint rank like WordLlama's do, in their own space."""
    with FakeLLM() as llm:
        settings = replace(
            SETTINGS, embedder="openai", embedding_base_url=llm.url, embedding_model="m"
        )
        rep = Representer(OpenAIEmbedder(settings))
        vecs = rep.texts(
            ["a", "b", "c"],
            ["Speech recognition", "Speech synthesis", "Image segmentation"],
            ["We transcribe speech audio.", "We synthesise speech audio.", "We segment images."],
        )
    model = fit(vecs, Feedback(liked=("a",)), SETTINGS)
    assert model is not None and model.model_id == "openai/m"
    scores = model.score(vecs.take(["b", "c"]))
    assert scores[0] > scores[1]


# -- many channels at once (issue 13) ------------------------------------------------------


def _feedbacks(keys: list[str], n: int, seed: int) -> list[Feedback]:
    """``n`` channels' feedback over ``keys``: 1-3 likes, now and then a dislike,
    a background of 3 to 400 of the papers (a radar's matches), a few with
    likes only, a few with dislikes only."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        chosen = [keys[k] for k in rng.choice(len(keys), 404, replace=False)]
        liked = tuple(chosen[: rng.integers(1, 4)]) if i % 9 else ()
        disliked = (chosen[3],) if i % 4 == 0 else ()
        pool = tuple(chosen[4 : 4 + rng.integers(3, 400)]) if i % 7 else ()
        out.append(Feedback(liked, disliked, (), pool))
    return out


@pytest.mark.parametrize("max_terms", [SETTINGS.max_terms, 40])
def test_fitting_many_channels_at_once_gives_each_channels_own_model(data, max_terms) -> None:
    """``fit_many`` (the daily run's) equals ``fit`` channel by channel: same
    learner, same kept terms, the same weights up to float rounding (its sums
    run in another order). 40 terms makes most channels need more columns than
    the first product's."""
    _, vecs = data
    settings = replace(SETTINGS, max_terms=max_terms)
    feedbacks = _feedbacks(list(vecs.keys), 60, seed=max_terms)
    got = fit_many(vecs, feedbacks, settings)
    assert sum(m is not None for m in got) >= 50
    for fb, model in zip(feedbacks, got, strict=True):
        want = fit(vecs, fb, settings)
        if want is None:
            assert model is None
            continue
        assert model is not None and model.learner == want.learner == "rocchio"
        assert model.liked == want.liked
        assert np.array_equal(model.tfidf_weights.indices, want.tfidf_weights.indices)
        assert np.allclose(model.tfidf_weights.data, want.tfidf_weights.data, rtol=1e-5)
        assert np.allclose(model.embedding_weights, want.embedding_weights, atol=1e-7)


def test_channels_for_the_svm_are_fitted_by_fit_itself(data) -> None:
    _, vecs = data
    settings = replace(SETTINGS, svm_min_labels=2)
    feedbacks = _feedbacks(list(vecs.keys), 12, seed=3)
    for fb, model in zip(feedbacks, fit_many(vecs, feedbacks, settings), strict=True):
        want = fit(vecs, fb, settings)
        assert (model is None) == (want is None)
        if model is not None and want is not None:
            assert model.learner == want.learner
            assert (model.tfidf_weights != want.tfidf_weights).nnz == 0


def test_a_channel_fitted_alone_gets_the_model_it_gets_among_many(data) -> None:
    """A typed ``/radar digest`` fits its channel alone, on the vectors of its own
    papers; the daily run fits thousands at once on the whole pool's, rows in
    another order. Bit for bit the same model, so both post the same order."""
    _, vecs = data
    feedbacks = _feedbacks(list(vecs.keys), 40, seed=5)
    together = fit_many(vecs, feedbacks, SETTINGS)
    shuffled = vecs.rows(np.random.default_rng(6).permutation(len(vecs)))
    for fb, model in list(zip(feedbacks, together, strict=True))[::4]:
        own = shuffled.take(dict.fromkeys(fb.liked + fb.disliked + fb.pool))
        [alone] = fit_many(own, [fb], SETTINGS)
        if model is None:
            assert alone is None
            continue
        assert alone is not None
        assert np.array_equal(alone.tfidf_weights.indices, model.tfidf_weights.indices)
        assert np.array_equal(alone.tfidf_weights.data, model.tfidf_weights.data)
        assert np.array_equal(alone.embedding_weights, model.embedding_weights)


def _same_model(a: ChannelModel | None, b: ChannelModel | None) -> bool:
    """Bit for bit the same model (or both None)."""
    if a is None or b is None:
        return a is b
    return (
        a.learner == b.learner
        and a.liked == b.liked
        and np.array_equal(a.tfidf_weights.indices, b.tfidf_weights.indices)
        and np.array_equal(a.tfidf_weights.data, b.tfidf_weights.data)
        and np.array_equal(a.embedding_weights, b.embedding_weights)
    )


def test_a_daily_run_hands_its_radars_as_rows_and_gets_the_same_models(data) -> None:
    """The daily run gives each channel's background as rows of the vectors it
    already has (its radar's papers, -1 for one without vectors) rather than
    keys: the very same models, also when the list repeats a paper, holds a
    liked or disliked one, or one without vectors."""
    _, vecs = data
    feedbacks = _feedbacks(list(vecs.keys), 40, seed=11)
    rng = np.random.default_rng(12)
    pools, given = [], []
    for fb in feedbacks:
        keys = list(fb.pool) + list(fb.liked[:1]) + list(fb.disliked) + list(fb.pool[:3])
        keys.insert(len(keys) // 2, "arxiv:not-represented")
        rng.shuffle(keys)
        pools.append(np.asarray([vecs.index.get(k, -1) for k in keys], dtype=np.int64))
        given.append(Feedback(fb.liked, fb.disliked, (), tuple(keys)))
    by_keys = fit_many(vecs, given, SETTINGS)
    by_rows = fit_many(vecs, [Feedback(f.liked, f.disliked) for f in given], SETTINGS, pools)
    assert sum(m is not None for m in by_rows) >= 30
    assert all(_same_model(a, b) for a, b in zip(by_keys, by_rows, strict=True))


@pytest.mark.parametrize("head", [1, 3])
def test_a_channels_weights_are_the_same_however_many_columns_come_first(
    data, monkeypatch: pytest.MonkeyPatch, head: int
) -> None:
    """The batched fit computes the first columns for every channel at once and
    the rest only for the channels that need them, in as many products as it
    takes: a smaller first part sends every channel down those later paths,
    and each still gets bit for bit the model it gets with the default."""
    _, vecs = data
    settings = replace(SETTINGS, max_terms=40)
    feedbacks = _feedbacks(list(vecs.keys), 40, seed=13)
    want = fit_many(vecs, feedbacks, settings)
    monkeypatch.setattr(scoring, "HEAD", head)
    monkeypatch.setattr(scoring, "FIT_BLOCK", 7)
    got = fit_many(vecs, feedbacks, settings)
    assert sum(m is not None for m in got) >= 30
    assert all(_same_model(a, b) for a, b in zip(want, got, strict=True))


def test_the_scorer_gives_a_models_own_scores_whatever_is_scored_with_them(data) -> None:
    """The model's scores (to float rounding), and for each paper the very same
    number whether it is scored among 300 papers or alone."""
    _, vecs = data
    rows = np.random.default_rng(9).choice(len(vecs), 300, replace=False)
    scorer = Scorer(vecs)
    for fb in _feedbacks(list(vecs.keys), 5, seed=8)[1:]:
        model = fit(vecs, fb, SETTINGS)
        assert model is not None
        scores = scorer(model, rows)
        assert np.allclose(scores, model.score(vecs.rows(rows)), rtol=1e-5, atol=1e-7)
        alone = Scorer(vecs.rows(rows[::7]))
        assert np.array_equal(alone(model, np.arange(len(rows[::7]))), scores[::7])
        assert np.array_equal(scorer(model, rows[5:6]), scores[5:6])  # one row alone


def test_channels_scored_in_one_batch_get_what_each_gets_alone(
    data, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daily run scores thousands of channels in blocks of one product; a
    typed digest scores one. Each channel's scores are the very same numbers
    either way, whoever shares its block."""
    _, vecs = data
    rng = np.random.default_rng(4)
    models = [fit(vecs, fb, SETTINGS) for fb in _feedbacks(list(vecs.keys), 9, seed=21)[1:]]
    models = [m for m in models if m is not None]
    assert len(models) >= 6
    rows = [rng.choice(len(vecs), int(rng.integers(1, 60)), replace=False) for _ in models]
    rows[2] = rows[2][:0]  # a channel with no paper to score
    scorer = Scorer(vecs)
    alone = [scorer(m, r) for m, r in zip(models, rows, strict=True)]
    monkeypatch.setattr(scoring, "SCORE_BYTES", 4 * 4 * len(vecs))  # blocks of 4 channels
    together = scorer.many(models, rows)
    assert all(np.array_equal(a, b) for a, b in zip(alone, together, strict=True))
    for model, got, at in zip(models, together, rows, strict=True):
        assert np.allclose(got, model.score(vecs.rows(at)), rtol=1e-5, atol=1e-7)
