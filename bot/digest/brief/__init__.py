"""Briefings: a cross-disciplinary reading of the radar's recent papers.

``/radar brief [topic]`` (and the automatic briefing after a digest) covers a
numbered set of papers and cites them by card number. One concern per module,
in the order a briefing is made:

* :mod:`~bot.digest.brief.selection`: which papers (the last digest's cards,
  the radar's top matches, or a topic's papers) as a :class:`BriefSet`;
* :mod:`~bot.digest.brief.sections`: the five sections every briefing fills
  and the ``[NN]`` card tag;
* :mod:`~bot.digest.brief.prompt`: the model's prompt (canonical order, so
  one cached call serves every channel) and the checks on its answer
  (citations mapped to card numbers or removed, uncited claims dropped);
* :mod:`~bot.digest.brief.extractive`: the briefing from the papers' own
  words, when there is no model or it fails;
* :mod:`~bot.digest.brief.reply`: the reply (labelled body, cards with one
  representative sentence each), the model's when it can, else extractive.

The shared text primitives (sentences, key phrases, BM25) are in
:mod:`bot.digest.extract`. The names the service calls are re-exported here,
so a caller needs ``from bot.digest import brief`` only; everything else is
imported from its own module.
"""

from __future__ import annotations

from bot.digest.brief.reply import brief_reply, empty_reply
from bot.digest.brief.selection import MAX_PAPERS, BriefSet, papers_of_runs, select_papers

__all__ = [
    "MAX_PAPERS",
    "BriefSet",
    "brief_reply",
    "empty_reply",
    "papers_of_runs",
    "select_papers",
]
