"""Storing papers: one row per work, whatever source and order they arrive in.

Used inside ``Store`` units of work; every function takes the open session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    delete,
    select,
    update,
)
from sqlalchemy.orm import Session, make_transient_to_detached

from bot.core.dedupe import (
    arxiv_id_from_doi,
    merge_work,
    normalize_doi,
    paper_arxiv_id,
    title_keys,
    work_groups,
)
from bot.core.paper import Paper, sources_of
from bot.errors import StoreError
from bot.store import models as m
from bot.store.db import chunked, insert_for


def paper_ids(s: Session, keys: Sequence[str]) -> dict[str, int]:
    """key -> stored paper id, for every key that names a stored paper: its
    current key, or an alias (a merged version's key, a former key)."""
    out: dict[str, int] = {}
    unique = list(dict.fromkeys(keys))
    for chunk in chunked(unique):
        out.update(s.execute(select(m.Paper.key, m.Paper.id).where(m.Paper.key.in_(chunk))).all())
    missing = [k for k in unique if k not in out]
    for chunk in chunked(missing):
        q = select(m.PaperAlias.alias, m.PaperAlias.paper_id).where(m.PaperAlias.alias.in_(chunk))
        out.update(s.execute(q).all())
    return out


def doi_keys(doi: str) -> list[str]:
    """The names a stored work with DOI ``doi`` (any spelling) is found under,
    best first: the ``doi:`` alias every stored version's DOI gets (see
    ``_idents``), and for an arXiv DataCite DOI (``10.48550/arXiv.…``) the
    paper's own arXiv key. Empty when ``doi`` is not a DOI."""
    bare = normalize_doi(doi)
    if bare is None:
        return []
    keys = [f"doi:{bare}"]
    if (aid := arxiv_id_from_doi(bare)) is not None:
        keys.append(f"arxiv:{aid}")
    return keys


# -- storing papers: one row per work -------------------------------------------------
#
# A record either updates the row of its own key (the arXiv path: a newer
# version replaces an older one), or is merged with every stored row it is
# the same work as (bot.core.dedupe: arXiv id, DOI, folded title + first
# author), so a preprint, its OpenAlex records and the journal version are one
# row, whatever order they arrive in. The merged row keeps the arXiv key when
# any version has one; every other key and DOI becomes an alias of the row.
# Rows that a new record shows to be one work are folded into one, their
# ledgers (seen, posts, threads, full texts) moving with them.
#
# Concurrency: several commands may store the same paper at once (six new
# chips backfilling the same recent papers). A new row is written with
# ``INSERT … ON CONFLICT (key) DO NOTHING``; when another transaction stored
# that key since this one looked, its row is taken as a candidate and the
# record is merged into it, exactly as if it had been found at first. Aliases
# are written the same way. Two transactions storing *different* keys of one
# work at the same moment can still leave two rows; the next record of that
# work folds them (that is a duplicate card at worst, never a lost command).

ALIAS_CHARS = 300
TITLE_KEY_CHARS = 255


def _pure_arxiv(p: Paper) -> bool:
    """A record only arXiv has reported: the fast path, keyed and versioned by arXiv."""
    return p.source == "arxiv" and p.key.startswith("arxiv:") and sources_of(p) == {"arxiv"}


def _dois(p: Paper) -> list[str]:
    found = [normalize_doi(p.doi)]
    found += [normalize_doi(link) for link in p.links if "doi.org/" in link]
    return [d for d in dict.fromkeys(found) if d]


def _idents(p: Paper) -> set[str]:
    """Every name a version can be found under: key, arXiv id, DOIs, aliases."""
    out = {p.key, *p.extra.get("aliases", "").split()}
    if (aid := paper_arxiv_id(p)) is not None:
        out.add(f"arxiv:{aid}")
    out.update(f"doi:{doi}" for doi in _dois(p))
    return {i for i in out if len(i) <= ALIAS_CHARS}


def _title_lookups(p: Paper) -> set[str]:
    return {k[:TITLE_KEY_CHARS] for k in title_keys(p.title)}


def _title_key(p: Paper) -> str | None:
    """The one title key stored: the shortest (a ``Lead-in:``-less form when
    there is one), which every version's title keys include."""
    keys = title_keys(p.title)
    return min(keys, key=lambda k: (len(k), k))[:TITLE_KEY_CHARS] if keys else None


class _Batch:
    """What one chunk of records may meet in the store: candidate rows by
    key or alias and by title key, kept current as the chunk is written."""

    def __init__(self, s: Session, papers: Sequence[Paper]) -> None:
        self.s = s
        idents = sorted({i for p in papers for i in _idents(p)})
        titles = sorted({t for p in papers for t in _title_lookups(p)})
        self.by_ident: dict[str, m.Paper] = {}
        self.by_title: dict[str, list[m.Paper]] = {}
        for chunk in chunked(idents):
            for row in s.scalars(select(m.Paper).where(m.Paper.key.in_(chunk))):
                self.by_ident[row.key] = row
        alias_ids: dict[str, int] = {}
        for chunk in chunked(idents):
            q = select(m.PaperAlias.alias, m.PaperAlias.paper_id).where(
                m.PaperAlias.alias.in_(chunk)
            )
            alias_ids.update(s.execute(q).all())
        for chunk in chunked(titles):
            for row in s.scalars(select(m.Paper).where(m.Paper.title_key.in_(chunk))):
                self.by_title.setdefault(row.title_key or "", []).append(row)
        loaded = {row.id: row for row in self.by_ident.values()}
        loaded.update((row.id, row) for rows in self.by_title.values() for row in rows)
        more = sorted(set(alias_ids.values()) - set(loaded))
        for ids_chunk in chunked(more):
            q = select(m.Paper).where(m.Paper.id.in_(ids_chunk))
            loaded.update((row.id, row) for row in s.scalars(q))
        for alias, pid in alias_ids.items():
            if pid in loaded:
                self.by_ident.setdefault(alias, loaded[pid])
        self.gone: set[int] = set()  # id() of rows folded away in this chunk
        #: New rows of this chunk, not yet in the database (``insert_new``).
        self.new: list[m.Paper] = []
        #: New rows whose key a concurrent writer stored first (merged into theirs).
        self.lost = 0
        self.seen_at: datetime | None = None
        self.aliases: dict[str, m.Paper] = {}  # aliases to store when the chunk is done

    def candidates(self, p: Paper) -> list[m.Paper]:
        found: dict[int, m.Paper] = {}
        for ident in sorted(_idents(p)):
            row = self.by_ident.get(ident)
            if row is not None:
                found.setdefault(id(row), row)
        for title in sorted(_title_lookups(p)):
            for row in self.by_title.get(title, ()):
                found.setdefault(id(row), row)
        rows = [row for key, row in found.items() if key not in self.gone]
        # Stable, so merging never depends on the order rows were found in.
        return sorted(rows, key=lambda r: (r.id is None, r.id or 0, r.key))

    def register(self, row: m.Paper, p: Paper) -> None:
        """``row`` now holds ``p``: findable under its names (aliases are written
        by ``finish``, once per chunk)."""
        self.by_ident[p.key] = row
        for alias in sorted(_idents(p) - {p.key}):
            other = self.by_ident.get(alias)
            if other is None or other is row or id(other) in self.gone:
                self.by_ident[alias] = row
                self.aliases[alias] = row
        if row.title_key:
            bucket = self.by_title.setdefault(row.title_key, [])
            if all(r is not row for r in bucket):
                bucket.append(row)

    def finish(self) -> None:
        """Store the chunk's new rows and aliases; an alias already stored (for
        this row, or for another work that shares a DOI) is left as it is."""
        self.insert_new()
        wanted = {
            alias: row
            for alias, row in self.aliases.items()
            if id(row) not in self.gone and row.key != alias
        }
        if not wanted:
            return
        self.s.flush()
        names = sorted(wanted)
        taken: set[str] = set()
        for chunk in chunked(names):
            q = select(m.PaperAlias.alias).where(m.PaperAlias.alias.in_(chunk))
            taken.update(self.s.scalars(q))
        rows = [
            {"alias": alias, "paper_id": wanted[alias].id} for alias in names if alias not in taken
        ]
        if rows:
            # A concurrent writer may have stored one of them meanwhile: its row stands.
            stmt = insert_for(self.s, m.PaperAlias).on_conflict_do_nothing(index_elements=["alias"])
            self.s.execute(stmt, rows)
        self.aliases.clear()

    def adopt(self, row: m.Paper) -> None:
        """``row`` was stored by another transaction since this batch looked: make
        it a candidate for the records still to store."""
        self.by_ident[row.key] = row
        if row.title_key:
            bucket = self.by_title.setdefault(row.title_key, [])
            if all(r is not row for r in bucket):
                bucket.append(row)

    def insert_new(self) -> None:
        """Write the chunk's new rows: one multi-row ``INSERT … ON CONFLICT (key)
        DO NOTHING RETURNING``. A row whose key another transaction stored since
        this chunk looked is merged into that row instead, as if it had been
        found at first."""
        rows = [row for row in self.new if id(row) not in self.gone]
        self.new = []
        if not rows:
            return
        s = self.s
        table = m.Paper.__table__
        columns = [c.key for c in table.columns if c.key != "id"]
        stmt = (
            insert_for(s, table)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(table.c.id, table.c.key)
        )
        ids: dict[str, int] = {}
        for part in chunked(rows):
            params = [{c: getattr(row, c) for c in columns} for row in part]
            ids.update((key, pid) for pid, key in s.execute(stmt, params))
        lost: list[m.Paper] = []
        for row in rows:
            if row.key in ids:
                # Now a stored row: attach it as if it had been loaded.
                row.id = ids[row.key]
                make_transient_to_detached(row)
                s.add(row)
            else:
                lost.append(row)
        for row in lost:
            self.gone.add(id(row))
            theirs = s.scalars(select(m.Paper).where(m.Paper.key == row.key)).first()
            if theirs is None:  # stored and folded away again meanwhile
                raise PapersChanged("Papers changed while being stored; try again.")
            self.lost += 1
            self.adopt(theirs)
            assert self.seen_at is not None
            _store_one(self, to_paper(row), self.seen_at)
        if self.new:  # the merges above made no new rows; this is belt and braces
            self.insert_new()

    def fold(self, src: m.Paper, dst: m.Paper) -> None:
        """Move everything that points at ``src`` to ``dst``, then delete ``src``."""
        s = self.s
        self.insert_new()
        if id(src) in self.gone or id(dst) in self.gone:
            raise PapersChanged("Papers changed while being stored; try again.")
        s.flush()
        both = select(m.Seen.channel_id).where(m.Seen.paper_id == dst.id)
        s.execute(delete(m.Seen).where(m.Seen.paper_id == src.id, m.Seen.channel_id.in_(both)))
        s.execute(update(m.Seen).where(m.Seen.paper_id == src.id).values(paper_id=dst.id))
        if s.get(m.FullText, dst.id) is not None:
            s.execute(delete(m.FullText).where(m.FullText.paper_id == src.id))
        else:
            s.execute(
                update(m.FullText).where(m.FullText.paper_id == src.id).values(paper_id=dst.id)
            )
        fold_relevance(s, src.id, dst.id)
        for model in (m.Post, m.ThreadTurn, m.PaperAlias):
            s.execute(update(model).where(model.paper_id == src.id).values(paper_id=dst.id))
        dst.first_seen = min(dst.first_seen, src.first_seen)
        for ident, row in list(self.by_ident.items()):
            if row is src:
                self.by_ident[ident] = dst
        self.gone.add(id(src))
        s.delete(src)
        s.flush()


def upsert(s: Session, papers: Iterable[Paper], seen_at: datetime) -> int:
    """Store records; returns how many works were new (not merged into a stored one)."""
    arxiv: dict[str, Paper] = {}
    others: list[Paper] = []
    for paper in papers:
        if _pure_arxiv(paper):
            current = arxiv.get(paper.key)
            if current is None or paper.version > current.version:
                arxiv[paper.key] = paper
        else:
            others.append(paper)
    batch = list(arxiv.values())
    if others:
        batch = [merge_work(group) for group in _grouped(batch + others)]
    new = 0
    for chunk in chunked(batch):
        found = _Batch(s, chunk)
        found.seen_at = seen_at
        for paper in chunk:
            new += _store_one(found, paper, seen_at)
        found.finish()
        new -= found.lost
    return new


def _grouped(papers: Sequence[Paper]) -> list[list[Paper]]:
    return [[papers[i] for i in group] for group in work_groups(papers)]


def _store_one(found: _Batch, p: Paper, seen_at: datetime) -> int:
    """Store one (already batch-merged) record; 1 if it became a new row."""
    s = found.s
    rows = found.candidates(p)
    same = next((row for row in rows if row.key == p.key), None)
    if same is not None and _pure_arxiv(p):
        # arXiv's own record of a stored paper: an older or equal version
        # changes nothing; a newer one replaces a plain arXiv row, and is
        # merged into a row other sources contributed to.
        if p.version <= same.version:
            return 0
        if _pure_arxiv(to_paper(same)):
            _write(same, p)
            found.register(same, p)
            return 0
    stored_papers = [to_paper(row) for row in rows]
    versions = [*stored_papers, p]
    group = next(g for g in work_groups(versions) if len(versions) - 1 in g)
    members = [rows[i] for i in group if i < len(rows)]
    if not members:
        # Written with the rest of the chunk's new rows (``_Batch.insert_new``).
        row = m.Paper(**_columns(p), first_seen=seen_at)
        found.new.append(row)
        found.register(row, p)
        return 1
    merged = merge_work([versions[i] for i in group])
    target = next((r for r in members if r.key == merged.key), members[0])
    for other in members:
        if other is not target:
            found.fold(other, target)
    if target.key != merged.key:
        found.insert_new()
        s.flush()
    _write(target, merged)
    found.register(target, merged)
    return 0


class PapersChanged(StoreError):
    """Another transaction reshaped the very rows this one was merging (rare:
    a concurrent merge of the same work); ``Store`` retries the whole unit."""


def _columns(p: Paper) -> dict[str, Any]:
    """The row's columns for record ``p`` (everything but ``id`` and ``first_seen``)."""
    return {
        "key": p.key,
        "source": p.source,
        "version": p.version,
        "title": p.title,
        "abstract": p.abstract,
        "authors": list(p.authors),
        "categories": list(p.categories),
        "primary_category": p.primary_category[:128],
        "published": p.published,
        "updated": p.updated,
        "url": p.url,
        "pdf_url": p.pdf_url,
        "doi": p.doi,
        "journal_ref": p.journal_ref,
        "comment": p.comment,
        "venue": p.venue[:300] if p.venue else None,
        "links": list(p.links) or None,
        "extra": dict(p.extra) or None,
        "title_key": _title_key(p),
    }


def _write(row: m.Paper, p: Paper) -> None:
    for name, value in _columns(p).items():
        setattr(row, name, value)


def to_paper(row: m.Paper) -> Paper:
    return Paper(
        key=row.key,
        source=row.source,
        title=row.title,
        abstract=row.abstract,
        authors=tuple(row.authors or ()),
        categories=tuple(row.categories or ()),
        primary_category=row.primary_category,
        published=row.published,
        updated=row.updated,
        url=row.url,
        version=row.version,
        pdf_url=row.pdf_url,
        doi=row.doi,
        journal_ref=row.journal_ref,
        comment=row.comment,
        extra={str(k): str(v) for k, v in (row.extra or {}).items()},
        venue=row.venue,
        links=tuple(row.links or ()),
    )


def fold_relevance(s: Session, src_id: int, dst_id: int) -> None:
    """Move ``src``'s feedback to ``dst`` before ``src`` is deleted as a duplicate.

    A verdict ``dst`` already has from the same person is kept once. ``src``'s
    vectors are simply dropped with it (cascade): ``dst`` keeps its own, and
    its text hash tells the vectorizer whether the merged text needs new ones.
    """
    dup = _duplicates(s, src_id, dst_id)
    if dup:
        s.execute(delete(m.Feedback).where(m.Feedback.id.in_(dup)))
    s.execute(update(m.Feedback).where(m.Feedback.paper_id == src_id).values(paper_id=dst_id))


def _duplicates(s: Session, src_id: int, dst_id: int) -> list[int]:
    """Ids of ``src``'s feedback rows that ``dst`` has already (same channel, person, kind)."""
    theirs = {
        (c, u, k)
        for c, u, k in s.execute(
            select(m.Feedback.channel_id, m.Feedback.user_id, m.Feedback.kind).where(
                m.Feedback.paper_id == dst_id
            )
        )
    }
    q = select(m.Feedback.id, m.Feedback.channel_id, m.Feedback.user_id, m.Feedback.kind)
    return [
        i for i, c, u, k in s.execute(q.where(m.Feedback.paper_id == src_id)) if (c, u, k) in theirs
    ]
