"""Chips: the filters a channel's radar is made of.

A radar is a union of watches: a paper is on the radar when it matches ANY
author, keyword or category chip, provided it comes from one of the radar's
sources (all sources when there is no source chip) and matches no exclusion.

Below the model: pure helpers over chips (is it a duplicate, how it reads in
a reply, which chip `/radar remove <text>` means, the chip that follows a
person), shared by the service's modules; none touches the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.core.dedupe import arxiv_id
from bot.core.identity import AuthorCandidate, name_variants
from bot.core.matching.keywords import KeywordQuery
from bot.core.names import author_matches, parse_name
from bot.errors import NotFoundError


class ChipKind(StrEnum):
    AUTHOR = "author"
    KEYWORD = "keyword"
    CATEGORY = "category"
    SOURCE = "source"
    EXCLUDE = "exclude"  # typed as `/radar keyword -survey`
    #: `/radar like <id>`: value is the liked paper's key, ``names[0]`` its title
    #: (kept with the chip so the header needs no lookup). It orders the radar
    #: and also watches: papers similar enough to it are on the radar
    #: (``bot.service.relevance``), so it counts as a watch in :func:`watches`.
    LIKE = "like"


#: Kinds that add papers to a radar (the others narrow it).
WATCH_KINDS = frozenset({ChipKind.AUTHOR, ChipKind.KEYWORD, ChipKind.CATEGORY})

#: ``Chip.ref`` of an author chip the channel chose to keep as a bare name.
NAME_ONLY = "name-only"
OPENALEX_REF = "openalex:"


@dataclass(frozen=True)
class Chip:
    """One filter chip. ``value`` is its canonical text, as shown on the chip.

    Canonical forms: author names with single spaces (``Yehui Tang``), keyword
    and exclusion text as typed but whitespace-folded (phrases keep their
    quotes: ``"large language model" agents``), categories in arXiv's casing
    (``cs.CL``), sources in lower case (``arxiv``).

    Author chips may follow a person rather than a string: ``ref`` is then
    the identity (``openalex:A5017898742``) and ``names`` the other spellings
    that person publishes under (matched in sources without author ids, i.e.
    arXiv bylines). ``ref`` is ``NAME_ONLY`` when the channel chose the bare
    name, None for chips made before identities existed; both match by name.
    ``evidence`` confirms such a name match: ``cat:<arXiv category>`` and
    ``co:<co-author surname key>`` entries gathered from the person's OpenAlex
    works when the chip was made (see :func:`bot.core.identity.identity_evidence`);
    with evidence, a byline match counts only in a paper sharing a category or
    a co-author with it.
    All fields take part in equality: two chips following different people
    are different chips, even under one display name.
    """

    kind: ChipKind
    value: str
    ref: str | None = None
    names: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()

    @property
    def author_id(self) -> str | None:
        """The OpenAlex author id an identity chip follows (``A5017898742``), else None."""
        if self.kind is ChipKind.AUTHOR and self.ref and self.ref.startswith(OPENALEX_REF):
            return self.ref[len(OPENALEX_REF) :] or None
        return None

    def label(self) -> str:
        """How the chip reads in a header: ``Authors: Yehui Tang``-style pieces."""
        if self.kind is ChipKind.EXCLUDE:
            return f"-{self.value}"
        if self.kind is ChipKind.LIKE and self.names:
            return self.names[0]
        return self.value


KIND_TITLES = {
    ChipKind.AUTHOR: "Authors",
    ChipKind.KEYWORD: "Keywords",
    ChipKind.CATEGORY: "Categories",
    ChipKind.SOURCE: "Sources",
    ChipKind.EXCLUDE: "Excluding",
    ChipKind.LIKE: "More like",
}


# -- helpers ------------------------------------------------------------------------

_NUMBER = re.compile(r"[0-9]{1,6}")


def is_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts ``²``, which ``int`` refuses."""
    return _NUMBER.fullmatch(text) is not None


def same_chip(a: Chip, b: Chip) -> bool:
    """Whether two chips watch the same thing (``Distillation`` = ``distillation``;
    ``Jorg Frochte`` = ``Jörg Frochte``), so the second is a duplicate. Two chips
    that follow identities are the same only when they follow the same person."""
    if a.kind is not b.kind:
        return False
    if a.author_id is not None and b.author_id is not None:
        return a.author_id == b.author_id
    if a.value.casefold() == b.value.casefold():
        return True
    try:
        if a.kind is ChipKind.AUTHOR:
            x, y = parse_name(a.value), parse_name(b.value)
            return author_matches(x, y) and author_matches(y, x)
        if a.kind in (ChipKind.KEYWORD, ChipKind.EXCLUDE):
            return KeywordQuery.parse(a.value) == KeywordQuery.parse(b.value)
    except ValueError:
        return False
    return False


def chip_title(chip: Chip) -> str:
    """How a reply names a chip: ``keyword chip agents``, ``exclusion -survey``."""
    if chip.kind is ChipKind.EXCLUDE:
        return f"exclusion -{chip.value}"
    if chip.kind is ChipKind.LIKE:
        return f"like chip {chip.label()}"
    return f"{chip.kind.value} chip {chip.value}"


