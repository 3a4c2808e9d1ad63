"""Radar matching: which papers are on which channel's radar, and why.

One concern per module, in the order a paper meets them:

* :mod:`~bot.core.matching.keywords`: keyword queries (a chip's phrases) and a
  paper's tokenised text;
* :mod:`~bot.core.matching.filters`: the per-term primitives (person, words,
  category in a paper) that ``/radar filter`` and the chips share;
* :mod:`~bot.core.matching.radar`: one radar (a union of chips, with sources
  and exclusions) against one paper, and the :class:`Match` it gives;
* :mod:`~bot.core.matching.index`: every channel's radar over a day's papers
  in one pass, equal to the radar's verdict pair by pair.

``docs/matching.md`` has the full policy. Import from the modules themselves:
this package re-exports nothing, so each name has one home.
"""
