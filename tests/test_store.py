"""The store, on SQLite and on a real PostgreSQL: every test runs on both backends.

What a team would notice if the store were wrong: a radar leaking into another
workspace's channel with the same id, a chip added twice, a paper shown twice
because its v2 became a "new" paper, a digest posted twice by two workers,
half a harvest stored, times shifted by a time zone, or a stack trace instead
of "run `paper-radar db upgrade`".
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.core.channel import ChannelRef
from bot.core.chips import Chip, ChipKind
from bot.core.paper import Paper
from bot.errors import StoreError
from bot.store import migrate
from bot.store.repo import Store

NOW = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)
PUBLISHED = datetime(2026, 4, 29, 17, 59, 58, tzinfo=UTC)


def paper(n: int = 1, version: int = 1, **changes: object) -> Paper:
    base = Paper(
        key=f"arxiv:2604.{26900 + n}",
        source="arxiv",
        title=f"Paper {n} v{version}",
        abstract=f"Abstract of paper {n}, version {version}.",
        authors=("Gongbo Zhang", "Wen Wang", "Ye Tian", "Li Yuan"),
        categories=("cs.CL", "cs.AI", "cs.LG"),
        primary_category="cs.CL",
        published=PUBLISHED,
        updated=PUBLISHED + timedelta(days=version - 1),
        url=f"https://arxiv.org/abs/2604.{26900 + n}v{version}",
        version=version,
        pdf_url=f"https://arxiv.org/pdf/2604.{26900 + n}v{version}",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def lab(workspace: str = "T1", channel: str = "C1", name: str = "lab") -> ChannelRef:
    return ChannelRef("slack", workspace, channel, name)


def count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


# -- channels ------------------------------------------------------------------


def test_same_channel_id_in_two_workspaces_is_two_radars(store: Store) -> None:
    a = store.channel(lab("T1", "C1"))
    b = store.channel(lab("T2", "C1"))
    discord = store.channel(ChannelRef("discord", "T1", "C1", "lab"))
    assert len({a.id, b.id, discord.id}) == 3

    store.add_chip(a.id, Chip(ChipKind.AUTHOR, "Yehui Tang"))
    assert store.channel(lab("T1", "C1")).chip_list == [Chip(ChipKind.AUTHOR, "Yehui Tang")]
    assert store.channel(lab("T2", "C1")).chips == ()
    assert store.channel(ChannelRef("discord", "T1", "C1")).chips == ()
    assert set(store.radars()) == {a.id}


def test_channel_is_idempotent_and_keeps_its_radar(store: Store) -> None:
    first = store.channel(lab())
    store.add_chip(first.id, Chip(ChipKind.CATEGORY, "cs.CL"))
    again = store.channel(lab())
    assert again.id == first.id
    assert again.chip_list == [Chip(ChipKind.CATEGORY, "cs.CL")]
    assert count(store, "channels") == 1
    assert store.find_channel(lab()) == again
    assert store.find_channel(lab(channel="C-unknown")) is None
    assert count(store, "channels") == 1  # find_channel creates nothing


def test_channel_name_updates_but_a_nameless_ref_keeps_it(store: Store) -> None:
    state = store.channel(lab(name="lab"))
    assert state.ref.name == "lab"
    renamed = store.channel(lab(name="lab-2026"))
    assert (renamed.id, renamed.ref.name) == (state.id, "lab-2026")
    assert store.channel_by_id(state.id).ref.name == "lab-2026"
    # An event that carries no name (e.g. a button click) must not blank it.
    assert store.channel(lab(name="")).ref.name == "lab-2026"


# -- chips ---------------------------------------------------------------------


def test_chips_keep_order_and_duplicates_change_nothing(store: Store) -> None:
    cid = store.channel(lab()).id
    chips = [
        Chip(ChipKind.KEYWORD, '"large language model" agents'),
        Chip(ChipKind.AUTHOR, "Yehui Tang"),
        Chip(ChipKind.CATEGORY, "cs.CL"),
        Chip(ChipKind.EXCLUDE, "survey"),
    ]
    assert [store.add_chip(cid, chip) for chip in chips] == [True] * 4
    before = store.channel(lab()).chips
    assert store.add_chip(cid, Chip(ChipKind.AUTHOR, "Yehui Tang")) is False
    after = store.channel(lab()).chips
    assert after == before  # same ids, same order
    assert [chip for _, chip in after] == chips
    assert count(store, "chips") == 4
    # The same text as another kind is another chip.
    assert store.add_chip(cid, Chip(ChipKind.KEYWORD, "Yehui Tang")) is True
    assert store.radars()[cid][-1] == Chip(ChipKind.KEYWORD, "Yehui Tang")


def test_an_identity_chip_keeps_its_names_and_evidence(store: Store) -> None:
    cid = store.channel(lab()).id
    joseph = Chip(
        ChipKind.AUTHOR,
        "Joseph Mearman",
        "openalex:A5017898742",
        ("J. W. Mearman",),
        ("cat:cs.HC", "co:roberts", "co:ritsos"),
    )
    bare = Chip(ChipKind.AUTHOR, "Yehui Tang", "openalex:A1", ())
    assert store.add_chip(cid, joseph) and store.add_chip(cid, bare)
    assert store.radars()[cid] == [joseph, bare]
    assert store.channel(lab()).chip_list == [joseph, bare]


def test_remove_chip_only_touches_its_own_channel(store: Store) -> None:
    mine = store.channel(lab("T1", "C1")).id
    theirs = store.channel(lab("T2", "C1")).id
    store.add_chip(mine, Chip(ChipKind.AUTHOR, "Yehui Tang"))
    store.add_chip(mine, Chip(ChipKind.CATEGORY, "cs.CL"))
    store.add_chip(theirs, Chip(ChipKind.AUTHOR, "Yehui Tang"))
    ((their_chip_id, _),) = store.channel(lab("T2", "C1")).chips

    store.remove_chips(mine, [their_chip_id])  # another channel's chip id: nothing happens
    assert len(store.channel(lab("T2", "C1")).chips) == 1
    assert len(store.channel(lab("T1", "C1")).chips) == 2

    first_id, _ = store.channel(lab("T1", "C1")).chips[0]
    store.remove_chips(mine, [first_id])
    assert store.channel(lab("T1", "C1")).chip_list == [Chip(ChipKind.CATEGORY, "cs.CL")]
    assert store.channel(lab("T2", "C1")).chip_list == [Chip(ChipKind.AUTHOR, "Yehui Tang")]


def test_clear_chips_empties_one_radar(store: Store) -> None:
    mine = store.channel(lab("T1")).id
    theirs = store.channel(lab("T2")).id
    for value in ("a", "b", "c"):
        store.add_chip(mine, Chip(ChipKind.KEYWORD, value))
    store.add_chip(theirs, Chip(ChipKind.KEYWORD, "a"))
    assert store.clear_chips(mine) == 3
    assert store.channel(lab("T1")).chips == ()
    assert store.clear_chips(mine) == 0
    assert store.channel(lab("T2")).chip_list == [Chip(ChipKind.KEYWORD, "a")]
    # A cleared radar can be rebuilt with the same chips.
    assert store.add_chip(mine, Chip(ChipKind.KEYWORD, "a")) is True


def test_deleting_a_channel_cascades_to_its_rows(store: Store) -> None:
    """Foreign keys are enforced on both backends (SQLite needs a pragma for it)."""
    cid = store.channel(lab()).id
    store.add_chip(cid, Chip(ChipKind.CATEGORY, "cs.CL"))
    store.upsert_papers([paper(1)], NOW)
    store.mark_seen(cid, [paper(1).key], NOW, via="digest")
    assert store.claim_run(cid, "k", "manual", [paper(1).key], 0, NOW) is not None
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM channels WHERE id = :id"), {"id": cid})
    for table in ("chips", "seen", "digest_runs"):
        assert count(store, table) == 0, table
    assert count(store, "papers") == 1


# -- papers --------------------------------------------------------------------


def test_upsert_keeps_one_row_per_paper_and_a_newer_version_replaces(store: Store) -> None:
    assert store.upsert_papers([paper(1), paper(2)], NOW) == 2
    v2 = paper(1, version=2, title="Turning the TIDE (v2)", abstract="Revised abstract.")
    assert store.upsert_papers([v2], NOW) == 0
    assert store.paper_count() == 2
    got = store.papers_by_key([v2.key])[v2.key]
    assert (got.version, got.title, got.abstract) == (
        2,
        "Turning the TIDE (v2)",
        "Revised abstract.",
    )
    assert got.updated == v2.updated
    assert got == v2


def test_an_older_or_equal_version_met_later_changes_nothing(store: Store) -> None:
    v3 = paper(1, version=3, title="Final title")
    store.upsert_papers([v3], NOW)
    assert store.upsert_papers([paper(1, version=1, title="First title")], NOW) == 0
    assert store.upsert_papers([paper(1, version=3, title="Same version, other text")], NOW) == 0
    assert store.papers_by_key([v3.key])[v3.key] == v3


def test_two_versions_in_one_batch_store_the_newest(store: Store) -> None:
    assert store.upsert_papers([paper(1, version=2), paper(1, version=1)], NOW) == 1
    assert store.papers_by_key([paper(1).key])[paper(1).key].version == 2
    assert store.paper_count() == 1


def test_every_field_round_trips(store: Store) -> None:
    full = paper(
        7,
        authors=("Zoë Ångström", "Jörg Frochte", "Yehui Tang", "A. N. Other"),
        categories=("stat.ML", "cs.LG", "cs.CL"),  # order matters: not sorted
        primary_category="stat.ML",
        doi="10.1103/PhysRevD.76.013009",
        journal_ref="Phys. Rev. D 76, 013009 (2007)",
        comment="12 pages, 3 figures",
    )
    bare = paper(8, pdf_url=None, doi=None, journal_ref=None, comment=None, authors=())
    store.upsert_papers([full, bare], NOW)
    got = store.papers_by_key([full.key, bare.key])
    assert got[full.key] == full
    assert got[full.key].authors == full.authors
    assert got[full.key].categories == full.categories
    assert got[bare.key] == bare
    assert got[bare.key].doi is None and got[bare.key].journal_ref is None


def test_datetimes_come_back_aware_utc_on_every_backend(store: Store) -> None:
    shanghai = timezone(timedelta(hours=8))
    local = datetime(2026, 4, 30, 1, 59, 58, 123456, tzinfo=shanghai)  # = PUBLISHED + µs
    store.upsert_papers([paper(1, published=local, updated=local)], NOW)
    got = store.papers_by_key([paper(1).key])[paper(1).key]
    for value in (got.published, got.updated):
        assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
        assert value == local
        assert value.hour == 17  # the UTC wall time, not Shanghai's
    assert got.published.microsecond == 123456

    cid = store.channel(lab()).id
    run = store.claim_run(cid, "schedule-2026-04-30", "schedule", [], 0, local)
    assert run is not None
    store.finish_run(run.id, NOW)
    last = store.last_run(cid)
    assert last is not None
    assert last.started_at == local and last.started_at.tzinfo is not None
    assert last.finished_at == NOW and last.finished_at.utcoffset() == timedelta(0)
    assert store.channel(lab()).last_digest_at == NOW


def test_papers_since_is_a_utc_window(store: Store) -> None:
    store.upsert_papers([paper(i, published=NOW - timedelta(days=i)) for i in range(1, 5)], NOW)
    keys = [p.key for p in store.papers_since(NOW - timedelta(days=3))]
    assert keys == [paper(1).key, paper(2).key, paper(3).key]  # newest first, bound included
    until = [
        p.key for p in store.papers_since(NOW - timedelta(days=3), until=NOW - timedelta(days=1))
    ]
    assert until == [paper(2).key, paper(3).key]  # until excluded
    # The same instant in another zone selects the same papers.
    plus8 = (NOW - timedelta(days=3)).astimezone(timezone(timedelta(hours=8)))
    assert [p.key for p in store.papers_since(plus8)] == keys


def test_unicode_and_long_text_round_trip(store: Store) -> None:
    title = "Ünïcødé ✓ 大语言模型的推理 — مرحبا · नमस्ते · e\u0301 · 🧪 $\\textit{x}$"
    abstract = ("Long abstract with ünïcode 模型 🧪. " * 400)[:10_000]
    assert len(abstract) == 10_000
    p = paper(3, title=title, abstract=abstract, authors=("张伟", "José Núñez", "Łukasz Ó"))
    store.upsert_papers([p], NOW)
    got = store.papers_by_key([p.key])[p.key]
    assert got.title == title
    assert got.abstract == abstract
    assert got.authors == ("张伟", "José Núñez", "Łukasz Ó")


def test_papers_by_key_handles_more_keys_than_one_query_chunk(store: Store) -> None:
    papers = [paper(i) for i in range(1, 1201)]
    assert store.upsert_papers(papers, NOW) == 1200
    got = store.papers_by_key([p.key for p in papers] + ["arxiv:missing"])
    assert len(got) == 1200 and "arxiv:missing" not in got


def test_every_long_in_list_reads_the_same_across_chunks(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each read that cuts its ``IN (...)`` list into chunks answers exactly as
    one query would: nothing dropped or doubled at a chunk's edge."""
    papers = [paper(i) for i in range(1, 8)]
    store.upsert_papers(papers, NOW)
    keys = [p.key for p in papers]
    ids = [store.channel(lab(channel=f"C{i}")).id for i in range(5)]
    store.set_digest_cap(ids[3], 4)
    store.add_chip(ids[1], Chip(ChipKind.KEYWORD, "agents"))
    store.mark_seen(ids[0], keys[:5], NOW, via="digest")
    store.mark_seen(ids[2], keys[4:], NOW, via="chip")
    for n, key in enumerate(keys[:5], 1):
        store.claim_run(ids[n - 1], f"run-{n}", "schedule", [], 0, NOW)
        store.outbox_intend(ids[0], f"m{n}", NOW, paper_key=key, number=n)

    def answers() -> tuple[object, ...]:
        wanted = [*keys, "arxiv:missing"]
        return (
            store.papers_by_key(wanted),
            store.seen_keys(ids[0], wanted),
            store.seen_among(ids, wanted),
            store.digest_caps(ids),
            store.channels_by_ids(ids),
            store.claimed_runs([f"run-{n}" for n in range(1, 7)]),
            store.outbox_states(ids[0], [f"m{n}" for n in range(1, 7)]),
        )

    whole = answers()
    assert whole[1] == set(keys[:5]) and whole[2] == {ids[0]: set(keys[:5]), ids[2]: set(keys[4:])}
    assert whole[3][ids[3]] == 4 and len(whole[4]) == 5 and len(whole[5]) == 5
    assert sorted(whole[6]) == [f"m{n}" for n in range(1, 6)]
    monkeypatch.setattr("bot.store.db.CHUNK", 2)
    assert answers() == whole


