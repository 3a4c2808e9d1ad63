"""Channels: their radars (chips), schedules, briefing cadence and pending choices."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session, selectinload

from bot.core.channel import ChannelRef, ChannelState
from bot.core.chips import WATCH_KINDS, Chip, ChipKind
from bot.errors import NotFoundError
from bot.store import models as m
from bot.store.db import chunked, insert_for
from bot.store.records import ScheduleRow
from bot.store.runs import mark_seen
from bot.store.unit import Units


class Channels:
    """The channels table and its chips: who watches what, and when."""

    def __init__(self, units: Units) -> None:
        self._units = units

    def channel(self, ref: ChannelRef, digest_cap: int = 10) -> ChannelState:
        """The channel's state, creating an empty radar (with ``digest_cap``) on first contact."""
        with self._units.session() as s:
            row = _find_channel(s, ref)
            if row is None:
                # Another worker may create it between our select and insert:
                # then its row stands, and is the one we return.
                s.execute(
                    insert_for(s, m.Channel)
                    .values(
                        platform=ref.platform,
                        workspace=ref.workspace,
                        channel=ref.channel,
                        name=ref.name,
                        digest_cap=digest_cap,
                    )
                    .on_conflict_do_nothing(index_elements=["platform", "workspace", "channel"])
                )
                row = _find_channel(s, ref)
                assert row is not None
            elif ref.name and row.name != ref.name:
                row.name = ref.name
            return _state(s, row)

    def find_channel(self, ref: ChannelRef) -> ChannelState | None:
        with self._units.session() as s:
            row = _find_channel(s, ref)
            return None if row is None else _state(s, row)

    def channel_by_id(self, channel_id: int) -> ChannelState:
        with self._units.session() as s:
            row = s.get(m.Channel, channel_id, options=[selectinload(m.Channel.chips)])
            if row is None:
                raise NotFoundError(f"No channel with id {channel_id}.")
            return _state(s, row)

    def channels(self) -> list[ChannelState]:
        with self._units.session() as s:
            rows = s.scalars(select(m.Channel).options(selectinload(m.Channel.chips))).all()
            return [_state(s, row, last_digest=False) for row in rows]

    def channels_by_ids(self, channel_ids: Sequence[int]) -> dict[int, ChannelState]:
        """Many channels' states in a few queries (without ``last_digest_at``)."""
        out: dict[int, ChannelState] = {}
        with self._units.session() as s:
            for chunk in chunked(list(channel_ids)):
                q = (
                    select(m.Channel)
                    .options(selectinload(m.Channel.chips))
                    .where(m.Channel.id.in_(chunk))
                )
                out.update((row.id, _state(s, row, last_digest=False)) for row in s.scalars(q))
        return out

    def digest_caps(self, channel_ids: Sequence[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        with self._units.session() as s:
            for chunk in chunked(channel_ids):
                q = select(m.Channel.id, m.Channel.digest_cap).where(m.Channel.id.in_(chunk))
                out.update((cid, cap) for cid, cap in s.execute(q))
        return out

    # -- chips ----------------------------------------------------------------

    def radars(self) -> dict[int, list[Chip]]:
        """Every channel's chips, for matching all radars in one indexed pass."""
        with self._units.session() as s:
            out: dict[int, list[Chip]] = {}
            for channel_id, kind, value, ref, names, evidence in s.execute(
                select(
                    m.Chip.channel_id,
                    m.Chip.kind,
                    m.Chip.value,
                    m.Chip.ref,
                    m.Chip.names,
                    m.Chip.evidence,
                ).order_by(m.Chip.id)
            ):
                out.setdefault(channel_id, []).append(_chip(kind, value, ref, names, evidence))
            return out

    def followed_authors(self) -> list[str]:
        """The distinct OpenAlex author ids any channel's chips follow, sorted
        (what the daily harvest asks OpenAlex about: one entry per person,
        however many channels follow them)."""
        with self._units.session() as s:
            refs = s.scalars(
                select(m.Chip.ref)
                .where(m.Chip.kind == ChipKind.AUTHOR.value, m.Chip.ref.like("openalex:%"))
                .distinct()
            )
            return sorted({ref.split(":", 1)[1] for ref in refs if ref and ref.split(":", 1)[1]})

    def add_chip(
        self,
        channel_id: int,
        chip: Chip,
        shown: Sequence[str] = (),
        when: datetime | None = None,
        via: str = "chip",
    ) -> bool:
        """Add ``chip``, and mark the papers ``shown`` with it as seen (at ``when``),
        in one transaction; False when the channel already has the chip (then
        nothing changes, the marks included).

        One transaction for both, so a reply that shows cards under a new chip
        never leaves the chip without its cards' marks, or the marks without
        the chip. The insert is ``ON CONFLICT DO NOTHING``: the same chip typed
        twice at once is added once, and the other command hears it exists.
        """
        with self._units.session() as s:
            added = s.scalar(
                insert_for(s, m.Chip)
                .values(
                    channel_id=channel_id,
                    kind=chip.kind.value,
                    value=chip.value,
                    ref=chip.ref,
                    names=list(chip.names) if chip.names else None,
                    evidence=list(chip.evidence) if chip.evidence else None,
                )
                .on_conflict_do_nothing(index_elements=["channel_id", "kind", "value"])
                .returning(m.Chip.id)
            )
            if added is None:
                return False
            if shown:
                mark_seen(s, channel_id, shown, when or m.utcnow(), via)
            return True

    def remove_chips(self, channel_id: int, chip_ids: Collection[int]) -> None:
        with self._units.session() as s:
            s.execute(
                delete(m.Chip).where(m.Chip.id.in_(chip_ids), m.Chip.channel_id == channel_id)
            )

    def clear_chips(self, channel_id: int) -> int:
        with self._units.session() as s:
            result = s.execute(delete(m.Chip).where(m.Chip.channel_id == channel_id))
            return int(getattr(result, "rowcount", 0) or 0)

    # -- settings: schedule, cadence, cap, last shuffle, pending choice -----------

    def set_schedule(self, channel_id: int, time: str | None, tz: str | None) -> None:
        with self._units.session() as s:
            row = s.get_one(m.Channel, channel_id)
            row.schedule_time, row.schedule_tz = time, tz

    def schedules(self, include_unset: bool = False) -> list[ScheduleRow]:
        """Every channel with a daily digest time, in one query: the scheduler's job set.

        ``include_unset`` adds channels that never set a schedule (time and
        zone both empty) but watch something, for ``schedule.default_time``;
        ``/radar schedule off`` keeps the zone, so a channel that opted out
        stays out.
        """
        with self._units.session() as s:
            cond = m.Channel.schedule_time.is_not(None)
            if include_unset:
                # A like chip watches too (its similar papers join the radar), so a
                # radar of like chips alone gets the default schedule as well.
                kinds = [k.value for k in (*WATCH_KINDS, ChipKind.LIKE)]
                watching = select(m.Chip.channel_id).where(m.Chip.kind.in_(kinds))
                cond = or_(
                    cond,
                    and_(
                        m.Channel.schedule_time.is_(None),
                        m.Channel.schedule_tz.is_(None),
                        m.Channel.id.in_(watching),
                    ),
                )
            q = select(
                m.Channel.id,
                m.Channel.platform,
                m.Channel.workspace,
                m.Channel.channel,
                m.Channel.name,
                m.Channel.schedule_time,
                m.Channel.schedule_tz,
            ).where(cond)
            return [
                ScheduleRow(cid, ChannelRef(platform, ws, ch, name or ""), time, tz)
                for cid, platform, ws, ch, name, time, tz in s.execute(q.order_by(m.Channel.id))
            ]

    def set_brief_cadence(self, channel_id: int, cadence: str | None) -> None:
        with self._units.session() as s:
            s.get_one(m.Channel, channel_id).brief_cadence = cadence

    def set_digest_cap(self, channel_id: int, cap: int) -> None:
        with self._units.session() as s:
            s.get_one(m.Channel, channel_id).digest_cap = cap

    def set_last_shuffle(self, channel_id: int, keys: Sequence[str]) -> None:
        with self._units.session() as s:
            s.get_one(m.Channel, channel_id).last_shuffle = list(keys)

    def pending(self, channel_id: int) -> dict[str, Any] | None:
        """The channel's pending author choice, as ``set_pending`` stored it."""
        if not channel_id:
            return None
        with self._units.session() as s:
            row = s.get(m.Channel, channel_id)
            return None if row is None or not row.pending else dict(row.pending)

    def set_pending(self, channel_id: int, choice: dict[str, Any] | None) -> None:
        """Store (or with None, drop) the channel's one pending author choice."""
        with self._units.session() as s:
            s.get_one(m.Channel, channel_id).pending = choice


def _find_channel(s: Session, ref: ChannelRef) -> m.Channel | None:
    return s.scalars(
        select(m.Channel)
        .options(selectinload(m.Channel.chips))
        .where(
            m.Channel.platform == ref.platform,
            m.Channel.workspace == ref.workspace,
            m.Channel.channel == ref.channel,
        )
    ).first()


def _state(s: Session, row: m.Channel, last_digest: bool = True) -> ChannelState:
    last = None
    if last_digest:
        last = s.scalar(
            select(func.max(m.DigestRun.finished_at)).where(m.DigestRun.channel_id == row.id)
        )
    return ChannelState(
        id=row.id,
        ref=ChannelRef(row.platform, row.workspace, row.channel, row.name),
        chips=tuple((c.id, _chip(c.kind, c.value, c.ref, c.names, c.evidence)) for c in row.chips),
        digest_cap=row.digest_cap,
        schedule_time=row.schedule_time,
        schedule_tz=row.schedule_tz,
        brief_cadence=row.brief_cadence,
        last_shuffle=tuple(row.last_shuffle or ()),
        last_digest_at=last,
    )


def _chip(
    kind: str,
    value: str,
    ref: str | None,
    names: list[str] | None,
    evidence: list[str] | None = None,
) -> Chip:
    return Chip(ChipKind(kind), value, ref, tuple(names or ()), tuple(evidence or ()))
