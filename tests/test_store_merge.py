"""One work, one row: cross-source merging at store time, on SQLite and PostgreSQL.

The versions are real: OpenAlex's two ChemCrow records (the Nature Machine
Intelligence article and the arXiv preprint, ``tests/fixtures/openalex``)
converted by ``paper_from_work``, and arXiv's own record of the preprint
written out by hand from arXiv's abstract page for 2304.05376 (arXiv's
record is not among the captures). Whatever order they arrive in, the store
keeps one row keyed ``arxiv:2304.05376``, every other key an alias, and the
never-repeat ledger follows the work, not a key.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.core.channel import ChannelRef
from bot.core.paper import Paper, sources_of
from bot.sources.openalex import paper_from_work
from bot.store.repo import Store, Turn
from tests.test_openalex import WORKS_CHEMCROW, WORKS_JOSEPH

NOW = datetime(2024, 5, 20, 12, 0, tzinfo=UTC)
JOURNAL_KEY = "openalex:W4396723768"
ARXIV_KEY = "arxiv:2304.05376"


def works(path: object) -> dict[str, Paper]:
    data = json.loads(path.read_text("utf-8"))  # type: ignore[attr-defined]
    papers = [paper_from_work(w) for w in data["results"]]
    return {p.extra["openalex"]: p for p in papers if p is not None}


JOURNAL = works(WORKS_CHEMCROW)["W4396723768"]  # Nature Machine Intelligence
PREPRINT = works(WORKS_CHEMCROW)["W4365597205"]  # OpenAlex's record of the arXiv preprint
#: arXiv's own record (v5, as arXiv lists it).
ARXIV = Paper(
    key=ARXIV_KEY,
    source="arxiv",
    title="ChemCrow: Augmenting large-language models with chemistry tools",
    abstract="Over the last decades, excellent computational chemistry tools have been developed.",
    authors=(
        "Andres M Bran",
        "Sam Cox",
        "Oliver Schilter",
        "Carlo Baldassari",
        "Andrew D White",
        "Philippe Schwaller",
    ),
    categories=("physics.chem-ph", "cs.AI", "stat.ML"),
    primary_category="physics.chem-ph",
    published=datetime(2023, 4, 11, 17, 41, 13, tzinfo=UTC),
    updated=datetime(2023, 10, 2, 16, 29, 7, tzinfo=UTC),
    url="https://arxiv.org/abs/2304.05376v5",
    version=5,
    pdf_url="https://arxiv.org/pdf/2304.05376v5",
)


def lab(channel: str = "C1") -> ChannelRef:
    return ChannelRef("slack", "T1", channel, "lab")


def rows(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def all_papers(store: Store) -> list[Paper]:
    return store.papers_since(datetime(2000, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "order",
    [(JOURNAL, PREPRINT, ARXIV), (ARXIV, JOURNAL, PREPRINT), (PREPRINT, ARXIV, JOURNAL)],
    ids=["journal-first", "arxiv-first", "preprint-first"],
)
def test_three_versions_in_any_order_are_one_row(store: Store, order: tuple[Paper, ...]) -> None:
    new = sum(store.upsert_papers([p], NOW) for p in order)
    assert new == 1
    (paper,) = all_papers(store)
    assert paper.key == ARXIV_KEY and paper.source == "arxiv"
    assert paper.venue == "Nature Machine Intelligence"
    assert paper.doi == "10.1038/s42256-024-00832-8"
    assert paper.url == "https://doi.org/10.1038/s42256-024-00832-8"
    assert "https://arxiv.org/abs/2304.05376v5" in paper.links
    assert paper.categories[0] == "physics.chem-ph"  # arXiv's categories first
    assert paper.published == ARXIV.published  # arXiv's first-version date
    assert paper.version == 5
    assert sources_of(paper) == {"arxiv", "openalex"}
    assert paper.extra["aliases"] == JOURNAL_KEY
    assert paper.journal_ref is not None and "525" in paper.journal_ref
    # Every key the work was ever stored under finds it.
    found = store.papers_by_key([ARXIV_KEY, JOURNAL_KEY, "openalex:missing"])
    assert set(found) == {ARXIV_KEY, JOURNAL_KEY}
    assert found[JOURNAL_KEY].key == ARXIV_KEY


def test_a_journal_row_seen_under_its_own_key_stays_seen_once_rekeyed(store: Store) -> None:
    store.upsert_papers([JOURNAL], NOW)
    cid = store.channel(lab()).id
    store.mark_seen(cid, [JOURNAL_KEY], NOW, via="digest")
    run = store.claim_run(cid, "k1", "manual", [JOURNAL_KEY], 0, NOW)
    assert run is not None

    assert store.upsert_papers([ARXIV], NOW + timedelta(days=1)) == 0
    (paper,) = all_papers(store)
    assert paper.key == ARXIV_KEY
    # The never-repeat ledger: the work is seen, under either key.
    assert store.seen_keys(cid, [ARXIV_KEY]) == {ARXIV_KEY}
    assert store.seen_keys(cid, [JOURNAL_KEY]) == {JOURNAL_KEY}
    assert store.seen_among([cid], [ARXIV_KEY]) == {cid: {ARXIV_KEY}}
    # A run planned before the merge still finds its paper and can post it.
    assert store.papers_by_key(list(run.planned))[JOURNAL_KEY].key == ARXIV_KEY
    store.outbox_intend(cid, "r1:card", NOW, run.id, JOURNAL_KEY, 1)
    store.outbox_sent(cid, "r1:card", "ts1", NOW)
    assert store.paper_for_message(cid, "ts1") == paper
    assert rows(store, "seen") == 1


def test_two_stored_rows_shown_to_be_one_work_are_folded_with_their_ledgers(
    store: Store,
) -> None:
    # arXiv's record under a title the journal does not share, and the journal
    # article: nothing links them yet, so they are two rows.
    renamed = replace(ARXIV, title="ChemCrow: an agent for chemistry with fifteen expert tools")
    store.upsert_papers([renamed, JOURNAL], NOW)
    assert len(all_papers(store)) == 2
    one, two = store.channel(lab("C1")).id, store.channel(lab("C2")).id
    store.mark_seen(one, [ARXIV_KEY, JOURNAL_KEY], NOW, via="digest")
    store.mark_seen(two, [JOURNAL_KEY], NOW, via="chip")
    store.record_card(two, JOURNAL_KEY, 1, "ts-journal", NOW)
    store.add_thread_turns(two, "ts-journal", JOURNAL_KEY, [Turn("user", "Which tools?")], NOW)
    store.save_full_text(JOURNAL_KEY, "missing", "", "", "", NOW)

    # OpenAlex's preprint record has the arXiv id of one and the title of the other.
    assert store.upsert_papers([PREPRINT], NOW) == 0
    (paper,) = all_papers(store)
    assert paper.key == ARXIV_KEY and paper.venue == "Nature Machine Intelligence"
    assert rows(store, "papers") == 1
    assert store.seen_keys(one, [ARXIV_KEY]) == {ARXIV_KEY}
    assert store.seen_keys(two, [ARXIV_KEY]) == {ARXIV_KEY}
    assert rows(store, "seen") == 2  # channel one's two marks became one
    # The journal card's thread is still about this paper.
    assert store.paper_for_message(two, "ts-journal") == paper
    assert store.thread_turns(two, "ts-journal") == [Turn("user", "Which tools?")]
    assert store.full_text(JOURNAL_KEY) is not None


def test_storing_the_same_versions_again_changes_nothing(store: Store) -> None:
    store.upsert_papers([JOURNAL, PREPRINT, ARXIV], NOW)
    before = all_papers(store)
    aliases = rows(store, "paper_aliases")
    assert store.upsert_papers([PREPRINT, JOURNAL], NOW + timedelta(days=1)) == 0
    assert store.upsert_papers([ARXIV], NOW + timedelta(days=1)) == 0
    after = all_papers(store)
    assert after == before and after[0].extra == before[0].extra
    assert rows(store, "paper_aliases") == aliases


def test_a_new_arxiv_version_of_a_merged_paper_keeps_the_journal(store: Store) -> None:
    v4 = replace(ARXIV, version=4, url="https://arxiv.org/abs/2304.05376v4", updated=NOW)
    store.upsert_papers([JOURNAL, v4], NOW)
    store.upsert_papers([ARXIV], NOW)  # v5
    (paper,) = all_papers(store)
    assert paper.version == 5 and paper.venue == "Nature Machine Intelligence"
    assert store.upsert_papers([v4], NOW) == 0  # an older version changes nothing
    assert all_papers(store)[0].version == 5


def test_different_arxiv_papers_are_never_merged_by_title(store: Store) -> None:
    twin = replace(ARXIV, key="arxiv:2304.09999", url="https://arxiv.org/abs/2304.09999v1")
    assert store.upsert_papers([ARXIV], NOW) == 1
    assert store.upsert_papers([twin], NOW) == 1
    assert {p.key for p in all_papers(store)} == {ARXIV_KEY, "arxiv:2304.09999"}


def test_openalex_fields_round_trip(store: Store) -> None:
    papers = list(works(WORKS_JOSEPH).values())
    store.upsert_papers(papers, NOW)
    stored = {p.key: p for p in all_papers(store)}
    cgvc = stored["arxiv:2108.04680"]  # the preprint and its CGVC version: one row
    assert len(stored) == 8
    assert cgvc.url == "https://doi.org/10.2312/cgvc.20211309"
    assert "https://arxiv.org/abs/2108.04680" in cgvc.links
    assert cgvc.primary_category == "Computer Vision and Pattern Recognition"  # > 32 chars
    for p in papers:
        if p.key in stored and p.key != "arxiv:2108.04680":
            assert stored[p.key] == p
            assert stored[p.key].extra == p.extra
            assert stored[p.key].venue == p.venue and stored[p.key].links == p.links