# -- the never-repeat ledger ---------------------------------------------------


def test_mark_seen_is_idempotent_and_per_channel(store: Store) -> None:
    store.upsert_papers([paper(1), paper(2), paper(3)], NOW)
    mine = store.channel(lab("T1")).id
    theirs = store.channel(lab("T2")).id
    keys = [paper(1).key, paper(2).key]
    store.mark_seen(mine, keys, NOW, via="digest")
    store.mark_seen(mine, [*keys, paper(1).key], NOW + timedelta(hours=1), via="shuffle")
    store.mark_seen(mine, ["arxiv:not-stored"], NOW, via="digest")  # unknown keys: ignored
    assert count(store, "seen") == 2
    all_keys = [paper(1).key, paper(2).key, paper(3).key, "arxiv:not-stored"]
    assert store.seen_keys(mine, all_keys) == set(keys)
    assert store.seen_keys(theirs, all_keys) == set()
    store.mark_seen(theirs, [paper(3).key], NOW, via="chip")
    assert store.seen_keys(theirs, all_keys) == {paper(3).key}
    assert store.seen_keys(mine, all_keys) == set(keys)


def test_a_new_version_of_a_seen_paper_stays_seen(store: Store) -> None:
    store.upsert_papers([paper(1)], NOW)
    cid = store.channel(lab()).id
    store.mark_seen(cid, [paper(1).key], NOW, via="digest")
    store.upsert_papers([paper(1, version=2, title="Revised")], NOW + timedelta(days=1))
    assert store.seen_keys(cid, [paper(1).key]) == {paper(1).key}


