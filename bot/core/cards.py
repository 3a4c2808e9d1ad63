"""The neutral reply model: ``Card`` and ``Reply``.

The core answers every command with a ``Reply``: what the bot says, as plain
data; ``bot.core.outgoing`` turns it into the messages to post (where, in
what order, exactly once), and adapters render each one (Block Kit, Discord
embeds, terminal text). All text here is plain and unescaped:
escaping, mention-proofing and link checks (``bot.core.safety.safe_url``)
belong to each renderer, since what is dangerous differs per platform. LaTeX
in titles, authors and abstracts is rendered here (``render_latex``), for
display only: the store keeps what the source sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from bot.core.chips import Chip
from bot.core.dedupe import preprint_server
from bot.core.paper import Paper
from bot.core.text import render_latex

SOURCE_NAMES = {"arxiv": "arXiv", "openalex": "OpenAlex"}
#: Other versions a card links to at most (preprint, published, mirrors).
MAX_LINKS = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


@dataclass(frozen=True)
class Card:
    """One paper as a numbered card: ``01.  arXiv (CS.CL)  2026-06-18``."""

    number: int
    key: str
    source_label: str
    date: str
    title: str
    url: str
    authors: str
    abstract: str
    pdf_url: str | None = None
    matched: tuple[str, ...] = ()
    #: The work's other versions (a merged preprint's journal page, or the
    #: reverse), at most ``MAX_LINKS``.
    links: tuple[str, ...] = ()
    #: Why a ranked card is here, in words a reader can check (``similar to
    #: "<liked title>"``, ``liked by 3 here``), never a score; None: no reason.
    reason: str | None = None

    @property
    def tag(self) -> str:
        return f"{self.number:02d}."

    @property
    def heading(self) -> str:
        return f"{self.tag}  {self.source_label}  {self.date}"


@dataclass(frozen=True)
class Choice:
    """One answer to a question the bot asked, drawn as a button where the
    platform has buttons: ``label`` as shown, ``line`` the command it runs
    (``pick 2 openalex:A5017898742``), the one a person could also type."""

    label: str
    line: str


class ReplyKind(StrEnum):
    """What a reply is, which renderers draw differently (an error's ``!``, a
    footer's small print). A ``StrEnum``: it compares equal to its value."""

    INFO = "info"  # a setting changed, a note
    RADAR = "radar"  # the chips (`/radar`, a chip added or removed)
    CHOICE = "choice"  # a question with answers to pick (which person?)
    DIGEST = "digest"
    SHUFFLE = "shuffle"
    FILTER = "filter"
    BRIEF = "brief"
    ANSWER = "answer"  # a question about a paper, answered
    HELP = "help"
    ERROR = "error"
    FOOTER = "footer"  # a multi-message reply's closing note, as its own message


@dataclass(frozen=True)
class Reply:
    """What the bot says back. ``ephemeral`` replies go only to the person who asked."""

    title: str
    lines: tuple[str, ...] = ()
    cards: tuple[Card, ...] = ()
    chips: tuple[tuple[int, Chip], ...] | None = None  # header chips, with their ids
    footer: str | None = None
    ephemeral: bool = False
    kind: ReplyKind = ReplyKind.INFO
    #: Answers to a question in this reply (who `/radar author` meant), in order.
    choices: tuple[Choice, ...] = ()
    #: Text to be copied, not read (BibTeX): shown as is, never wrapped or
    #: reflowed, in a code block where the platform has one.
    code: str = ""

    def __post_init__(self) -> None:
        # Callers may name the kind by its value ("brief"): one type either way.
        if not isinstance(self.kind, ReplyKind):
            object.__setattr__(self, "kind", ReplyKind(self.kind))


def source_label(paper: Paper) -> str:
    """Where the paper appeared, as a reader names it.

    The venue when one is known (``Nature Machine Intelligence``, ``bioRxiv
    (Neuroscience)``): a merged preprint + journal record names the journal.
    arXiv's own records say ``arXiv (CS.CL)`` with arXiv's category, also when
    OpenAlex named the arXiv copy by its subfield. Otherwise the source's name
    with the primary category.
    """
    venue = " ".join((paper.venue or "").split())
    on_arxiv = paper.source == "arxiv" and preprint_server(venue) == "arXiv"
    if venue and not (on_arxiv and paper.primary_category):
        return venue
    name = SOURCE_NAMES.get(paper.source, paper.source)
    if paper.primary_category:
        category = paper.primary_category
        return f"{name} ({category.upper() if paper.source == 'arxiv' else category})"
    return name


def shorten_authors(authors: tuple[str, ...] | list[str], limit: int = 4) -> str:
    """Up to ``limit`` names in full; beyond that the first three, an ellipsis and
    the last author (often the lab's PI, whom readers look for)."""
    names = [" ".join(a.split()) for a in authors if a.strip()]
    if not names:
        return "Unknown authors"
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:3])}, … {names[-1]} ({len(names)} authors)"


def trim_abstract(text: str, limit: int) -> str:
    """Trim at a sentence end when one falls in the last third of ``limit``,
    else at a word boundary with an ellipsis; never mid-word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    # Look one character past the limit so a sentence ending exactly at it
    # (followed by a space and a capital) still counts as a sentence end.
    ends = [m.start() for m in _SENTENCE_END.finditer(text[: limit + 2]) if m.start() <= limit]
    if ends and ends[-1] >= limit * 2 // 3:
        return text[: ends[-1]].rstrip()
    cut = text[: limit + 1]
    space = cut.rfind(" ", 0, limit)
    if space < limit // 2:
        space = limit - 1
    return cut[:space].rstrip(" ,;:-") + "…"


def make_card(
    number: int,
    paper: Paper,
    abstract_chars: int,
    matched: tuple[str, ...] = (),
    reason: str | None = None,
) -> Card:
    return Card(
        number=number,
        key=paper.key,
        source_label=source_label(paper),
        date=paper.published.date().isoformat(),
        title=" ".join(render_latex(paper.title).split()),
        url=paper.url,
        authors=shorten_authors([render_latex(a) for a in paper.authors]),
        abstract=trim_abstract(render_latex(paper.abstract), abstract_chars),
        pdf_url=paper.pdf_url,
        matched=matched,
        links=tuple(link for link in paper.links if link.startswith(("https://", "http://")))[
            :MAX_LINKS
        ],
        reason=reason,
    )
