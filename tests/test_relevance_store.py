"""Relevance storage and harvest-time vectors, on SQLite and on a real PostgreSQL.

What a channel would notice if this were wrong: a like counted twice because
someone clicked twice, a removed 👍 still pulling papers up, one channel's
likes re-ordering another channel's digest, a forget that also empties the
reading list, vectors that come back different from what was stored (a
different order tomorrow for the same likes), every harvest paying to embed
the same papers again, or a changed embedding model silently mixing spaces.

Papers come from the real arXiv capture, harvested through the production
``ArxivSource`` against a local replay server; vectors from the bundled,
offline WordLlama model (no network, about a second to load).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from functools import cache

import numpy as np
import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from bot.core.channel import ChannelRef
from bot.core.paper import Paper
from bot.digest.harvest import Harvester
from bot.digest.vectorize import Vectorizer, text_hash, vectorize_missing
from bot.errors import NotFoundError
from bot.relevance import OpenAIEmbedder, Representer, WordLlamaEmbedder, fit
from bot.settings import ArxivSettings, HarvestSettings, RelevanceSettings
from bot.sources.arxiv import ArxivSource
from bot.sources.http import Throttle
from bot.sources.replay import AtomPager, ReplayServer
from bot.store import db
from bot.store import models as m
from bot.store.papers import fold_relevance
from bot.store.relevance import RelevanceStore
from bot.store.repo import Store
from bot.store.unit import Units
from tests.fakellm import FakeLLM, Status
from tests.flowkit import CAPTURE, NOW

SETTINGS = RelevanceSettings()


class Counting:
    """The real WordLlama embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: WordLlamaEmbedder) -> None:
        self.inner, self.model_id, self.dim = inner, inner.model_id, inner.dim
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed(texts)


@cache
def wordllama(center: bool = True) -> WordLlamaEmbedder:
    return WordLlamaEmbedder(center=center)


@cache
def capture_papers() -> tuple[Paper, ...]:
    """The 20 real papers of the capture, as the production source parses them."""
    with ReplayServer(default=AtomPager(CAPTURE)) as server:
        source = ArxivSource(arxiv_settings(server.url), throttle=Throttle(0.0))
        papers = source.harvest(NOW - timedelta(days=4), NOW)
    assert len(papers) == 20
    return tuple(papers)


def arxiv_settings(url: str) -> ArxivSettings:
    """The production arXiv settings pointed at the local replay server, no waits."""
    return replace(
        ArxivSettings(), api_url=f"{url}/api/query", delay_seconds=0.0, backoff_seconds=0.0
    )


@pytest.fixture
def rel(store: Store) -> RelevanceStore:
    return RelevanceStore(store.engine)


@pytest.fixture
def papers(store: Store) -> list[Paper]:
    found = list(capture_papers())
    store.upsert_papers(found, NOW)
    return found


def channel(store: Store, name: str) -> int:
    return store.channel(ChannelRef("slack", "T1", name, name)).id


# -- vectors -------------------------------------------------------------------------------


def test_vectors_come_back_exactly_as_stored(
    store: Store, rel: RelevanceStore, papers: list[Paper], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "CHUNK", 21)  # 3 rows a statement: the chunks meet
    rep = Representer(wordllama())
    vecs = rep.papers(papers)
    assert rel.save_vectors(vecs) == 20
    assert rel.save_vectors(vecs) == 20  # again: replaced in place, no duplicate rows

    keys = [p.key for p in reversed(papers)] + ["arxiv:0000.00000"]
    back = rel.vectors_for(keys, rep.tfidf_id, rep.model_id)
    assert back.keys == tuple(keys[:-1])  # asked order; an unknown key is absent
    want = vecs.take(back.keys)
    assert (back.tfidf != want.tfidf).nnz == 0
    assert back.tfidf.shape == want.tfidf.shape
    np.testing.assert_array_equal(back.embedding, want.embedding)
    # Another space finds nothing: vectors of two models are never mixed.
    assert len(rel.vectors_for(keys, rep.tfidf_id, "other-model")) == 0
    with store.engine.connect() as conn:
        assert len(conn.execute(select(m.PaperVector.paper_id)).all()) == 20


def test_vectors_of_papers_not_stored_are_not_kept(store: Store, rel: RelevanceStore) -> None:
    stray = capture_papers()[0]
    rep = Representer(wordllama())
    assert rel.save_vectors(rep.papers([stray])) == 0
    assert rel.missing_vectors([stray.key], rep.tfidf_id, rep.model_id) == []


# -- feedback ------------------------------------------------------------------------------


