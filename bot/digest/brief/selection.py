"""Which papers a briefing covers, each with the card number the channel sees.

By default the cards of the channel's last digest (so ``[03]`` in the
briefing is card 03 the channel already saw); without a recent digest, the
radar's top matches of the digest window; with a topic, the recent papers
that mention it, most relevant first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.channel import ChannelState
from bot.core.chips import WATCH_KINDS
from bot.core.matching.keywords import KeywordQuery, keyword_hits, paper_text
from bot.core.paper import Paper
from bot.digest.extract import BM25, terms
from bot.digest.plan import radar_matches
from bot.settings import RadarSettings
from bot.store.repo import Store

#: A briefing covers at most this many papers (cards, and papers in the prompt).
MAX_PAPERS = 12
#: A phrase in a topic, quoted as the command grammar writes it.
_QUOTED = re.compile(r'"([^"]+)"')


def shown_topic(topic: str) -> str:
    """A topic for a title that puts it in “…”: a phrase alone loses its
    straight quotes (no “"language models"”), phrases among words get ‘…’."""
    phrases = _QUOTED.findall(topic)
    if len(phrases) == 1 and topic == f'"{phrases[0]}"':
        return phrases[0]
    return _QUOTED.sub(r"‘\1’", topic)


@dataclass(frozen=True)
class BriefSet:
    """The papers a briefing covers, each with the card number the channel sees."""

    items: tuple[tuple[int, Paper], ...]
    scope: str  # "the last digest's 8 cards (2026-04-30)"
    topic: str | None = None
    label: str = "Briefing"  # "Daily briefing" for the automatic ones

    @property
    def numbers(self) -> set[int]:
        return {n for n, _ in self.items}


def select_papers(
    store: Store,
    state: ChannelState,
    now: datetime,
    radar: RadarSettings,
    topic: str | None = None,
) -> BriefSet:
    """The default set: the last digest's cards (when within the digest window),
    else the radar's top matches of that window; with a topic, the recent
    papers (on the radar, or all stored when it has no chips) that mention it."""
    window = timedelta(days=radar.digest_window_days)
    watching = any(chip.kind in WATCH_KINDS for chip in state.chip_list)
    if topic:
        pool = store.papers_since(now - timedelta(days=radar.pool_days), until=now)
        candidates = [m.paper for m in radar_matches(state.chip_list, pool)] if watching else pool
        found = rank_by_topic(candidates, topic)[:MAX_PAPERS]
        return BriefSet(
            tuple(enumerate(found, start=1)),
            f"{len(found)} recent paper{'s' if len(found) != 1 else ''} "
            f"about “{shown_topic(topic)}”",
            topic,
        )
    run = store.last_run(state.id) if state.id else None
    if run is not None and run.planned and now - run.started_at <= window:
        papers = store.papers_by_key(list(run.planned))
        shown = [papers[key] for key in run.planned if key in papers][:MAX_PAPERS]
        return BriefSet(
            tuple(enumerate(shown, start=1)),
            f"the last digest's {len(shown)} card{'s' if len(shown) != 1 else ''} "
            f"({run.started_at:%Y-%m-%d})",
        )
    if not watching:
        return BriefSet((), "")
    pool = store.papers_since(now - window, until=now)
    top = [m.paper for m in radar_matches(state.chip_list, pool)][:MAX_PAPERS]
    return BriefSet(
        tuple(enumerate(top, start=1)),
        f"the top {len(top)} match{'es' if len(top) != 1 else ''} of the last "
        f"{radar.digest_window_days} days",
    )


def papers_of_runs(store: Store, state: ChannelState, since: datetime) -> list[Paper]:
    """The cards of the channel's digests since ``since``, in order, each once."""
    keys: list[str] = []
    for run in store.runs_since(state.id, since):
        keys.extend(k for k in run.planned if k not in keys)
    papers = store.papers_by_key(keys)
    return [papers[k] for k in keys if k in papers][:MAX_PAPERS]


def rank_by_topic(papers: Sequence[Paper], topic: str) -> list[Paper]:
    """Papers that mention the topic, most relevant first (BM25; the title counts twice).

    Its words rank the papers; a "quoted phrase" in it must be in the paper,
    as a keyword chip's is (`brief "language models"` is not every paper
    with "models" in it)."""
    wanted = dict.fromkeys(terms(topic), 1.0)
    phrases = _QUOTED.findall(topic)
    if phrases and wanted:
        needed = KeywordQuery.parse(" ".join(f'"{p}"' for p in phrases))
        papers = [p for p in papers if keyword_hits(needed, paper_text(p)) is not None]
    if not wanted or not papers:
        return []
    docs = [terms(f"{p.title} {p.title} {p.abstract}") for p in papers]
    scores = BM25(docs).scores(wanted)
    ranked = [(s, i) for i, s in enumerate(scores) if s > 0]
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return [papers[i] for _, i in ranked]
