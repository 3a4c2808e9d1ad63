"""What the language-model features keep: cached results, daily budgets and
quotas, fetched full texts, and the turns of card threads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.store.db import insert_for
from bot.store.papers import paper_ids
from bot.store.records import CachedText, StoredText, Turn
from bot.store.unit import Units


class ModelCache:
    """The model's results cache, its token and request tallies, full texts and threads."""

    def __init__(self, units: Units) -> None:
        self._units = units

    # -- results cache --------------------------------------------------------------

    def llm_result(self, key: str) -> CachedText | None:
        with self._units.session() as s:
            row = s.scalars(select(m.LlmResult).where(m.LlmResult.key == key)).first()
            if row is None:
                return None
            return CachedText(row.text, row.model, row.prompt_tokens, row.completion_tokens)

    def save_llm_result(
        self,
        key: str,
        kind: str,
        model: str,
        prompt_version: str,
        text: str,
        prompt_tokens: int,
        completion_tokens: int,
        when: datetime,
    ) -> None:
        """Cache a result; a concurrent writer of the same key wins quietly (same content)."""
        with self._units.session() as s:
            s.execute(
                insert_for(s, m.LlmResult)
                .values(
                    key=key,
                    kind=kind,
                    model=model[:200],
                    prompt_version=prompt_version,
                    text=text,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    created_at=when,
                )
                .on_conflict_do_nothing(index_elements=["key"])
            )

    # -- budgets and quotas -----------------------------------------------------------
    #
    # The daily tallies (``models.LlmUsage``) change only through single
    # conditional UPDATEs, never read-modify-write: the database serialises
    # them (a row lock on PostgreSQL, the one writer on SQLite), so threads and
    # processes sharing a budget cannot all see room and all spend it.

    def llm_spent(self, workspace: str, day: str) -> int:
        """Tokens ``workspace`` has spent (or reserved) on ``day`` (YYYY-MM-DD, UTC)."""
        with self._units.session() as s:
            row = s.get(m.LlmUsage, (workspace, day))
            return 0 if row is None else row.tokens

    def reserve_llm(self, workspace: str, day: str, tokens: int, budget: int) -> tuple[bool, int]:
        """Reserve ``tokens`` of the day's ``budget`` (0: unlimited) before a call.

        Returns (reserved, tally): the new tally when the reservation fits,
        else False and the tally as it stands (nothing changed). Settle it
        with ``settle_llm`` after the call, or give it back with
        ``release_llm`` when the call fails.
        """
        with self._units.session() as s:
            _usage_row(s, workspace, day)
            q = update(m.LlmUsage).where(m.LlmUsage.workspace == workspace, m.LlmUsage.day == day)
            if budget > 0:
                q = q.where(m.LlmUsage.tokens + tokens <= budget)
            total = s.scalar(
                q.values(tokens=m.LlmUsage.tokens + tokens)
                .returning(m.LlmUsage.tokens)
                .execution_options(synchronize_session=False)
            )
            if total is not None:
                return True, int(total)
            spent = s.scalar(
                select(m.LlmUsage.tokens).where(
                    m.LlmUsage.workspace == workspace, m.LlmUsage.day == day
                )
            )
            return False, int(spent or 0)

    def settle_llm(self, workspace: str, day: str, reserved: int, used: int) -> int:
        """Replace a reservation with the tokens the call really used, and count
        the call; returns the day's new tally."""
        with self._units.session() as s:
            _usage_row(s, workspace, day)
            total = s.scalar(
                update(m.LlmUsage)
                .where(m.LlmUsage.workspace == workspace, m.LlmUsage.day == day)
                .values(tokens=m.LlmUsage.tokens - reserved + used, calls=m.LlmUsage.calls + 1)
                .returning(m.LlmUsage.tokens)
                .execution_options(synchronize_session=False)
            )
            return int(total or 0)

    def release_llm(self, workspace: str, day: str, reserved: int) -> None:
        """Give back a reservation whose call failed (nothing was spent)."""
        with self._units.session() as s:
            s.execute(
                update(m.LlmUsage)
                .where(m.LlmUsage.workspace == workspace, m.LlmUsage.day == day)
                .values(
                    tokens=case(
                        (m.LlmUsage.tokens > reserved, m.LlmUsage.tokens - reserved), else_=0
                    )
                )
                .execution_options(synchronize_session=False)
            )

    def count_request(self, day: str, limits: Sequence[tuple[str, int]]) -> str | None:
        """Count one request against each ``(tally, cap)`` of ``day``, all or none.

        Returns None when every tally was below its cap (each is now one
        higher), else the first tally that is full (then none changed). A cap
        of 0 means no limit. The tallies share ``llm_usage`` with the token
        budgets under their own names (``quota:…``), counted in ``calls``.
        """
        try:
            with self._units.session() as s:
                for name, cap in limits:
                    _usage_row(s, name, day)
                    q = update(m.LlmUsage).where(
                        m.LlmUsage.workspace == name, m.LlmUsage.day == day
                    )
                    if cap > 0:
                        q = q.where(m.LlmUsage.calls < cap)
                    counted = s.scalar(
                        q.values(calls=m.LlmUsage.calls + 1)
                        .returning(m.LlmUsage.calls)
                        .execution_options(synchronize_session=False)
                    )
                    if counted is None:
                        raise _Full(name)
        except _Full as full:
            return full.name
        return None

    # -- full texts -------------------------------------------------------------------

    def full_text(self, paper_key: str) -> StoredText | None:
        with self._units.session() as s:
            paper_id = paper_ids(s, [paper_key]).get(paper_key)
            row = None if paper_id is None else s.get(m.FullText, paper_id)
            if row is None:
                return None
            return StoredText(row.status, row.source, row.url, row.text, row.fetched_at)

    def save_full_text(
        self, paper_key: str, status: str, source: str, url: str, text: str, when: datetime
    ) -> None:
        """Store (or replace) a paper's full text; a paper not stored is ignored."""
        with self._units.session() as s:
            paper_id = paper_ids(s, [paper_key]).get(paper_key)
            if paper_id is None:
                return
            values = {
                "status": status,
                "source": source,
                "url": url[:500],
                "text": text,
                "fetched_at": when,
            }
            # Two questions about one paper may fetch it at once: the later text wins.
            stmt = insert_for(s, m.FullText).values(paper_id=paper_id, **values)
            s.execute(stmt.on_conflict_do_update(index_elements=["paper_id"], set_=values))

    # -- card threads -----------------------------------------------------------------

    def thread_turns(self, channel_id: int, thread_ref: str, limit: int = 8) -> list[Turn]:
        """The last ``limit`` turns of a card's thread, oldest first."""
        with self._units.session() as s:
            rows = s.scalars(
                select(m.ThreadTurn)
                .where(m.ThreadTurn.channel_id == channel_id, m.ThreadTurn.thread_ref == thread_ref)
                .order_by(m.ThreadTurn.id.desc())
                .limit(limit)
            ).all()
            return [Turn(row.role, row.text) for row in reversed(rows)]

    def add_thread_turns(
        self,
        channel_id: int,
        thread_ref: str,
        paper_key: str,
        turns: Sequence[Turn],
        when: datetime,
    ) -> None:
        with self._units.session() as s:
            paper_id = paper_ids(s, [paper_key]).get(paper_key)
            if paper_id is None:
                return
            for turn in turns:
                s.add(
                    m.ThreadTurn(
                        channel_id=channel_id,
                        thread_ref=thread_ref[:128],
                        paper_id=paper_id,
                        role=turn.role,
                        text=turn.text,
                        created_at=when,
                    )
                )


def _usage_row(s: Session, name: str, day: str) -> None:
    """Make sure the day's tally ``name`` exists (at zero), whoever creates it first."""
    s.execute(
        insert_for(s, m.LlmUsage)
        .values(workspace=name, day=day, tokens=0, calls=0)
        .on_conflict_do_nothing(index_elements=["workspace", "day"])
    )


class _Full(Exception):
    """A daily tally is at its cap: roll the whole count back."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name