def test_the_same_person_clicking_twice_counts_once(
    store: Store, rel: RelevanceStore, papers: list[Paper]
) -> None:
    lab = channel(store, "lab")
    a, b = papers[0].key, papers[1].key
    assert rel.add_feedback(lab, a, "U1", "like", "button") is True
    assert rel.add_feedback(lab, a, "U1", "like", "reaction") is False  # 👍 after the button
    assert rel.add_feedback(lab, a, "U2", "like", "button") is True
    assert rel.add_feedback(lab, a, "U3", "save", "button") is True  # a save is a like too
    assert rel.add_feedback(lab, b, "U1", "dislike", "button") is True
    got = rel.feedback(lab)
    assert got.liked == (a,) and got.disliked == (b,)
    assert got.liked_by == {a: 3} and got.disliked_by == {b: 1}
    assert got.as_feedback().liked == (a,)


def test_concurrent_clicks_of_one_person_count_once(
    db_url: str, store: Store, papers: list[Paper]
) -> None:
    lab = channel(store, "lab")
    stores = [Store.from_url(db_url) for _ in range(4)]
    results: list[bool] = []
    start = threading.Barrier(len(stores))

    def click(s: Store) -> None:
        start.wait()
        results.append(
            RelevanceStore(s.engine).add_feedback(lab, papers[0].key, "U1", "like", "button")
        )

    threads = [threading.Thread(target=click, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert sorted(results) == [False, False, False, True]
    assert RelevanceStore(store.engine).feedback(lab).liked_by == {papers[0].key: 1}


def test_removing_a_reaction_takes_it_back(
    store: Store, rel: RelevanceStore, papers: list[Paper]
) -> None:
    lab = channel(store, "lab")
    key = papers[0].key
    rel.add_feedback(lab, key, "U1", "like", "reaction")
    rel.add_feedback(lab, key, "U2", "like", "reaction")
    assert rel.remove_feedback(lab, key, "U1", "like") is True
    assert rel.remove_feedback(lab, key, "U1", "like") is False  # already gone
    assert rel.feedback(lab).liked_by == {key: 1}
    assert rel.remove_feedback(lab, key, "U2", "like") is True
    assert not rel.feedback(lab).has_signal


def test_one_channels_feedback_is_invisible_to_another(
    store: Store, rel: RelevanceStore, papers: list[Paper]
) -> None:
    lab, other = channel(store, "lab"), channel(store, "other")
    rel.add_feedback(lab, papers[0].key, "U1", "like", "button")
    rel.add_feedback(lab, papers[1].key, "U1", "save", "button")
    rel.add_feedback(other, papers[2].key, "U1", "dislike", "button")
    assert rel.feedback(lab).liked == (papers[0].key, papers[1].key)
    assert rel.feedback(lab).disliked == ()
    assert rel.feedback(other).liked == () and rel.feedback(other).disliked == (papers[2].key,)
    assert rel.saved(other) == []
    rel.forget(other)
    assert rel.feedback(lab).liked == (papers[0].key, papers[1].key)


def test_forget_clears_what_was_learned_and_keeps_the_reading_list(
    store: Store, rel: RelevanceStore, papers: list[Paper]
) -> None:
    lab = channel(store, "lab")
    a, b, c = (p.key for p in papers[:3])
    rel.add_feedback(lab, a, "U1", "like", "button")
    rel.add_feedback(lab, b, "U1", "dislike", "reaction")
    rel.add_feedback(lab, c, "U1", "save", "button")
    rel.add_feedback(lab, c, "U2", "save", "button")
    assert rel.forget(lab) == 4
    assert not rel.feedback(lab).has_signal  # today's order again
    saved = rel.saved(lab)
    assert [(s.key, s.savers) for s in saved] == [(c, 2)]
    # Saving it again is news: it counts again (and only that person's save).
    assert rel.add_feedback(lab, c, "U1", "save", "command") is True
    assert rel.add_feedback(lab, c, "U1", "save", "command") is False
    assert rel.feedback(lab).liked_by == {c: 1}


def test_feedback_on_a_paper_not_stored_says_so_and_stores_nothing(
    store: Store, rel: RelevanceStore, papers: list[Paper]
) -> None:
    lab = channel(store, "lab")
    with pytest.raises(NotFoundError, match=r"arxiv:0000\.00000"):
        rel.add_feedback(lab, "arxiv:0000.00000", "U1", "like", "command")
    assert rel.remove_feedback(lab, "arxiv:0000.00000", "U1", "like") is False
    assert not rel.feedback(lab).has_signal
    with pytest.raises(ValueError, match="kind"):
        rel.add_feedback(lab, papers[0].key, "U1", "love", "button")


def test_stored_feedback_and_vectors_rank_a_channels_papers(
    store: Store, rel: RelevanceStore, papers: list[Paper]
) -> None:
    """The whole path the ranking will take: feedback and vectors from the store."""
    lab = channel(store, "lab")
    rep = Representer(wordllama())
    rel.save_vectors(rep.papers(papers))
    liked = papers[0]
    rel.add_feedback(lab, liked.key, "U1", "like", "button")
    keys = [p.key for p in papers]
    vecs = rel.vectors_for(keys, rep.tfidf_id, rep.model_id)
    model = fit(vecs, rel.feedback(lab).as_feedback(pool=keys), SETTINGS)
    assert model is not None
    scores = model.score(vecs)
    assert keys[int(np.argmax(scores))] == liked.key


def test_folding_duplicates_keeps_each_persons_verdict_once(
    store: Store, rel: RelevanceStore, papers: list[Paper]
) -> None:
    lab = channel(store, "lab")
    a, b = papers[0].key, papers[1].key
    rel.add_feedback(lab, a, "U1", "like", "button")
    rel.add_feedback(lab, b, "U1", "like", "button")
    rel.add_feedback(lab, b, "U2", "save", "button")
    units = Units(store.engine)
    with units.session() as s:
        ids = dict(s.execute(select(m.Paper.key, m.Paper.id).where(m.Paper.key.in_([a, b]))).all())
        fold_relevance(s, ids[b], ids[a])
        s.execute(m.Paper.__table__.delete().where(m.Paper.id == ids[b]))
    assert rel.feedback(lab).liked_by == {a: 2}


# -- harvest-time representation ---------------------------------------------------------------


def harvester(store: Store, server: ReplayServer, vectorizer: Vectorizer | None) -> Harvester:
    return Harvester(
        store,
        ArxivSource(arxiv_settings(server.url), throttle=Throttle(0.0)),
        FixedClock(NOW),
        HarvestSettings(),
        vectorizer=vectorizer,
    )


def test_a_harvest_represents_its_papers_once(store: Store, rel: RelevanceStore) -> None:
    counting = Counting(wordllama())
    rep = Representer(counting)
    with ReplayServer(default=AtomPager(CAPTURE)) as server:
        harvest = harvester(store, server, Vectorizer(rel, rep))
        assert harvest.run(force=True).fetched == 20
        assert counting.texts == 20
        keys = [p.key for p in store.papers_since(NOW - timedelta(days=30))]
        assert len(rel.vectors_for(keys, rep.tfidf_id, rep.model_id)) == 20
        harvest.run(force=True)  # the same papers again (the look-back overlap)
    assert counting.texts == 20
    assert vectorize_missing(store, rel, rep, NOW - timedelta(days=30)) == 0


def test_a_model_change_rebuilds_the_stored_vectors(
    store: Store, rel: RelevanceStore, papers: list[Paper]
) -> None:
    since = NOW - timedelta(days=30)
    old = Representer(wordllama(center=True))
    assert vectorize_missing(store, rel, old, since) == 20
    new = Representer(wordllama(center=False))  # another embedding space
    keys = [p.key for p in papers]
    assert len(rel.vectors_for(keys, new.tfidf_id, new.model_id)) == 0
    assert rel.missing_vectors(keys, new.tfidf_id, new.model_id) == keys
    assert vectorize_missing(store, rel, new, since) == 20
    assert len(rel.vectors_for(keys, new.tfidf_id, new.model_id)) == 20
    assert len(rel.vectors_for(keys, old.tfidf_id, old.model_id)) == 0  # replaced, not kept
    assert vectorize_missing(store, rel, new, since) == 0


def test_a_new_version_with_another_abstract_is_represented_again(
    store: Store, rel: RelevanceStore, papers: list[Paper]
) -> None:
    rep = Representer(wordllama())
    vectorizer = Vectorizer(rel, rep)
    assert vectorizer.papers(papers) == 20
    first = papers[0]
    v2 = replace(
        first,
        version=first.version + 1,
        updated=first.updated + timedelta(days=2),
        abstract="We withdraw the previous claims and study protein folding instead.",
    )
    store.upsert_papers([v2], NOW + timedelta(days=2))
    assert text_hash(v2) != text_hash(first)
    assert vectorizer.stored(store, [p.key for p in papers]) == 1
    stored = rel.vectors_for([first.key], rep.tfidf_id, rep.model_id)
    np.testing.assert_array_equal(stored.embedding, rep.papers([v2]).embedding)


def test_an_embeddings_server_that_is_down_never_fails_the_harvest(
    store: Store, rel: RelevanceStore
) -> None:
    with FakeLLM() as llm, ReplayServer(default=AtomPager(CAPTURE)) as server:
        settings = replace(
            SETTINGS,
            embedder="openai",
            embedding_base_url=llm.url,
            embedding_model="m",
            embedding_max_retries=0,
            embedding_timeout_seconds=2.0,
        )
        rep = Representer(OpenAIEmbedder(settings))
        llm.push(Status(503))
        result = harvester(store, server, Vectorizer(rel, rep)).run(force=True)
        assert result.fetched == 20 and store.paper_count() == 20  # papers stored anyway
        keys = [p.key for p in store.papers_since(NOW - timedelta(days=30))]
        assert len(rel.vectors_for(keys, rep.tfidf_id, rep.model_id)) == 0
        # The next catch-up, with the server back, represents them.
        assert vectorize_missing(store, rel, rep, NOW - timedelta(days=30)) == 20
    assert len(rel.vectors_for(keys, rep.tfidf_id, rep.model_id)) == 20