# -- digest runs ---------------------------------------------------------------


def test_claim_run_is_exactly_once_per_channel_and_key(store: Store) -> None:
    a = store.channel(lab("T1")).id
    b = store.channel(lab("T2")).id
    planned = [paper(1).key, paper(2).key]
    run = store.claim_run(a, "schedule-2026-04-30", "schedule", planned, 3, NOW)
    assert run is not None
    assert (run.channel_id, run.run_key, run.trigger, run.status) == (
        a,
        "schedule-2026-04-30",
        "schedule",
        "claimed",
    )
    assert (run.planned, run.more, run.started_at) == (tuple(planned), 3, NOW)

    assert store.claim_run(a, "schedule-2026-04-30", "manual", [], 0, NOW) is None
    # A refused claim leaves the store usable (its transaction was rolled back).
    store.finish_run(run.id, NOW + timedelta(minutes=1))
    last = store.last_run(a)
    assert last is not None
    assert (last.id, last.status, last.finished_at) == (run.id, "done", NOW + timedelta(minutes=1))

    assert store.claim_run(b, "schedule-2026-04-30", "schedule", [], 0, NOW) is not None
    tomorrow = NOW + timedelta(days=1)
    assert store.claim_run(a, "schedule-2026-05-01", "schedule", [], 0, tomorrow) is not None
    assert count(store, "digest_runs") == 3
    assert store.claim_run(b, "schedule-2026-04-30", "schedule", [], 0, tomorrow) is None


