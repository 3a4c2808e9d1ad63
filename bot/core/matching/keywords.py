"""Keyword queries: a keyword chip's text parsed into phrases, and a paper's
title and abstract tokenised once, so every query is checked by lookups.

A query matches when every phrase occurs in the title or the abstract (AND),
a phrase's tokens consecutively, compared as tokens with light plural folding
(:mod:`bot.core.text`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from bot.core.paper import Paper
from bot.core.text import tokenize, word_forms

__all__ = [
    "KeywordQuery",
    "PaperText",
    "keyword_hits",
    "paper_text",
    "phrase_in",
]

_QUERY_PART = re.compile(r'"([^"]*)"?|([^\s"]+)')
_SMART_QUOTES = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'}
)


@dataclass(frozen=True)
class KeywordQuery:
    """A keyword chip, parsed: phrases that must all occur in title or abstract.

    ``phrases`` holds normalised token tuples; a bare word is a one-token phrase,
    and a bare hyphenated word is a phrase of its parts (``state-of-the-art``).
    Equality is on ``phrases`` only, so ``Diffusion  Transformer`` and
    ``diffusion transformer`` are one query (and one index entry).
    """

    phrases: tuple[tuple[str, ...], ...]
    text: str = field(default="", compare=False)
    forms: tuple[tuple[frozenset[str], ...], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.phrases or not all(self.phrases):
            raise ValueError("a keyword query needs at least one word")
        if not self.forms:
            object.__setattr__(
                self, "forms", tuple(tuple(word_forms(t) for t in p) for p in self.phrases)
            )

    @classmethod
    def parse(cls, value: str) -> KeywordQuery:
        """Parse chip text (``"large language model" agents``); ``ValueError`` if no words.

        Unbalanced quotes run to the end of the text; a leading ``-`` (an
        exclusion typed as such) is ignored; duplicate phrases are dropped.
        """
        if not isinstance(value, str):
            raise ValueError(f"not keyword text: {value!r}")
        return _parse_query(value)

    @property
    def anchor(self) -> str:
        """The token the index files this query under: the longest (rarest, in
        practice) token of any phrase, ties broken alphabetically. Every phrase is
        required, so a paper without (a plural form of) it cannot match."""
        return min((t for p in self.phrases for t in p), key=lambda t: (-len(t), t))

    def __str__(self) -> str:
        return self.text or " ".join(
            f'"{" ".join(p)}"' if len(p) > 1 else p[0] for p in self.phrases
        )


@lru_cache(maxsize=4096)
def _parse_query(value: str) -> KeywordQuery:
    text = " ".join(value.translate(_SMART_QUOTES).split())
    body = text[1:] if text.startswith("-") else text
    phrases: list[tuple[str, ...]] = []
    for m in _QUERY_PART.finditer(body):
        quoted, bare = m.group(1), m.group(2)
        tokens = tokenize(quoted if quoted is not None else bare)
        if tokens and tokens not in phrases:
            phrases.append(tokens)
    if not phrases:
        raise ValueError(f"no words to match in {value!r}")
    return KeywordQuery(tuple(phrases), text)


# --- paper text ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaperText:
    """A paper's title and abstract tokenised once, with each field's set of tokens.

    The sets answer "is this token in the field" for every query; positions
    are looked up (``tuple.index``, in C) only for the rare phrase of several
    tokens. Per-token position maps cost more to build than all the lookups
    they saved: a day's run tokenises every paper of the pool once.
    """

    title: tuple[str, ...]
    abstract: tuple[str, ...]
    title_words: frozenset[str]
    abstract_words: frozenset[str]

    @property
    def vocabulary(self) -> frozenset[str]:
        """Each distinct token once."""
        return self.title_words | self.abstract_words


@lru_cache(maxsize=8192)
def _text_of(title: str, abstract: str) -> PaperText:
    t, a = tokenize(title), tokenize(abstract)
    return PaperText(t, a, frozenset(t), frozenset(a))


def paper_text(paper: Paper) -> PaperText:
    """The tokenised title and abstract of ``paper`` (cached: tokenise each paper once)."""
    return _text_of(paper.title, paper.abstract)


def phrase_in(
    tokens: tuple[str, ...], words: frozenset[str], forms: tuple[frozenset[str], ...]
) -> bool:
    """Whether the phrase occurs in one field: its tokens consecutive, each agreeing."""
    if any(f.isdisjoint(words) for f in forms):
        return False  # some token of the phrase is not in the field at all
    n = len(forms)
    if n == 1:
        return True
    stop = len(tokens) - n + 1  # a phrase starting later would run past the end
    if stop <= 0:
        return False  # longer than the field (and ``index`` reads a negative stop from the end)
    for form in forms[0] & words:
        p = -1
        while True:
            try:
                p = tokens.index(form, p + 1, stop)
            except ValueError:
                break
            if all(tokens[p + i] in forms[i] for i in range(1, n)):
                return True
    return False


def keyword_hits(query: KeywordQuery, text: PaperText) -> tuple[int, int] | None:
    """(phrases in title, phrases in abstract), or None unless every phrase occurs.

    The counts are what ranking orders keyword matches by (a phrase in the
    title means the paper is *about* it); a phrase in both counts in both.
    """
    title_hits = abstract_hits = 0
    for forms in query.forms:
        in_title = phrase_in(text.title, text.title_words, forms)
        in_abstract = phrase_in(text.abstract, text.abstract_words, forms)
        if not (in_title or in_abstract):
            return None
        title_hits += in_title
        abstract_hits += in_abstract
    return title_hits, abstract_hits
