"""The one short line a ranked card carries to say why it is there.

A reader trusts an order they can check, and a number ("0.42") checks
nothing, so the line names something the channel did: the liked paper this
one is nearest to (``similar to "Trust Region On-Policy Distillation"``), or
how many people here liked this very paper (``liked by 3 here``). A paper
only faintly similar to anything liked gets no line: a reason that does not
hold up is worse than none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.core.text import strip_latex
from bot.relevance.similar import nearest
from bot.relevance.vectors import PaperVectors
from bot.settings import RelevanceSettings

#: Longest liked title quoted in full; longer ones are cut at a word.
TITLE_CHARS = 60
_SPACE = re.compile(r"\s+")


def short_title(title: str, limit: int = TITLE_CHARS) -> str:
    """``title`` on one line, LaTeX unwrapped, cut at a word to ``limit`` characters."""
    text = _SPACE.sub(" ", strip_latex(title)).strip().replace('"', "'")
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:.-")
    return f"{cut}…"


def reason_line(
    *,
    liked_by: int = 0,
    nearest_title: str | None = None,
    similarity: float = 0.0,
    floor: float = 0.0,
) -> str | None:
    """The card's reason, or None.

    ``liked_by``: how many people in this channel liked this paper itself.
    ``nearest_title``/``similarity``: its nearest liked paper and how close;
    quoted only at or above ``floor``.
    """
    if liked_by > 1:
        return f"liked by {liked_by} here"
    if liked_by == 1:
        return "liked by 1 person here"
    if nearest_title and similarity >= floor:
        return f'similar to "{short_title(nearest_title)}"'
    return None


def card_reasons(
    cards: PaperVectors,
    liked: PaperVectors,
    titles: Mapping[str, str],
    liked_by: Mapping[str, int],
    settings: RelevanceSettings,
) -> dict[str, str | None]:
    """The reason line of each card (by paper key).

    ``liked``: the channel's liked papers (like chips, likes, saves);
    ``titles``: their titles by key; ``liked_by``: for any card's own key, how
    many people here liked it. A liked paper is never its own "similar to".
    """
    near = nearest(cards, liked, settings.embedding_weight)
    out: dict[str, str | None] = {}
    for k, key in enumerate(cards.keys):
        row = int(near.liked_row[k])
        title = titles.get(liked.keys[row]) if row >= 0 and liked.keys[row] != key else None
        out[key] = reason_line(
            liked_by=liked_by.get(key, 0),
            nearest_title=title,
            similarity=float(near.similarity[k]),
            floor=settings.reason_floor,
        )
    return out