def test_concurrent_workers_claim_a_run_exactly_once(db_url: str, store: Store) -> None:
    """Several bot processes against one database: each is its own engine."""
    cid = store.channel(lab()).id
    workers = [Store.from_url(db_url) for _ in range(6)]
    barrier = threading.Barrier(len(workers))
    results: list[object] = []
    errors: list[BaseException] = []

    def claim(worker: Store) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(worker.claim_run(cid, "schedule-2026-04-30", "schedule", [], 0, NOW))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for w in workers:
        w.close()
    assert errors == []
    assert sum(r is not None for r in results) == 1
    assert len(results) == len(workers)
    assert count(store, "digest_runs") == 1


# -- harvests ------------------------------------------------------------------


def test_record_harvest_stores_papers_and_the_pass(store: Store) -> None:
    start, end = NOW - timedelta(hours=72), NOW
    assert store.record_harvest("arxiv", "", start, end, [paper(1), paper(2)], NOW) == 2
    assert store.paper_count() == 2
    assert store.harvest_count() == 1
    assert store.harvested_since("arxiv", "", NOW - timedelta(minutes=60))
    assert not store.harvested_since("arxiv", "cs.CL", NOW - timedelta(minutes=60))
    assert not store.harvested_since("arxiv", "", NOW + timedelta(seconds=1))
    # Meeting the same papers again stores no duplicates.
    assert store.record_harvest("arxiv", "", start, end, [paper(1), paper(2)], NOW) == 0
    assert store.paper_count() == 2


