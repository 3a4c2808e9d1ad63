"""A briefing as a reply: a title, a labelled body of sections, the papers as cards.

The reply always carries the set as numbered cards (each with one
representative sentence), so every ``[NN]`` citation points at something on
screen. :func:`brief_reply` writes the model's briefing when it can and the
extractive one otherwise, saying which and why; it never raises for model
trouble.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from bot.core.cards import Card, Reply, make_card
from bot.core.paper import own_urls
from bot.core.safety import clip
from bot.core.text import render_latex
from bot.digest.brief.extractive import (
    extractive_sections,
    representative_sentence,
    shared_phrases,
)
from bot.digest.brief.prompt import (
    BRIEF_PROMPT_VERSION,
    brief_messages,
    canonical,
    parse_briefing,
    require_grounded,
)
from bot.digest.brief.sections import SECTIONS
from bot.digest.brief.selection import BriefSet, shown_topic
from bot.llm import Gateway, LlmUnavailable, clean_untrusted
from bot.settings import RadarSettings

CARD_SENTENCE_CHARS = 280


def _cards(bset: BriefSet) -> tuple[Card, ...]:
    shared = shared_phrases(bset.items)
    cards = []
    for number, paper in bset.items:
        card = make_card(number, paper, CARD_SENTENCE_CHARS)
        sentence = clean_untrusted(
            render_latex(representative_sentence(paper, shared)), own_urls(paper)
        )
        cards.append(replace(card, abstract=clip(sentence, CARD_SENTENCE_CHARS)))
    return tuple(cards)


def _section_lines(sections: dict[str, list[str]], keep_urls: Sequence[str] = ()) -> list[str]:
    """The sections as reply lines. Every bullet is cleaned here, whether the model
    wrote it or it quotes an abstract: both are text the bot did not write. Its
    LaTeX is rendered first (rendering could spell ``<``), then links but to
    ``keep_urls`` (the papers' own) are removed or defused."""
    lines: list[str] = []
    for key, title in SECTIONS:
        cleaned = (clean_untrusted(render_latex(x), keep_urls) for x in sections.get(key, ()))
        bullets = [b for b in cleaned if b]
        if bullets:
            lines.append(f"{title}:")
            lines.extend(f"• {bullet}" for bullet in bullets)
    return lines


def _title(bset: BriefSet) -> str:
    n = len(bset.items)
    what = f"{n} paper{'s' if n != 1 else ''}"
    if bset.topic:
        return clip(f"{bset.label} on “{shown_topic(bset.topic)}”: {what}", 150)
    return f"{bset.label}: {what}"


def empty_reply(topic: str | None, radar: RadarSettings) -> Reply:
    """Nothing to brief: say why and what would help, never an empty message."""
    if topic:
        return Reply(
            f"Nothing to brief on “{clip(shown_topic(topic), 80)}”",
            (
                f"No paper from the last {radar.pool_days} days on this radar mentions it. "
                "Try other words, or `/radar brief` for the latest digest.",
            ),
            ephemeral=True,
            kind="brief",
        )
    return Reply(
        "Nothing to brief yet",
        (
            "A briefing covers the last digest's cards, or this radar's papers from the last "
            f"{radar.digest_window_days} days, and there are none. Add a chip "
            "(`/radar category cs.CL`) or post a digest (`/radar digest`) first.",
        ),
        ephemeral=True,
        kind="brief",
    )


def extractive_reply(bset: BriefSet, note: str | None = None) -> Reply:
    """The briefing without a model, labelled as such (``note``: why, if one is configured)."""
    why = note or "no language model is configured"
    label = (
        f"Extractive briefing on {bset.scope} ({why}): themes are key phrases shared "
        "across the papers, the rest is quoted from their abstracts, and each card "
        "below shows one representative sentence."
    )
    lines = [label, *_section_lines(extractive_sections(bset.items))]
    return Reply(_title(bset), tuple(lines), cards=_cards(bset), kind="brief")


def model_reply(bset: BriefSet, gateway: Gateway, workspace: str, now: datetime) -> Reply:
    """The model's briefing, checked; raises ``LlmUnavailable`` to fall back."""
    mapping = {i: number for i, number, _ in canonical(bset.items)}
    keep = tuple(url for _, paper in bset.items for url in own_urls(paper))
    result = gateway.complete(
        kind="brief",
        prompt_version=BRIEF_PROMPT_VERSION,
        messages=brief_messages(bset.items, bset.topic),
        workspace=workspace,
        now=now,
        check=lambda text: require_grounded(text, mapping, keep),
    )
    sections, removed, dropped = parse_briefing(result.text, mapping, keep)
    label = (
        f"Briefing by {result.model} on {bset.scope}. Each [NN] cites a card below; "
        "the citations were checked against them."
    )
    notes = []
    if removed:
        notes.append(
            f"{removed} citation{'s' if removed != 1 else ''} to papers outside this set "
            f"{'were' if removed != 1 else 'was'} removed"
        )
    if dropped:
        notes.append(
            f"{dropped} claim{'s' if dropped != 1 else ''} citing no paper in the set "
            f"{'were' if dropped != 1 else 'was'} left out"
        )
    footer = ("Checked: " + "; ".join(notes) + ".") if notes else None
    return Reply(
        _title(bset),
        (label, *_section_lines(sections, keep)),
        cards=_cards(bset),
        footer=footer,
        kind="brief",
    )


def brief_reply(bset: BriefSet, gateway: Gateway | None, workspace: str, now: datetime) -> Reply:
    """The briefing for ``bset``: the model's when it can, else extractive with a note.

    Never raises for model trouble (timeouts, 429, 5xx, garbage, spent budget).
    """
    if gateway is None or not gateway.available:
        return extractive_reply(bset)
    try:
        return model_reply(bset, gateway, workspace, now)
    except LlmUnavailable as err:
        return extractive_reply(bset, err.note)
