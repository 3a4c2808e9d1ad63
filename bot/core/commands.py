"""One command grammar for every platform: parse a `/radar ...` line.

Slack hands us the text after `/radar`; Discord's typed options are joined
back into the same line; the console reads it from a terminal. Everything is
parsed here, once, into a small frozen ``Command`` value, so platform adapters
never interpret user text themselves.

``parse`` either returns a command or raises ``UsageError`` with a short,
specific message; it never raises anything else (the hypothesis fuzz test
holds it to that), and it never touches the database.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import NoReturn
from zoneinfo import ZoneInfo, available_timezones

from bot.core import taxonomy
from bot.core.chips import Chip, ChipKind, is_number
from bot.core.dedupe import arxiv_id, normalize_doi
from bot.core.safety import char_kind
from bot.core.text import tokenize
from bot.errors import UsageError
from bot.settings import MAX_DIGEST_CAP, MAX_SHUFFLE

MAX_LINE = 1000
MAX_ARG = 200
KNOWN_SOURCES = ("arxiv", "openalex")
#: People a `/radar pick` list can hold (one digit each).
MAX_PICK = 9
#: ``openalex:A5017898742``, or the id's page as OpenAlex links it.
_OPENALEX_AUTHOR = re.compile(
    r"(?:openalex:|(?:https?://)?(?:api\.)?openalex\.org/(?:authors/)?)(A[0-9]{1,12})", re.I
)
#: An ORCID iD, bare or as its link.
_ORCID = re.compile(r"(?:(?:https?://)?orcid\.org/)?\d{4}-\d{4}-\d{4}-\d{3}[\dX]", re.I)

USAGE: dict[str, str] = {
    "": "/radar  (show this channel's radar)",
    "author": "/radar author <name> [openalex:A…]   e.g. /radar author Yehui Tang",
    "pick": "/radar pick <n> | /radar pick name   (answer the last `/radar author` question)",
    "keyword": '/radar keyword <words or "a phrase"> | /radar keyword -<word>   (excludes it '
    'from the whole radar), e.g. /radar keyword "diffusion model", /radar keyword -survey',
    "category": "/radar category <arXiv category>   e.g. /radar category cs.CL",
    "source": "/radar source <" + "|".join(KNOWN_SOURCES) + ">",
    "remove": "/radar remove <chip number(s) or text>   e.g. /radar remove 2, /radar remove 1 3",
    "clear": "/radar clear   (remove every chip)",
    "digest": "/radar digest   (post a digest now, as the schedule would)",
    "shuffle": f"/radar shuffle [n]   (a fresh random draw, n from 1 to {MAX_SHUFFLE})",
    "filter": '/radar filter <terms>   e.g. /radar filter since:7d author:"Yehui Tang" -survey',
    "brief": "/radar brief [topic] | /radar brief <card number | arXiv id>   (that one paper) | "
    "/radar brief every day|week | /radar brief off",
    "ask": "/radar ask <card number | arXiv id> <question>   e.g. "
    "/radar ask 2 what data do they train on?",
    "like": "/radar like <arXiv id | DOI | card number>   (more papers like this one: a like chip)",
    "likes": "/radar likes   (what this radar learned: like chips, feedback, top terms)",
    "forget": "/radar forget   (clear what the radar learned; chips stay)",
    "saved": "/radar saved [bibtex]   (the channel's reading list, or it as BibTeX)",
    "schedule": "/radar schedule HH:MM [Area/City] | /radar schedule off   (alone: the schedule "
    "now), e.g. /radar schedule 9am Europe/Berlin",
    "cap": f"/radar cap <n>   (cards per digest, 1 to {MAX_DIGEST_CAP}; alone: the cap now)",
    "help": "/radar help [command]",
}

ALIASES = {
    "authors": "author",
    "au": "author",
    "choose": "pick",
    "keywords": "keyword",
    "kw": "keyword",
    "cat": "category",
    "categories": "category",
    "sources": "source",
    "rm": "remove",
    "del": "remove",
    "delete": "remove",
    "now": "digest",
    "list": "show",
    "status": "show",
    "settings": "show",
    "info": "show",
    "search": "filter",
    "find": "filter",
    "random": "shuffle",
    "briefing": "brief",
    "summary": "brief",
    "summarize": "brief",
    "summarise": "brief",
    "question": "ask",
    "?": "help",
}

# Characters that mean something to arXiv's query language (or to Lucene under
# it). Refusing them in chips keeps every chip a plain literal, and the sources
# quote terms again when they build queries.
_QUERY_SYNTAX = set(":()[]{}*?^~\\|!<>=;`$%@")
_BOOLEAN_WORDS = {"AND", "OR", "NOT", "ANDNOT"}
#: Words nearly every abstract has: a keyword chip of only these matches all.
_FUNCTION_WORDS = frozenset(
    """a an the of and or in on for to with by at from is are was be as it its this that
    these those we our their via into over under than then""".split()  # noqa: SIM905
)
_SMART_QUOTES = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2018": "'",
        "\u2019": "'",
    }
)
#: A single quote that ends a word: before a space or at the end of the line.
_SINGLE_CLOSE = re.compile(r"'(?= |$)")
_TIME = re.compile(r"^([01]?\d|2[0-3])[:.h]([0-5]\d)$")
#: ``9am``, ``9:30 pm``, ``12 a.m.``: first in a schedule, or after its zone.
_TWELVE_HOUR = re.compile(
    r"(?<![^ ])(\d{1,2})(?:[:.]([0-5]\d))? ?([ap])\.?m\.?(?= |$)", re.IGNORECASE
)
#: A span: ``7d``, ``2w``, ``3m``, or spelt out, ``7 days``, ``1week``, ``3 months``.
_SINCE = re.compile(r"^(\d{1,4}) ?(?:(d)(?:ays?)?|(w)(?:eeks?)?|(m)(?:onths?)?)$")
#: A date as people write it: ``2026-06-01``, ``2026-6-1``.
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
#: Filter keys people reach for, and the term that does it.
_FILTER_KEYS = {"last": "since", "after": "since", "from": "since"}


# -- commands -------------------------------------------------------------------


@dataclass(frozen=True)
class Show:
    """`/radar`: the channel's chips, schedule and last digest."""


@dataclass(frozen=True)
class Help:
    topic: str | None = None


@dataclass(frozen=True)
class AddChip:
    chip: Chip


@dataclass(frozen=True)
class Pick:
    """`/radar pick`: which person a pending `/radar author` meant.

    ``choice`` is a number from the list, or None for "the name only".
    ``author_id`` (``pick 2 openalex:A…``, what buttons send) must still be
    person ``choice`` of the pending list, so a stale button cannot pick
    someone else.
    """

    choice: int | None
    author_id: str | None = None


