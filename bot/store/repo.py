"""``Store``: the one narrow door between the bot and its database.

Every method is one unit of work (one transaction), takes and returns neutral
values (``bot.core`` dataclasses, keys, ints), and never leaks ORM objects, so
callers cannot trigger lazy loads or half-commits by accident.

Behind the door sit repositories of one concern each, sharing one engine:

- ``Channels`` (``channels.py``): channels, chips, schedules, cadence, pending choices;
- ``Runs`` (``runs.py``): digest runs, the outbox of posts, the seen ledger, cards;
- ``Harvests`` (``harvests.py``): storing and reading papers, completed harvest passes;
- ``ModelCache`` (``modelcache.py``): model results, budgets and quotas, full
  texts, thread turns.

``Store`` only forwards to them, so the rest of the bot keeps one object to
hold and one place to look for what the database can do.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from bot.core.channel import ChannelRef, ChannelState
from bot.core.chips import Chip
from bot.core.paper import Paper
from bot.store.channels import Channels
from bot.store.db import make_engine
from bot.store.harvests import Harvests
from bot.store.locks import Locks
from bot.store.modelcache import ModelCache
from bot.store.records import (
    CachedText,
    OutboxState,
    RunInfo,
    ScheduleRow,
    StoredText,
    Turn,
)
from bot.store.runs import Intent, RunClaim, Runs
from bot.store.unit import Units

__all__ = [
    "CachedText",
    "Locks",
    "OutboxState",
    "RunClaim",
    "RunInfo",
    "ScheduleRow",
    "Store",
    "StoredText",
    "Turn",
]


class Store:
    """The database, as the bot uses it (see the module docstring for who does what)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        units = Units(engine)
        self._channels = Channels(units)
        self._runs = Runs(units)
        self._harvests = Harvests(units)
        self._models = ModelCache(units)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(make_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    def locks(self) -> Locks:
        """Cross-process locks on this database (see ``Locks``); close them when done."""
        return Locks(self.engine)

    # -- channels and chips: ``Channels`` -----------------------------------------

    def channel(self, ref: ChannelRef, digest_cap: int = 10) -> ChannelState:
        return self._channels.channel(ref, digest_cap)

    def find_channel(self, ref: ChannelRef) -> ChannelState | None:
        return self._channels.find_channel(ref)

    def channel_by_id(self, channel_id: int) -> ChannelState:
        return self._channels.channel_by_id(channel_id)

    def channels(self) -> list[ChannelState]:
        return self._channels.channels()

    def channels_by_ids(self, channel_ids: Sequence[int]) -> dict[int, ChannelState]:
        return self._channels.channels_by_ids(channel_ids)

    def digest_caps(self, channel_ids: Sequence[int]) -> dict[int, int]:
        return self._channels.digest_caps(channel_ids)

    def radars(self) -> dict[int, list[Chip]]:
        return self._channels.radars()

    def followed_authors(self) -> list[str]:
        return self._channels.followed_authors()

    def add_chip(
        self,
        channel_id: int,
        chip: Chip,
        shown: Sequence[str] = (),
        when: datetime | None = None,
        via: str = "chip",
    ) -> bool:
        return self._channels.add_chip(channel_id, chip, shown, when, via)

    def remove_chips(self, channel_id: int, chip_ids: Collection[int]) -> None:
        """Remove the channel's chips ``chip_ids`` in one transaction (another
        channel's ids remove nothing)."""
        self._channels.remove_chips(channel_id, chip_ids)

    def clear_chips(self, channel_id: int) -> int:
        return self._channels.clear_chips(channel_id)

    def set_schedule(self, channel_id: int, time: str | None, tz: str | None) -> None:
        self._channels.set_schedule(channel_id, time, tz)

    def schedules(self, include_unset: bool = False) -> list[ScheduleRow]:
        return self._channels.schedules(include_unset)

    def set_brief_cadence(self, channel_id: int, cadence: str | None) -> None:
        self._channels.set_brief_cadence(channel_id, cadence)

    def set_digest_cap(self, channel_id: int, cap: int) -> None:
        self._channels.set_digest_cap(channel_id, cap)

    def set_last_shuffle(self, channel_id: int, keys: Sequence[str]) -> None:
        self._channels.set_last_shuffle(channel_id, keys)

    def pending(self, channel_id: int) -> dict[str, Any] | None:
        return self._channels.pending(channel_id)

    def set_pending(self, channel_id: int, choice: dict[str, Any] | None) -> None:
        self._channels.set_pending(channel_id, choice)

    # -- papers and harvests: ``Harvests`` -------------------------------------------

    def upsert_papers(self, papers: Iterable[Paper], seen_at: datetime) -> int:
        return self._harvests.upsert_papers(papers, seen_at)

    def record_harvest(
        self,
        source: str,
        scope: str,
        start: datetime,
        end: datetime,
        papers: Sequence[Paper],
        when: datetime,
    ) -> int:
        return self._harvests.record_harvest(source, scope, start, end, papers, when)

    def papers_since(self, since: datetime, until: datetime | None = None) -> list[Paper]:
        return self._harvests.papers_since(since, until)

    def papers_by_key(self, keys: Sequence[str]) -> dict[str, Paper]:
        return self._harvests.papers_by_key(keys)

    def paper_by_doi(self, doi: str) -> Paper | None:
        return self._harvests.paper_by_doi(doi)

    def paper_count(self) -> int:
        return self._harvests.paper_count()

    def papers_first_seen(self, since: datetime, until: datetime) -> int:
        return self._harvests.papers_first_seen(since, until)

    def harvested_since(self, source: str, scope: str, since: datetime) -> bool:
        return self._harvests.harvested_since(source, scope, since)

    def last_harvest_at(self, source: str, scope: str) -> datetime | None:
        return self._harvests.last_harvest_at(source, scope)

    def harvest_count(self) -> int:
        return self._harvests.harvest_count()

    # -- runs, outbox, seen ledger, cards: ``Runs`` ------------------------------------

    def seen_keys(self, channel_id: int, keys: Sequence[str]) -> set[str]:
        return self._runs.seen_keys(channel_id, keys)

    def seen_among(self, channel_ids: Sequence[int], keys: Sequence[str]) -> dict[int, set[str]]:
        return self._runs.seen_among(channel_ids, keys)

    def mark_seen(self, channel_id: int, keys: Sequence[str], when: datetime, via: str) -> None:
        self._runs.mark_seen(channel_id, keys, when, via)

    def claim_run(
        self,
        channel_id: int,
        run_key: str,
        trigger: str,
        planned: Sequence[str],
        more: int,
        when: datetime,
    ) -> RunInfo | None:
        return self._runs.claim_run(channel_id, run_key, trigger, planned, more, when)

    def claim_runs(self, claims: Sequence[RunClaim], when: datetime) -> list[RunInfo | None]:
        return self._runs.claim_runs(claims, when)

    def finish_run(self, run_id: int, when: datetime, status: str = "done") -> None:
        self._runs.finish_run(run_id, when, status)

    def last_run(self, channel_id: int) -> RunInfo | None:
        return self._runs.last_run(channel_id)

    def run(self, run_id: int) -> RunInfo:
        return self._runs.run(run_id)

    def unfinished_runs(self) -> list[RunInfo]:
        return self._runs.unfinished_runs()

    def runs_since(self, channel_id: int, since: datetime) -> list[RunInfo]:
        return self._runs.runs_since(channel_id, since)

    def claimed_runs(self, run_keys: Sequence[str]) -> set[tuple[int, str]]:
        return self._runs.claimed_runs(run_keys)

    def claim_auto_brief(self, channel_id: int, period: str, when: datetime) -> bool:
        return self._runs.claim_auto_brief(channel_id, period, when)

    def outbox(self, channel_id: int, marker: str) -> OutboxState | None:
        return self._runs.outbox(channel_id, marker)

    def outbox_states(self, channel_id: int, markers: Sequence[str]) -> dict[str, OutboxState]:
        return self._runs.outbox_states(channel_id, markers)

    def outbox_intend(
        self,
        channel_id: int,
        marker: str,
        when: datetime,
        run_id: int | None = None,
        paper_key: str | None = None,
        number: int | None = None,
    ) -> None:
        self._runs.outbox_intend(channel_id, marker, when, run_id, paper_key, number)

    def outbox_sent(self, channel_id: int, marker: str, message_ref: str, when: datetime) -> None:
        self._runs.outbox_sent(channel_id, marker, message_ref, when)

    def outbox_open(
        self,
        channel_id: int,
        when: datetime,
        intend: Sequence[Intent],
        *,
        run_id: int | None = None,
        known: bool = True,
    ) -> dict[str, OutboxState] | None:
        return self._runs.outbox_open(channel_id, when, intend, run_id=run_id, known=known)

    def outbox_step(
        self,
        channel_id: int,
        when: datetime,
        *,
        sent: Sequence[tuple[str, str]] = (),
        finish_run: int | None = None,
        withdraw: Sequence[str] = (),
    ) -> None:
        self._runs.outbox_step(
            channel_id, when, sent=sent, finish_run=finish_run, withdraw=withdraw
        )

    def record_card(
        self,
        channel_id: int,
        paper_key: str,
        number: int,
        message_ref: str,
        when: datetime,
    ) -> None:
        self._runs.record_card(channel_id, paper_key, number, message_ref, when)

    def paper_for_message(self, channel_id: int, message_ref: str) -> Paper | None:
        return self._runs.paper_for_message(channel_id, message_ref)

    def posted_card(
        self, channel_id: int, *, number: int | None = None, paper_key: str | None = None
    ) -> tuple[str, Paper] | None:
        return self._runs.posted_card(channel_id, number=number, paper_key=paper_key)

    # -- the language model's memory: ``ModelCache`` --------------------------------

    def llm_result(self, key: str) -> CachedText | None:
        return self._models.llm_result(key)

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
        self._models.save_llm_result(
            key, kind, model, prompt_version, text, prompt_tokens, completion_tokens, when
        )

    def llm_spent(self, workspace: str, day: str) -> int:
        return self._models.llm_spent(workspace, day)

    def reserve_llm(self, workspace: str, day: str, tokens: int, budget: int) -> tuple[bool, int]:
        return self._models.reserve_llm(workspace, day, tokens, budget)

    def settle_llm(self, workspace: str, day: str, reserved: int, used: int) -> int:
        return self._models.settle_llm(workspace, day, reserved, used)

    def release_llm(self, workspace: str, day: str, reserved: int) -> None:
        self._models.release_llm(workspace, day, reserved)

    def count_request(self, day: str, limits: Sequence[tuple[str, int]]) -> str | None:
        return self._models.count_request(day, limits)

    def full_text(self, paper_key: str) -> StoredText | None:
        return self._models.full_text(paper_key)

    def save_full_text(
        self, paper_key: str, status: str, source: str, url: str, text: str, when: datetime
    ) -> None:
        self._models.save_full_text(paper_key, status, source, url, text, when)

    def thread_turns(self, channel_id: int, thread_ref: str, limit: int = 8) -> list[Turn]:
        return self._models.thread_turns(channel_id, thread_ref, limit)

    def add_thread_turns(
        self,
        channel_id: int,
        thread_ref: str,
        paper_key: str,
        turns: Sequence[Turn],
        when: datetime,
    ) -> None:
        self._models.add_thread_turns(channel_id, thread_ref, paper_key, turns, when)