def shown_kind(kind: ChipKind) -> str:
    """How the console and Discord name a chip's kind (``not: survey``), so
    ``find_chip`` knows the text a person copies from them."""
    return "not" if kind is ChipKind.EXCLUDE else kind.value


def sentence(text: str) -> str:
    """``text`` ended with a full stop, unless it ends a sentence already: a
    chip named ``Martin Luther King Jr.`` or a liked paper titled with a
    question must not read ``Jr..`` or ``Reason?.``."""
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def find_chip(chips: Sequence[tuple[int, Chip]], target: str) -> tuple[int, Chip]:
    """The (id, chip) `/radar remove <target>` means: its number as `/radar`
    shows it, or its text in any form a person would type; ``NotFoundError``
    listing the chips when none is meant.

    Forms, each tried on every chip before the next: what a × button sends
    (``exclude survey``: exactly that chip); the chip's value or label
    (``survey``, ``-survey``); then the chip as a reply shows it, copied
    (``not: survey``, ``category: cs.CL``, ``Categories: cs.CL``,
    ``× cs.CL``)."""
    if not chips:
        raise NotFoundError("This radar has no chips to remove.")
    text = target.strip().strip('"').strip()
    if is_number(text):
        n = int(text)
        if 1 <= n <= len(chips):
            return chips[n - 1]
        raise NotFoundError(f"There is no chip {n}; this radar has {len(chips)} (see `/radar`).")
    folded = " ".join(text.split()).casefold()
    # As a reply shows it, copied: a button's ×, a keyword's quotes dropped.
    shown = " ".join(text.strip("×").replace('"', "").split()).casefold()
    for forms_of in (_button_form, _value_forms, _shown_forms):
        for chip_id, chip in chips:
            forms = forms_of(chip)
            if folded in forms or shown in forms:
                return chip_id, chip
    # A like chip by the id it was liked with, in any form (`2604.26951v2`,
    # an arxiv.org link): its stored value is the paper's key, `arxiv:2604.26951`.
    if (paper := arxiv_id(text)) is not None:
        for chip_id, chip in chips:
            if chip.kind is ChipKind.LIKE and chip.value.casefold() == f"arxiv:{paper}":
                return chip_id, chip
    listing = ", ".join(f"{i}. {chip.label()}" for i, (_, chip) in enumerate(chips, start=1))
    raise NotFoundError(f"No chip matches `{text[:40]}`. Chips: {listing}")


#: Several chip numbers in one `/radar remove`: ``1 2``, ``1,3``, ``2, 4 and 5``.
_NUMBER_LIST = re.compile(r"[0-9]+(?:(?: *, *| +and +| +)[0-9]+)+")


def find_chips(chips: Sequence[tuple[int, Chip]], target: str) -> list[tuple[int, Chip]]:
    """The chips `/radar remove <target>` means: one, as :func:`find_chip`
    finds it, or several numbers at once, all read against the list as
    `/radar` showed it (removed one by one, every number after the first
    would have moved)."""
    text = target.strip()
    if not _NUMBER_LIST.fullmatch(text):
        return [find_chip(chips, target)]
    found: list[tuple[int, Chip]] = []
    for number in re.findall(r"[0-9]+", text):
        chip = find_chip(chips, number)
        if chip not in found:
            found.append(chip)
    return found


def _button_form(chip: Chip) -> set[str]:
    return {f"{chip.kind.value} {chip.value}".casefold()}


def _value_forms(chip: Chip) -> set[str]:
    forms = {chip.value.casefold(), chip.label().casefold()}
    if chip.kind is ChipKind.KEYWORD:
        forms.add(chip.value.replace('"', "").casefold())
    return forms


def _shown_forms(chip: Chip) -> set[str]:
    kinds = {chip.kind.value, shown_kind(chip.kind), KIND_TITLES[chip.kind]}  # More like: …
    values = {chip.value.replace('"', ""), chip.label().replace('"', "")}
    return {f"{k}{sep} {v}".casefold() for k in kinds for v in values for sep in ("", ":")}


def identity_chip(person: AuthorCandidate) -> Chip:
    """The author chip that follows ``person``: shown by their name, matched by
    their id, and in arXiv bylines by every spelling they publish under."""
    return Chip(
        ChipKind.AUTHOR,
        " ".join(person.display_name.split()),
        f"{OPENALEX_REF}{person.id}",
        tuple(n for n in name_variants(person) if n != person.display_name),
    )


def watches(chips: Iterable[Chip]) -> bool:
    """Whether any chip adds papers (an author, keyword or category), so the
    radar has something to digest or shuffle."""
    return any(chip.kind in WATCH_KINDS or chip.kind is ChipKind.LIKE for chip in chips)


def scope_chips(chips: Iterable[Chip]) -> list[Chip]:
    """The chips that narrow a radar (sources, exclusions), without its watches."""
    return [chip for chip in chips if chip.kind in (ChipKind.SOURCE, ChipKind.EXCLUDE)]