@dataclass(frozen=True)
class RemoveChip:
    target: str  # a chip number as shown by `/radar`, or the chip's text
    #: The chip's stored id, when a button names it (``bot.core.buttons``):
    #: it removes that chip or, once it is gone, nothing.
    chip_id: int | None = None


@dataclass(frozen=True)
class ClearChips:
    pass


@dataclass(frozen=True)
class RunDigest:
    pass


@dataclass(frozen=True)
class Shuffle:
    n: int | None = None


@dataclass(frozen=True)
class FilterQuery:
    """The terms of one `/radar filter` view: every term must hold (AND)."""

    since_days: int | None = None
    since_date: date | None = None
    authors: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    def describe(self) -> str:
        parts: list[str] = []
        if self.since_days is not None:
            parts.append("last day" if self.since_days == 1 else f"last {self.since_days} days")
        if self.since_date is not None:
            parts.append(f"since {self.since_date.isoformat()}")
        parts += [f"author {a}" for a in self.authors]
        parts += [f"keyword {k}" for k in self.keywords]
        parts += [f"category {c}" for c in self.categories]
        parts += [f"source {s}" for s in self.sources]
        parts += [f"not {e}" for e in self.excludes]
        return ", ".join(parts)


@dataclass(frozen=True)
class Filter:
    query: FilterQuery


@dataclass(frozen=True)
class Brief:
    topic: str | None = None


@dataclass(frozen=True)
class BriefPaper:
    """One paper briefed in its card's thread: a card's Brief button (``key``,
    the card's paper key, ``bot.core.buttons``), or `/radar brief <card |
    arXiv id>` typed (``card`` as this channel last showed it, or ``arxiv_id``
    canonical, no version). Exactly one is set."""

    key: str | None = None
    card: int | None = None
    arxiv_id: str | None = None


@dataclass(frozen=True)
class BriefCadence:
    cadence: str | None  # "day", "week", or None for off


@dataclass(frozen=True)
class Ask:
    """`/radar ask <card | arXiv id> <question>`: a question about one paper.

    ``card`` is a card number as this channel last showed it; ``arxiv_id`` a
    paper's canonical arXiv id (no version). Exactly one is set.
    """

    question: str
    card: int | None = None
    arxiv_id: str | None = None


@dataclass(frozen=True)
class Like:
    """`/radar like <arXiv id | DOI | card number>`: a like chip for that paper.

    Exactly one of ``card`` (as this channel last showed it), ``arxiv_id``
    (canonical, no version) and ``doi`` (bare, lower case) is set.
    """

    card: int | None = None
    arxiv_id: str | None = None
    doi: str | None = None


@dataclass(frozen=True)
class Likes:
    """`/radar likes`: what the radar learned."""


@dataclass(frozen=True)
class Forget:
    """`/radar forget`: clear the learned part (feedback); chips stay."""


@dataclass(frozen=True)
class Saved:
    """`/radar saved [bibtex]`: the reading list."""

    bibtex: bool = False


@dataclass(frozen=True)
class Verdict:
    """A card's feedback button (or a Slack reaction): one person's verdict on
    one paper. ``kind`` is ``like``, ``dislike`` or ``save``; ``undo`` takes it
    back (a removed reaction). Never typed: built by ``bot.core.buttons``."""

    kind: str
    paper_key: str
    undo: bool = False
    source: str = "button"


@dataclass(frozen=True)
class SetSchedule:
    time: str | None  # "HH:MM"; None turns the daily digest off
    zone: str | None = None  # IANA name; None keeps the channel's or the default


@dataclass(frozen=True)
class SetCap:
    n: int


@dataclass(frozen=True)
class ShowSetting:
    """`/radar cap` or `/radar schedule` alone: what it is now, changing nothing."""

    name: str


Command = (
    Show
    | Help
    | AddChip
    | Pick
    | RemoveChip
    | ClearChips
    | RunDigest
    | Shuffle
    | Filter
    | Brief
    | BriefPaper
    | BriefCadence
    | Ask
    | Like
    | Likes
    | Forget
    | Saved
    | Verdict
    | SetSchedule
    | SetCap
    | ShowSetting
)

#: Commands that change what a channel's radar is or when it posts. Everything
#: else reads (show, help, digest, shuffle, filter) or asks (brief, ask).
CHANGES: tuple[type, ...] = (
    AddChip,
    Pick,
    RemoveChip,
    ClearChips,
    SetSchedule,
    SetCap,
    BriefCadence,
    Like,
    Forget,
)


def changes_radar(command: Command) -> bool:
    """Whether ``command`` changes the channel's radar, so it needs the
    ``[permissions]`` policy's consent (``bot.core.permissions``)."""
    return isinstance(command, CHANGES)


def names_sender(command: Command | None) -> bool:
    """Whether the reply to ``command`` depends on who sent it beyond their id:
    a change to the radar (checked against ``[permissions]``, announced with
    their name) or `/radar ask` (the answer says who asked). A platform looks
    the person up (name, admin) only for these."""
    return command is not None and (changes_radar(command) or isinstance(command, Ask))


def answers_privately(command: Command | None) -> bool:
    """Whether the reply to ``command`` is for its sender alone whatever happens:
    help, and a line that does not parse (None), whose reply is its error. A
    platform that must choose before running (Discord's deferral) asks this."""
    return command is None or isinstance(command, Help)


# -- parsing --------------------------------------------------------------------


def parse(line: str) -> Command:
    """Parse one command line (with or without the leading `/radar`)."""
    text = _clean(line)
    head, _, rest = text.partition(" ")
    if head.lower() in ("/radar", "radar"):
        text = rest.strip()
        head, _, rest = text.partition(" ")
    if not text:
        return Show()
    word = head.lower()
    word = ALIASES.get(word, word)
    rest = rest.strip()
    handler = _HANDLERS.get(word)
    if handler is None:
        hint = _intent_hint(word, rest)
        if hint is None:
            guess = difflib.get_close_matches(word, list(_HANDLERS), n=1, cutoff=0.6)
            hint = f"Did you mean `/radar {guess[0]}`?" if guess else ""
        raise UsageError(
            f"Unknown command `{_shorten(head)}`."
            + (f" {hint}" if hint else "")
            + " Try `/radar help`."
        )
    return handler(rest)


#: Words people reach for to subscribe or to stop, which are not commands:
#: a radar is its chips, and its digest has a schedule.
_ADD_WORDS = frozenset({"add", "subscribe", "follow", "watch", "track"})
_STOP_WORDS = frozenset({"unsubscribe", "stop", "pause", "mute", "unfollow", "unwatch"})