def test_record_harvest_with_a_bad_paper_stores_nothing(store: Store) -> None:
    naive = datetime(2026, 4, 29, 17, 0)  # no time zone: the store refuses it
    batch = [paper(1), paper(2, published=naive), paper(3)]
    with pytest.raises(Exception, match="naive datetime"):
        store.record_harvest("arxiv", "", NOW - timedelta(hours=72), NOW, batch, NOW)
    assert store.paper_count() == 0
    assert store.harvest_count() == 0
    assert not store.harvested_since("arxiv", "", NOW - timedelta(days=1))


def test_record_harvest_is_one_transaction(store: Store) -> None:
    """Good papers, but the harvest row itself fails: the papers must not stay
    either (else the window would be re-fetched while half stored, or worse,
    marked done while its papers are missing)."""
    store.upsert_papers([paper(1)], NOW)
    batch = [paper(1, version=2, title="Revised"), paper(2), paper(3)]
    naive_start = datetime(2026, 4, 27, 18, 0)
    with pytest.raises(Exception, match="naive datetime"):
        store.record_harvest("arxiv", "", naive_start, NOW, batch, NOW)
    assert store.paper_count() == 1
    assert store.papers_by_key([paper(1).key])[paper(1).key] == paper(1)  # v1 untouched
    assert store.harvest_count() == 0
    # And the store still works afterwards.
    assert store.record_harvest("arxiv", "", NOW - timedelta(hours=72), NOW, batch, NOW) == 2


# -- backend settings and errors ----------------------------------------------


def test_sqlite_runs_in_wal_with_busy_timeout_and_foreign_keys(sqlite_url: str) -> None:
    migrate.upgrade(sqlite_url)
    store = Store.from_url(sqlite_url)
    try:
        with store.engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
            timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
            fks = conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
        assert str(mode).lower() == "wal"
        assert int(timeout) >= 1000
        assert int(fks) == 1
        store.channel(lab())
        db_file = sqlite_url.removeprefix("sqlite:///")
        assert Path(db_file + "-wal").exists()
    finally:
        store.close()


def test_sqlite_rejects_a_chip_of_a_missing_channel(sqlite_url: str) -> None:
    migrate.upgrade(sqlite_url)
    store = Store.from_url(sqlite_url)
    try:
        with pytest.raises(sa.exc.IntegrityError):
            store.add_chip(999, Chip(ChipKind.CATEGORY, "cs.CL"))
        assert count(store, "chips") == 0
    finally:
        store.close()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.channel(lab()), id="channel"),
        pytest.param(lambda s: s.channels(), id="channels"),
        pytest.param(lambda s: s.paper_count(), id="paper_count"),
        pytest.param(lambda s: s.upsert_papers([paper(1)], NOW), id="upsert_papers"),
        pytest.param(lambda s: s.papers_since(NOW), id="papers_since"),
        pytest.param(lambda s: s.claim_run(1, "k", "manual", [], 0, NOW), id="claim_run"),
    ],
)
def test_a_database_without_tables_says_to_upgrade(db_url: str, call) -> None:  # type: ignore[no-untyped-def]
    store = Store.from_url(db_url)
    try:
        with pytest.raises(StoreError, match=r"run `paper-radar db upgrade`"):
            call(store)
    finally:
        store.close()