def _intent_hint(word: str, rest: str) -> str | None:
    """The command meant by an unknown ``word`` that says what to do, or None."""
    if word in _STOP_WORDS:
        return (
            "To stop the daily digest: `/radar schedule off`; to drop chips: "
            "`/radar remove <n>` or `/radar clear`."
        )
    if word not in _ADD_WORDS:
        return None
    kind, _, value = rest.partition(" ")
    kind = ALIASES.get(kind.lower(), kind.lower())
    if kind in ("author", "keyword", "category", "source", "like") and value.strip():
        return f"Did you mean `/radar {kind} {_shorten(value.strip(), 60)}`?"
    if word == "follow" and rest:
        return f"Did you mean `/radar author {_shorten(rest, 60)}`?"
    if rest and " " not in rest:
        try:  # `subscribe cs.CL`: a category, written as a chip takes it
            return f"Did you mean `/radar category {category_name(rest, 'category')}`?"
        except UsageError:
            pass
    return (
        "Add a chip with `/radar author <name>`, `/radar keyword <words>` or "
        "`/radar category cs.CL`."
    )


def _clean(line: str) -> str:
    if not isinstance(line, str):
        raise UsageError("A command must be text.")
    if len(line) > MAX_LINE:
        raise UsageError(
            f"That command is too long ({len(line):,} characters; the limit is {MAX_LINE:,})."
        )
    # The bot's own zero-width spaces, pasted back: its replies put one after
    # each dot of anything Slack would link (``cs.\u200bCL``: .cl is a
    # domain), so a category copied from a briefing is the category. What
    # remains is what the person sees; other invisible characters are refused.
    line = line.translate(_SMART_QUOTES).replace("\u200b", "")
    out = []
    for ch in line:
        # One notion of "control character" for typed input and records
        # (bot.core.safety.char_kind): typed ones are refused, not removed.
        kind = "space" if ch in "\u00a0\u3000" else char_kind(ch)
        if kind == "space":
            out.append(" ")
            continue
        if kind == "control":
            raise UsageError("That command contains control characters; please retype it.")
        if kind == "nontext":
            raise UsageError("That command contains characters that are not text.")
        out.append(ch)
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def _shorten(text: str, limit: int = 30) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _need(rest: str, command: str, what: str, limit: int = MAX_ARG) -> str:
    if not rest:
        raise UsageError(f"`/radar {command}` needs {what}.", USAGE[command])
    if len(rest) > limit:
        raise UsageError(
            f"That {command} is too long ({len(rest):,} characters; the limit is {limit}).",
            USAGE[command],
        )
    return rest


def split_terms(text: str, command: str) -> list[tuple[str, bool]]:
    """Split on spaces, keeping quoted phrases whole: [(term, was_quoted)].

    A phrase is in double quotes, or in single quotes when they wrap whole
    words (`'graph neural networks'`); an apostrophe inside or before a word
    (`Parkinson's`, `'90s`) stays part of the word.
    """
    terms: list[tuple[str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        prefix = ""
        if text[i] == "-" and i + 1 < n and text[i + 1] in "\"'":
            prefix, i = "-", i + 1
        end = _phrase_end(text, i, command)
        if end >= 0:
            phrase = " ".join(text[i + 1 : end].split())
            if not phrase:
                raise UsageError(
                    'An empty quoted phrase ("") says nothing to match.', USAGE.get(command, "")
                )
            terms.append((prefix + phrase, True))
            i = end + 1
            continue
        i -= len(prefix)  # a lone "-'" is an ordinary word
        j = i
        while j < n and text[j] != " ":
            if text[j] == '"' or (text[j] == "'" and j > i and text[j - 1] == ":"):
                # key:"a phrase" keeps its quotes; the value is split later.
                j = max(j, _phrase_end(text, j, command))
            j += 1
        terms.append((text[i:j], False))
        i = j
    return terms


def _unquoted(text: str) -> str:
    """``text`` without the quotes around it, when one pair wraps it whole."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _phrase_end(text: str, i: int, command: str) -> int:
    """Where the phrase quoted at ``text[i]`` ends, or -1 when no quote opens one."""
    if text[i] == '"':
        end = text.find('"', i + 1)
        if end < 0:
            raise UsageError(
                'There is an unbalanced quote (") in that command.', USAGE.get(command, "")
            )
        return end
    if text[i] == "'":
        # The first apostrophe that ends a word closes it: `'Parkinson's disease'`.
        for m in _SINGLE_CLOSE.finditer(text, i + 1):
            if m.start() > i + 1:
                return m.start()
    return -1


def _author(rest: str) -> Command:
    rest = _need(rest, "author", "a name")
    head, _, last = rest.rpartition(" ")
    ref = None
    if _ORCID.search(rest):
        raise UsageError(
            "ORCID iDs are not looked up here; follow the person by name: `/radar author <name>`.",
            USAGE["author"],
        )
    if _OPENALEX_AUTHOR.fullmatch(last):
        # The explicit form: `/radar author Joseph Mearman openalex:A5017898742`.
        ref = openalex_author(last, "author")
        rest = head.strip()
        if not rest:
            raise UsageError("`/radar author` needs a name before the id.", USAGE["author"])
    return AddChip(Chip(ChipKind.AUTHOR, author_name(rest, "author"), ref))


def openalex_author(raw: str, command: str) -> str:
    """``openalex:A5017898742`` (any case of the prefix), canonical, or a UsageError."""
    match = _OPENALEX_AUTHOR.fullmatch(raw.strip())
    if match is None:
        raise UsageError(
            f"`{_shorten(raw)}` is not an OpenAlex author id; they read like "
            "`openalex:A5017898742`.",
            USAGE[command],
        )
    return f"openalex:{match[1].upper()}"


def _pick(rest: str) -> Command:
    words = _need(rest, "pick", "a number from the list, or `name`").split()
    author_id = None
    if len(words) == 2:
        author_id = openalex_author(words[1], "pick").removeprefix("openalex:")
    elif len(words) != 1:
        raise UsageError("`/radar pick` takes one number, or `name`.", USAGE["pick"])
    word = words[0].lower()
    if word in ("name", "name-only", "none") and author_id is None:
        return Pick(None)
    if not is_number(word) or not 1 <= int(word) <= MAX_PICK:
        raise UsageError(
            f"`/radar pick` takes a number from the list (1 to {MAX_PICK}), or `name` "
            "to keep the name only.",
            USAGE["pick"],
        )
    return Pick(int(word), author_id)


def two_people_hint(name: str) -> str | None:
    """A hint when an author chip's name may be two people in one.

    "Yehui Tang, Jorg Frochte" parses as surname "Yehui Tang", given names
    "Jorg Frochte": one comma is how a single "Surname, Given" is written, and
    "García Márquez, Gabriel José" is one person, so it is not refused; when
    such a chip matches nothing, this says what may have happened.
    """
    surname, comma, given = name.partition(",")
    if comma and len(surname.split()) >= 2 and len(given.split()) >= 2:
        people = " and ".join(f"`/radar author {p.strip()}`" for p in (surname, given))
        return f"If that is two people, add each on its own: {people}."
    return None


def surname_only_hint(name: str) -> str | None:
    """A hint when an author chip's name is one word: a surname alone follows
    everyone of that name (every Zhang on arXiv), which is allowed (a lab may
    want just that) but rarely meant."""
    if len(name.split()) != 1 or "," in name:
        return None
    return (
        f"`{name}` alone follows every author with that surname; for one person, "
        f"add a given name or an initial, e.g. `/radar author Y. {name}`."
    )


#: Titles people put before a name; arXiv bylines never carry them.
_HONORIFICS = frozenset({"dr", "prof", "professor", "mr", "mrs", "ms", "mx"})


def author_name(raw: str, command: str) -> str:
    raw = _unquoted(raw.strip())  # 'Yehui Tang' quoted whole; O'Brien keeps its apostrophe
    name = " ".join(raw.replace('"', " ").split())
    # "Tang et al." copied from a citation: the person is Tang.
    name = _ET_AL.sub("", name) or name
    if "&" in name or ";" in name:
        _two_people(command)
    bad = sorted({ch for ch in name if not (ch.isalpha() or ch in " .-',")})
    if bad:
        shown = " ".join(f"`{c}`" for c in bad[:5])
        raise UsageError(
            f"An author name holds letters, spaces, hyphens, apostrophes and dots; not {shown}.",
            USAGE[command],
        )
    if not any(ch.isalpha() for ch in name):
        raise UsageError("An author name needs letters.", USAGE[command])
    if len(name) > 100 or len(name.split()) > 8:
        raise UsageError("That is too long for one person's name.", USAGE[command])
    words = name.split()
    if len(words) > 1 and words[0].rstrip(".").lower() in _HONORIFICS:
        # Bylines carry no titles: "Dr Yehui Tang" would read "Dr" as a given
        # name and match nobody's papers.
        rest = " ".join(words[1:])
        typed = f'author:"{rest}"' if command == "filter" else f"/radar author {rest}"
        raise UsageError(f"Leave out the title, bylines have none: `{typed}`.", USAGE[command])
    # "Tang, Yehui, Frochte" or "Yehui Tang and Jorg Frochte": two people.
    if name.count(",") > 1 or any(w.lower() in ("and", "or") for w in words[1:-1]):
        _two_people(command)
    return name.strip(" ,")


#: A citation's "et al." after a name.
_ET_AL = re.compile(r",? +et\.? +al\.?$", re.IGNORECASE)


def _two_people(command: str) -> NoReturn:
    one = (
        'One author per term, e.g. `author:"Yehui Tang" author:Frochte`.'
        if command == "filter"
        else "One author per chip: add each person with its own `/radar author`."
    )
    raise UsageError(one, USAGE[command])


def _keyword(rest: str) -> Command:
    rest = _need(rest, "keyword", 'words or a "phrase"')
    if (paper := arxiv_id(rest)) is not None:  # a link or id pasted: the paper is meant
        raise UsageError(
            f"`{_shorten(rest)}` is a paper, not words to watch for: for more papers like it, "
            f"`/radar like {paper}`.",
            USAGE["keyword"],
        )
    terms = split_terms(rest, "keyword")
    groups = _alternatives(terms)
    if len(groups) > 1:
        # "diffusion, transformers" means either; one chip needs all its words.
        then = ", then ".join(f"`/radar keyword {g}`" for g in groups[:4])
        if all(g.startswith("-") for g in groups):
            raise UsageError(f"One exclusion per chip: {then}.", USAGE["keyword"])
        raise UsageError(
            "A chip matches when all its words appear, and the radar takes a paper "
            f"that matches any chip: one chip per alternative, {then}.",
            USAGE["keyword"],
        )
    # A comma left at an end ("diffusion,") separates nothing.
    terms = [(t, q) if q else (t.strip(","), q) for t, q in terms if q or t.strip(",")]
    if not terms:
        raise UsageError("A keyword needs letters or digits.", USAGE["keyword"])
    parts: list[str] = []
    for term, quoted in terms:
        body = term[1:] if term.startswith("-") else term
        keyword_term(body, "keyword")
        parts.append(("-" if term.startswith("-") else "") + (f'"{body}"' if quoted else body))
    excluded = [p for p in parts if p.startswith("-")]
    if excluded and len(excluded) != len(parts):
        # An exclusion keeps a paper off the whole radar, not off this chip's
        # matches: one chip for both would read as "these words, but not
        # that", which is not what it would do. Separate chips say what they
        # do (each exclusion its own: the words of one chip must all appear).
        wanted = " ".join(p for p in parts if not p.startswith("-"))
        then = " and ".join(f"`/radar keyword {p}`" for p in excluded)
        raise UsageError(
            "An exclusion applies to the whole radar, so it is a chip of its own: "
            f"`/radar keyword {wanted}`, then {then}.",
            USAGE["keyword"],
        )
    if len(excluded) > 1:
        # Every term has its own minus, which everywhere else means "none of
        # these"; one chip of them would exclude only papers with all of them.
        then = ", then ".join(f"`/radar keyword {p}`" for p in excluded)
        raise UsageError(
            f"One exclusion per chip: {then} (in one chip they would exclude only papers "
            "that have them all).",
            USAGE["keyword"],
        )
    kind = ChipKind.EXCLUDE if excluded else ChipKind.KEYWORD
    value = " ".join(p.removeprefix("-") for p in parts)
    if set(tokenize(value)) <= _FUNCTION_WORDS:
        # "the" is in every abstract: the chip would put (or, as an
        # exclusion, keep) every paper on (off) the radar.
        raise UsageError(
            f"`{_shorten(value)}` is in nearly every abstract, so this chip would "
            f"{'exclude' if excluded else 'match'} every paper. Use the words of the topic.",
            USAGE["keyword"],
        )
    if kind is ChipKind.EXCLUDE and not value:
        raise UsageError(
            "`-` needs a word to exclude, e.g. `/radar keyword -survey`.", USAGE["keyword"]
        )
    return AddChip(Chip(kind, value))


def _alternatives(terms: list[tuple[str, bool]]) -> list[str]:
    """The alternatives in a keyword line, split at unquoted commas and "or"s
    (one, the line itself, when it has neither). Brackets that grouped them,
    as in a search box's ``(graph OR tree)``, are left out of each."""
    groups: list[list[str]] = [[]]
    for term, quoted in terms:
        if quoted:
            groups[-1].append(f'"{term}"')
        elif term.lower() == "or":
            groups.append([])
        else:
            first, *more = (piece.strip("()[]{}") for piece in term.split(","))
            groups[-1].append(first)
            groups.extend([piece] for piece in more)
    return [" ".join(w for w in g if w) for g in groups if any(g)]


def keyword_term(body: str, command: str) -> str:
    if not body or body == "-":
        raise UsageError("There is an empty term in that command.", USAGE[command])
    bad = sorted({ch for ch in body if ch in _QUERY_SYNTAX or ch == '"'})
    if bad:
        shown = " ".join(f"`{c}`" for c in bad[:5])
        raise UsageError(
            f"Keywords are matched literally; remove {shown} (search syntax is not needed).",
            USAGE[command],
        )
    words = tokenize(body) if "+" in body or "#" in body else ()
    if len(words) == 1 and len(words[0]) <= 2:
        # Text is matched word by word and symbols are not part of words, so
        # "C++" alone would be the bare letter c: a chip for every "Appendix C".
        example = '`"C++ code"`' if command == "filter" else '`/radar keyword "C++ code"`'
        raise UsageError(
            f"`{_shorten(body)}` would match the bare word `{words[0]}`: `+` and `#` are not "
            f"matched. Put it in a phrase, e.g. {example}.",
            USAGE[command],
        )
    for word in body.split():
        if word in _BOOLEAN_WORDS:
            _not_needed(word, command)
    if not any(ch.isalnum() for ch in body):
        # Matching is word by word, and a symbol or emoji is no word.
        raise UsageError(
            f"`{_shorten(body)}` has no letters or digits to match; leave it out.", USAGE[command]
        )
    return body


def _not_needed(word: str, command: str) -> NoReturn:
    """Refuse a boolean word: chips and filter terms combine without them."""
    how = (
        "a filter's terms must all hold; run one filter per alternative."
        if command == "filter"
        else "words in one chip must all appear, and separate chips are "
        "alternatives. Add one chip per alternative."
    )
    raise UsageError(f"`{word}` is not needed: {how}", USAGE[command])


def _category(rest: str) -> Command:
    return AddChip(Chip(ChipKind.CATEGORY, category_name(_need(rest, "category", "a category"))))


def category_name(raw: str, command: str = "category") -> str:
    raw = raw.strip().strip(",").rstrip(".")
    named = taxonomy.named(raw)
    if len(named) == 1:
        return named[0]  # "Computation and Language" is cs.CL
    if named:
        listed = " or ".join(f"`{cat}`" for cat in named)
        raise UsageError(f"`{_shorten(raw)}` is the name of {listed}; choose one.", USAGE[command])
    # `cs-CL`, `cs_CL`: the dot typed as another separator.
    fixed = _CATEGORY_SEPARATOR.sub(".", raw)
    if taxonomy.canonical(raw) is None and taxonomy.canonical(fixed) is not None:
        raw = fixed
    if " " in raw or "," in raw:
        one = (
            "One category per term, e.g. `cat:cs.CL cat:cs.LG`."
            if command == "filter"
            else "One category per chip, e.g. `/radar category cs.CL`."
        )
        raise UsageError(one, USAGE[command])
    canonical = taxonomy.canonical(raw)
    archive = taxonomy.archives().get(raw.lower()) if canonical is None else None
    if archive is not None:
        name, title, inside = archive
        if command == "filter":
            return name  # a view narrows by prefix: ``cat:cs`` is every cs.* paper
        # "cs" for all of computer science: say what a chip takes instead, and
        # name the archive's categories (a few, for the big archives).
        shown = ", ".join(f"`{c}`" for c in inside[:8])
        more = f" and {len(inside) - 8} more" if len(inside) > 8 else ""
        raise UsageError(
            f"`{name}` ({title}) is a whole arXiv archive; a chip takes one of its "
            f"{len(inside)} categories: {shown}{more}.",
            USAGE[command],
        )
    if canonical is None:
        common = taxonomy.COMMON_NAMES.get(raw.lower())
        guesses = (
            [common]
            if common
            else list(taxonomy.by_subject(raw))[:3]
            or [
                taxonomy.categories()[g]
                for g in difflib.get_close_matches(raw.lower(), list(taxonomy.categories()), n=3)
            ]
        )
        hint = ""
        if guesses:
            hint = (
                " Did you mean "
                + ", ".join(f"`{g}` ({taxonomy.names()[g]})" for g in guesses)
                + "?"
            )
        raise UsageError(f"`{_shorten(raw)}` is not an arXiv category.{hint}", USAGE[command])
    return canonical


#: The separator before a category's subject code, typed as ``-`` or ``_``.
_CATEGORY_SEPARATOR = re.compile(r"[-_](?=[A-Za-z]{2}$)")


def _source(rest: str) -> Command:
    return AddChip(Chip(ChipKind.SOURCE, source_name(_need(rest, "source", "a source"))))


def source_name(raw: str, command: str = "source") -> str:
    name = raw.strip().lower()
    if name not in KNOWN_SOURCES:
        raise UsageError(
            f"`{_shorten(raw)}` is not a source I know. Known: {', '.join(KNOWN_SOURCES)}.",
            USAGE[command],
        )
    return name


def _remove(rest: str) -> Command:
    rest = _need(rest, "remove", "a chip number or its text")
    if " ".join(rest.lower().split()) in _ALL | {"*", "all chips"}:
        raise UsageError("`/radar clear` removes every chip.", USAGE["remove"])
    if len(rest) >= 2 and rest[0] == rest[-1] == "'":
        rest = f'"{rest[1:-1]}"'  # a phrase in single quotes, as the keyword chip took it
    return RemoveChip(
        " ".join(rest.replace('"', " ").split()) if not rest.startswith('"') else rest
    )


def _no_args(
    command: str, factory: type, said: frozenset[str] = frozenset()
) -> Callable[[str], Command]:
    """A command without arguments; ``said``: words that only say what it does
    anyway (`clear all`), taken as the command alone."""

    def handler(rest: str) -> Command:
        if rest and " ".join(rest.lower().split()) not in said:
            raise UsageError(f"`/radar {command}` takes no arguments.", USAGE[command])
        return factory()  # type: ignore[no-any-return]

    return handler


#: "All of it", as people add it to a command that already does all.
_ALL = frozenset({"all", "everything"})


_clear_all = _no_args("clear", ClearChips, _ALL | {"all chips", "chips"})


def _clear(rest: str) -> Command:
    if re.fullmatch(r"[0-9][0-9, ]*", rest):
        # "clear 2": one chip is meant, and clear would take them all.
        which = f"chip {rest}" if is_number(rest) else f"chips {_shorten(rest)}"
        raise UsageError(
            f"`/radar clear` removes every chip; to remove {which} alone, "
            f"`/radar remove {_shorten(rest)}`.",
            USAGE["clear"],
        )
    return _clear_all(rest)


def _digest(rest: str) -> Command:
    # "post a digest now", as the help says it: "now" asks for nothing more.
    if rest.lower() not in ("", "now"):
        raise UsageError("`/radar digest` takes no arguments.", USAGE["digest"])
    return RunDigest()


def _shuffle(rest: str) -> Command:
    if not rest:
        return Shuffle()
    if not is_number(rest) or not 1 <= int(rest) <= MAX_SHUFFLE:
        raise UsageError(
            f"`/radar shuffle` takes a number from 1 to {MAX_SHUFFLE}.", USAGE["shuffle"]
        )
    return Shuffle(int(rest))


def _cap(rest: str) -> Command:
    if not rest:
        return ShowSetting("cap")
    if not is_number(rest) or not 1 <= int(rest) <= MAX_DIGEST_CAP:
        raise UsageError(f"`/radar cap` takes a number from 1 to {MAX_DIGEST_CAP}.", USAGE["cap"])
    return SetCap(int(rest))


def _filter(rest: str) -> Command:
    rest = _need(rest, "filter", "terms")
    since_days: int | None = None
    since_date: date | None = None
    authors: list[str] = []
    keywords: list[str] = []
    categories: list[str] = []
    sources: list[str] = []
    excludes: list[str] = []
    terms = split_terms(rest, "filter")
    while terms:
        term, quoted = terms.pop(0)
        if not quoted and terms and _continues(term, terms[0]):
            term = f"{term} {terms.pop(0)[0]}"
        if quoted:
            if term.startswith("-"):
                excludes.append(f'"{keyword_term(term[1:], "filter")}"')
            else:
                keywords.append(f'"{keyword_term(term, "filter")}"')
            continue
        key, colon, value = term.partition(":")
        if term.lower() == "or":  # a boolean word in any case, when it stands alone
            _not_needed(term, "filter")
        if not colon:
            if term.startswith("-"):
                excludes.append(keyword_term(term[1:], "filter"))
            else:
                keywords.append(keyword_term(term, "filter"))
            continue
        key = key.lower()
        key = _FILTER_KEYS.get(key, key)
        value = value.strip()
        value = _unquoted(value).strip()
        if not value:
            raise UsageError(f"`{_shorten(key)}:` needs a value.", USAGE["filter"])
        if key == "since":
            if since_days is not None or since_date is not None:
                raise UsageError(
                    "One `since:` per filter: the window it opens runs to today.", USAGE["filter"]
                )
            since_days, since_date = _since(value)
        elif key in ("before", "until", "to", "date"):
            raise UsageError(
                f"A filter's window runs from `since:` to today; `{_shorten(key)}:` sets no other "
                "end. E.g. `since:2026-06-01`.",
                USAGE["filter"],
            )
        elif key in ("author", "au"):
            authors.append(author_name(value, "filter"))
        elif key in ("keyword", "kw"):
            keywords.append(keyword_term(value, "filter"))
        elif key in ("category", "cat"):
            categories.append(category_name(value, "filter"))
        elif key == "source":
            sources.append(source_name(value, "filter"))
        elif key in ("title", "abstract", "ti", "abs"):
            raise UsageError(
                f"Keywords match the title and the abstract alike: `keyword:{_shorten(value)}`, "
                "or the words alone.",
                USAGE["filter"],
            )
        else:
            raise UsageError(
                f"`{_shorten(key)}:` is not a filter term. Use since:, author:, keyword:, "
                "category:, source:, or -word.",
                USAGE["filter"],
            )
    return Filter(
        FilterQuery(
            since_days,
            since_date,
            tuple(authors),
            tuple(keywords),
            tuple(categories),
            tuple(sources),
            tuple(excludes),
        )
    )


def _continues(term: str, after: tuple[str, bool]) -> bool:
    """Whether the filter term ``after`` is the rest of ``term``, split by a
    space: `author:Frochte, Jorg` (a "Surname, Given") or `since:7 days`."""
    text, quoted = after
    if quoted or ":" in text or text.startswith("-"):
        return False
    key, _, value = term.lower().partition(":")
    if key in ("author", "au"):
        return value.endswith(",")
    return key in ("since", "last") and value.isdigit() and bool(_SINCE.match(f"1{text.lower()}"))


def _since(value: str) -> tuple[int | None, date | None]:
    m = _SINCE.match(value.lower())
    if m:
        unit = m.group(2) or m.group(3) or m.group(4)
        n = int(m.group(1)) * {"d": 1, "w": 7, "m": 30}[unit]
        if not 1 <= n <= 3650:
            raise UsageError("`since:` must be between 1d and 10 years.", USAGE["filter"])
        return n, None
    try:
        if d := _DATE.match(value):
            return None, date(int(d[1]), int(d[2]), int(d[3]))
        return None, date.fromisoformat(value)
    except ValueError:
        raise UsageError(
            "`since:` takes a span like 7d, 2w, 3m or a date like 2026-06-01.", USAGE["filter"]
        ) from None


def _brief(rest: str) -> Command:
    words = rest.lower().split()
    if words == ["off"]:
        return BriefCadence(None)
    # "every week", or the one word people also write ("weekly"): a cadence, not a topic.
    cadence = None
    if words[:1] == ["every"] and len(words) <= 2:
        cadence = words[1] if len(words) == 2 else ""  # "every" alone: cut short
    elif len(words) == 1 and words[0] in ("daily", "weekly", "monthly"):
        cadence = words[0]
    if cadence is not None:
        if cadence in ("day", "daily"):
            return BriefCadence("day")
        if cadence in ("week", "weekly"):
            return BriefCadence("week")
        raise UsageError("Briefings can come `every day` or `every week`.", USAGE["brief"])
    if not rest:
        return Brief(None)
    # One card number or one arXiv id alone names a paper, never a topic (no
    # abstract is about "3"); any other words stay a topic.
    named = _card_word_dropped(rest)
    if card := _CARD.fullmatch(named):
        return BriefPaper(card=int(card[1]))
    if re.fullmatch(r"#?0+\.?", named):
        raise UsageError("Cards are numbered from 01; there is no card 00.", USAGE["brief"])
    if (paper := arxiv_id(rest)) is not None:
        return BriefPaper(arxiv_id=paper)
    if len(rest) > MAX_ARG:
        raise UsageError(
            f"That topic is too long (the limit is {MAX_ARG} characters).", USAGE["brief"]
        )
    # Phrases written one way ("a phrase", 'a phrase'): a briefing keeps to them.
    return Brief(" ".join(f'"{t}"' if quoted else t for t, quoted in split_terms(rest, "brief")))


#: Card numbers as cards show them (``02.``, ``#2``, ``2``).
_CARD = re.compile(r"#?0*([1-9][0-9]{0,2})\.?")
#: "card 2", "paper #2": the word people put before a card number.
_CARD_WORD = re.compile(r"(?:card|paper) +(?=#?[0-9])", re.IGNORECASE)


def _card_word_dropped(rest: str) -> str:
    """``rest`` without a leading "card" or "paper" before a number."""
    m = _CARD_WORD.match(rest)
    return rest[m.end() :] if m else rest


def _ask(rest: str) -> Command:
    # A question may take a few sentences: only the line's own limit holds.
    rest = _need(rest, "ask", "a card number or an arXiv id, then your question", MAX_LINE)
    rest = _card_word_dropped(rest)
    target, _, question = rest.partition(" ")
    question = question.strip()
    named = target.rstrip(":,;")  # `ask 2: why?` reads as `ask 2 why?`
    card = _CARD.fullmatch(named)
    paper = None if card else arxiv_id(named)
    if card is None and paper is None:
        raise UsageError(
            f"`{_shorten(target)}` is neither a card number nor an arXiv id; "
            "ask like `/radar ask 2 what data do they use?`.",
            USAGE["ask"],
        )
    if not question:
        raise UsageError(
            f"What would you like to know about `{_shorten(target)}`? Add your question.",
            USAGE["ask"],
        )
    if card is not None:
        return Ask(question, card=int(card[1]))
    return Ask(question, arxiv_id=paper)


def _like(rest: str) -> Command:
    rest = _card_word_dropped(_need(rest, "like", "a card number, an arXiv id or a DOI"))
    if _CARD.fullmatch(rest):
        return Like(card=int(_CARD.fullmatch(rest)[1]))  # type: ignore[index]
    paper = arxiv_id(rest)
    if paper is not None:
        return Like(arxiv_id=paper)
    doi = normalize_doi(rest)
    items = [x for x in re.split(r"[,\s]+", rest) if x]
    if (
        doi is None
        and len(items) > 1
        and all(_CARD.fullmatch(x) or arxiv_id(x) or normalize_doi(x) for x in items)
    ):
        then = ", then ".join(f"`/radar like {x}`" for x in items[:4])
        raise UsageError(f"One paper per like: {then}.", USAGE["like"])
    if doi is None:
        raise UsageError(
            f"`{_shorten(rest)}` is not a card number, an arXiv id or a DOI; "
            "like a paper with `/radar like 2604.26951`, `/radar like 10.7717/peerj.4375` "
            "or `/radar like 3`.",
            USAGE["like"],
        )
    return Like(doi=doi)


def _saved(rest: str) -> Command:
    word = rest.strip().lower()
    if word in ("", "list"):
        return Saved()
    if word in ("bibtex", "bib"):
        return Saved(bibtex=True)
    raise UsageError("`/radar saved` takes nothing or `bibtex`.", USAGE["saved"])


#: Words around a schedule's time that every schedule means anyway.
_SCHEDULE_FILLER = frozenset({"at", "daily", "every", "each", "day", "everyday"})
#: Cadences other than daily (any trailing "s" dropped): not a schedule's.
_CADENCES = frozenset(
    {"weekday", "weekly", "week", "weekend", "monthly"}
    | {f"{d}day" for d in ("mon", "tues", "wednes", "thurs", "fri", "satur", "sun")}
)


def _schedule(rest: str) -> Command:
    if not rest:
        return ShowSetting("schedule")
    rest = _twelve_hour(_need(rest, "schedule", "a time like 09:00"))
    words = rest.split()
    if any(w.lower().rstrip("s") in _CADENCES for w in words):
        raise UsageError(
            "Digests come every day at one time, and a day without new papers posts "
            "nothing new (arXiv announces five days a week); a schedule is a time and a "
            "time zone, e.g. `/radar schedule 09:00 Europe/Berlin`.",
            USAGE["schedule"],
        )
    # "every day at 9am", "daily 09:00": the words say what every schedule is.
    parts = [w for w in words if w.lower() not in _SCHEDULE_FILLER] or words
    if [p.lower() for p in parts] == ["off"]:
        return SetSchedule(None, None)
    if len(parts) > 2:
        # A zone written with spaces ("America/New York", "new york") is one
        # zone; anything else after the time is more than a schedule takes.
        spaced = " ".join(parts[1:])
        zone = _zones().get("_".join(parts[1:]).lower())
        if zone is None and not _city_zones(spaced) and spaced.lower() not in _PLACES:
            raise UsageError(
                "A schedule is a time and a time zone, e.g. `/radar schedule 09:00 Asia/Shanghai`.",
                USAGE["schedule"],
            )
        parts = [parts[0], zone or spaced]  # a city alone: ``time_zone`` suggests its zone
    if len(parts) == 2 and not _TIME.match(parts[0]) and _TIME.match(parts[1]):
        parts.reverse()  # "Europe/Berlin 09:00": the zone first
    m = _TIME.match(parts[0])
    if not m and re.fullmatch(r"[01]?\d|2[0-3]", parts[0]):
        # An hour alone: 9 may be the morning or the evening.
        hour = int(parts[0])
        said = (
            f"`{hour:02d}:00` or `{hour}am`, `{hour + 12}:00` or `{hour}pm`"
            if 1 <= hour <= 11
            else f"`{hour:02d}:00`"
        )
        raise UsageError(f"`{parts[0]}` alone is no time; write {said}.", USAGE["schedule"])
    if not m:
        raise UsageError(
            f"`{_shorten(parts[0])}` is not a time of day; use 24-hour HH:MM or 9am.",
            USAGE["schedule"],
        )
    time = f"{int(m.group(1)):02d}:{m.group(2)}"
    zone = time_zone(parts[1]) if len(parts) == 2 else None
    return SetSchedule(time, zone)


def _twelve_hour(rest: str) -> str:
    """``9am``, ``9:30 pm``, ``12 a.m.`` as 24-hour HH:MM; anything else unchanged."""
    m = _TWELVE_HOUR.search(rest)  # first or after the zone
    if not m:
        return rest
    hour, minute = int(m.group(1)), m.group(2) or "00"
    if not 1 <= hour <= 12:
        raise UsageError(
            f"`{_shorten(m.group(0))}` is not a time of day: 12-hour times go from 1 to 12.",
            USAGE["schedule"],
        )
    hour = hour % 12 + (12 if m.group(3).lower() == "p" else 0)
    return f"{rest[: m.start()]}{hour:02d}:{minute}{rest[m.end() :]}"


def time_zone(raw: str) -> str:
    """The canonical IANA name for ``raw`` (case-insensitive), or a UsageError."""
    zones = _zones()
    canonical = zones.get(raw.lower())
    said = " ".join(raw.lower().split())
    if said in _ABBREVIATIONS and (canonical is None or canonical in _FIXED_ZONES):
        # "PST", "CST": what people say. EST is an IANA name too, but fixed
        # at UTC-5 all year: a New York digest would move by an hour.
        raise UsageError(
            f"`{_shorten(raw)}` is an abbreviation, which names no zone (or one fixed all "
            f"year, summer included); use {_listed(_ABBREVIATIONS[said])}.",
            USAGE["schedule"],
        )
    if said in _PLACES:
        raise UsageError(
            f"`{_shorten(raw)}` is a place, not a zone name; its zone: {_listed(_PLACES[said])}.",
            USAGE["schedule"],
        )
    if offset := _OFFSET.fullmatch(raw.strip()):
        etc = ""
        if offset[3] in (None, "00"):
            etc = (
                f"; for the offset itself, `Etc/GMT{'-' if offset[1] == '+' else '+'}"
                f"{int(offset[2])}` (POSIX's sign, reversed)"
            )
        raise UsageError(
            f"`{_shorten(raw)}` is a fixed offset; a city's zone (e.g. Europe/Berlin) follows "
            f"daylight saving{etc}.",
            USAGE["schedule"],
        )
    if canonical is not None:
        try:
            ZoneInfo(canonical)
            return canonical
        except (ValueError, OSError):
            pass
    # A city alone ("Berlin", "new york") names its zone's last part.
    guesses = _city_zones(raw)[:3] or [
        zones[g] for g in difflib.get_close_matches(raw.lower(), list(zones), n=2, cutoff=0.7)
    ]
    hint = (" Did you mean " + " or ".join(f"`{g}`" for g in guesses) + "?") if guesses else ""
    raise UsageError(
        f"`{_shorten(raw)}` is not a time zone I know; use an IANA name like Europe/Berlin.{hint}",
        USAGE["schedule"],
    )


_ZONES: dict[str, str] = {}
_CITIES: dict[str, list[str]] = {}
#: IANA's legacy zones with one offset all year, named like their regions' clocks.
_FIXED_ZONES = frozenset({"EST", "MST", "HST"})
#: Zone abbreviations people use, and the zones they mean.
_ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "est": ("America/New_York",),
    "edt": ("America/New_York",),
    "et": ("America/New_York",),
    "cst": ("America/Chicago", "Asia/Shanghai"),
    "cdt": ("America/Chicago",),
    "mst": ("America/Denver", "America/Phoenix"),
    "mdt": ("America/Denver",),
    "pst": ("America/Los_Angeles",),
    "pdt": ("America/Los_Angeles",),
    "pt": ("America/Los_Angeles",),
    "hst": ("Pacific/Honolulu",),
    "bst": ("Europe/London",),
    "ist": ("Asia/Kolkata", "Europe/Dublin"),
    "cest": ("Europe/Berlin", "Europe/Paris"),
    "jst": ("Asia/Tokyo",),
    "kst": ("Asia/Seoul",),
    "aest": ("Australia/Sydney",),
    "aedt": ("Australia/Sydney",),
}
#: Places people name that no zone is named after.
_PLACES: dict[str, tuple[str, ...]] = {
    "beijing": ("Asia/Shanghai",),
    "china": ("Asia/Shanghai",),
    "shenzhen": ("Asia/Shanghai",),
    "hangzhou": ("Asia/Shanghai",),
    "india": ("Asia/Kolkata",),
    "delhi": ("Asia/Kolkata",),
    "bangalore": ("Asia/Kolkata",),
    "japan": ("Asia/Tokyo",),
    "korea": ("Asia/Seoul",),
    "boston": ("America/New_York",),
    "san francisco": ("America/Los_Angeles",),
    "seattle": ("America/Los_Angeles",),
}
#: ``UTC+2``, ``GMT-5``, ``UTC+05:30``: an offset, not a place.
_OFFSET = re.compile(r"(?:utc|gmt) ?([+-]) ?(\d{1,2})(?::?([0-5]\d))?", re.IGNORECASE)


def _listed(zones: tuple[str, ...]) -> str:
    return " or ".join(f"`{z}`" for z in zones)


def _city_zones(raw: str) -> list[str]:
    """The zones whose last part is the city ``raw`` (any casing, spaces or
    underscores): ``Berlin`` -> Europe/Berlin. Suggested, never chosen: a
    city may name several zones."""
    if not _CITIES:
        for zone in sorted(_zones().values()):
            if "/" in zone and not zone.startswith(("Etc/", "SystemV/")):
                _CITIES.setdefault(zone.rsplit("/", 1)[1].lower(), []).append(zone)
    return _CITIES.get("_".join(raw.split()).lower(), [])


def _zones() -> dict[str, str]:
    if not _ZONES:
        _ZONES.update({z.lower(): z for z in available_timezones()})
        _ZONES.setdefault("utc", "UTC")
    return _ZONES


def _help(rest: str) -> Command:
    topic = rest.strip().lower() or None
    if topic:
        # `help /radar filter`: the command as it is typed.
        head, _, tail = topic.partition(" ")
        if head in ("/radar", "radar"):
            topic = tail.strip() or None
    if topic:
        topic = ALIASES.get(topic, topic)
        if topic not in USAGE:
            guess = difflib.get_close_matches(topic, list(USAGE), n=1, cutoff=0.6)
            hint = f" Did you mean `/radar help {guess[0]}`?" if guess else ""
            raise UsageError(f"No help for `{_shorten(topic)}`.{hint} Try `/radar help`.")
    return Help(topic)


_HANDLERS = {
    "author": _author,
    "pick": _pick,
    "keyword": _keyword,
    "category": _category,
    "source": _source,
    "remove": _remove,
    "clear": _clear,
    "digest": _digest,
    "shuffle": _shuffle,
    "filter": _filter,
    "brief": _brief,
    "ask": _ask,
    "like": _like,
    "likes": _no_args("likes", Likes),
    "forget": _no_args("forget", Forget, _ALL),
    "saved": _saved,
    "schedule": _schedule,
    "cap": _cap,
    "help": _help,
    "show": _no_args("", Show),
}
