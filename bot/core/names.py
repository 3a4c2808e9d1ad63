"""Author names: parsing bylines and chips, and deciding "is this the same person?".

An author chip is a promise to a researcher: "every paper by this person, and
not a pile of papers by their namesakes". Bylines are messy (``Tang, Yehui``,
``Y. Tang``, ``YEHUI TANG``, ``Jörg``/``Joerg``/``Jorg``, ``Ming-Chang`` vs
``Mingchang``), so the comparison is tolerant about *spelling* and strict about
*identity*. The full policy, with examples, is in ``docs/matching.md``; in short:

* Spelling: case, accents and transliteration never matter. Each token gets a
  set of variant keys (NFKD without combining marks, ``ß``->``ss``, ``ø``->``o``,
  ``æ``->``ae``, ``œ``->``oe``, ``ł``->``l``, ``đ``->``d``, ``ı``->``i``,
  ``þ``->``th``; German ``ä``/``ö``/``ü`` give both ``a`` and ``ae`` ...) and two
  tokens agree when any variant agrees. So ``Jörg`` matches ``Joerg`` and
  ``Jorg``, but ``Joerg`` and ``Jorg`` (two ASCII spellings) do not match each
  other.
* Surnames must agree, ignoring hyphens and spaces inside them
  (``Schmidt-Hieber`` = ``Schmidt Hieber``) and, optionally, particles
  (``van der Waals`` = ``Waals``; see :data:`PARTICLES`).
* Given names: a chip with a full first name only matches bylines with the same
  full first name (``Yehui Tang`` never matches ``Y. Tang``, which is as likely
  Yang or Yu Tang). A chip typed with an initial opts into the broad match
  (``Y. Tang`` matches any Tang whose first given name starts with Y). Middle
  names may be missing on either side, but when both sides have them they must
  agree in order. Hyphens and spaces inside given names don't matter
  (``Ming-Chang`` = ``Mingchang`` = ``Ming Chang``), although a hyphenated name
  is one name (``Jean-Pierre`` does not match ``Jean``).
* Order: ``Tang, Yehui`` (comma: surname first) and ``Tang Y.`` (trailing
  initials) are read surname-first. A bare two-word name like ``Tang Yehui`` is
  read both ways, because Chinese, Japanese, Korean and Hungarian names appear in
  either order on arXiv. A name of three or more words may also carry a
  two-word surname (``Eloy Mosig García`` = ``Mosig García, Eloy``).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from bot.core.text import SPECIAL_FOLDS

#: Lower-case words that, before a surname, belong to it (``van der Waals``).
PARTICLES = frozenset(
    {
        "van", "von", "de", "der", "den", "da", "di", "del", "della", "des",
        "le", "la", "du", "dos", "das", "bin", "ibn", "al", "el", "ter", "ten",
    }
)  # fmt: skip

#: Generational suffixes, dropped wherever they appear at the end or after a comma.
SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})

_SPECIAL_TABLE = str.maketrans(SPECIAL_FOLDS)
_UMLAUTS = {"ä": "a", "ö": "o", "ü": "u"}
#: Above this many umlauts in one token, only the all-short and all-long spellings are kept.
_MAX_UMLAUT_COMBINATIONS = 3


def _fold_plain(text: str) -> str:
    """Fold one spelling to its key: lower case, no accents, letters and digits only."""
    if text.isascii():  # nothing to translate or decompose (most names)
        return _alnum(text)
    text = text.translate(_SPECIAL_TABLE)
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if c.isalnum() and not unicodedata.combining(c))


@lru_cache(maxsize=1 << 16)
def variant_keys(token: str) -> frozenset[str]:
    """All keys a token may be written as: ``Müller`` -> {``muller``, ``mueller``}.

    German umlauts are written either way (``ü`` or ``ue``), and a byline may use
    either, so both are keys; a plain ``ue`` in the text is *not* expanded back
    to ``ü`` (that would make ``Mueller`` and ``Muller`` match, which no German
    reader would accept).
    """
    if token.isascii():  # most tokens: nothing to compose, no umlaut, casefold is lower
        key = _alnum(token.lower())
        return frozenset({key}) if key else frozenset()
    text = unicodedata.normalize("NFC", token).casefold()
    positions = [i for i, c in enumerate(text) if c in _UMLAUTS]
    if not positions:
        key = _fold_plain(text)
        return frozenset({key}) if key else frozenset()
    if len(positions) > _MAX_UMLAUT_COMBINATIONS:
        choices: list[tuple[bool, ...]] = [
            (False,) * len(positions),
            (True,) * len(positions),
        ]
    else:
        choices = list(itertools.product((False, True), repeat=len(positions)))
    keys: set[str] = set()
    for choice in choices:
        chars = list(text)
        for pos, long_form in zip(positions, choice, strict=True):
            base = _UMLAUTS[chars[pos]]
            chars[pos] = base + "e" if long_form else base
        key = _fold_plain("".join(chars))
        if key:
            keys.add(key)
    return frozenset(keys)


# --- parsed structure -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NamePart:
    """One piece of a given name between hyphens: a full name or an initial."""

    keys: frozenset[str]
    initial: bool

    @property
    def letter(self) -> str:
        """First letter (all variants of a part share it)."""
        return min(self.keys)[0]


@dataclass(frozen=True, slots=True)
class GivenWord:
    """One given name as written: ``Yehui``, ``Y.``, ``Ming-Chang`` (two parts)."""

    parts: tuple[NamePart, ...]
    keys: frozenset[str]  # variants of all parts joined; empty when any part is an initial

    @property
    def full(self) -> bool:
        """True when no part is an initial."""
        return bool(self.keys)

    @property
    def letter(self) -> str:
        return self.parts[0].letter


@dataclass(frozen=True, slots=True)
class Reading:
    """One way to read a name: these given names, this surname.

    A name can have several readings (``Tang Yehui`` is Yehui of the Tang family
    or Tang of the Yehui family); two names match when some pair of readings does.
    """

    given: tuple[GivenWord, ...]
    surname: frozenset[str]  # variant keys; hyphens, spaces and optionally particles ignored
    given_concat: frozenset[str]  # keys of all given names joined; empty if any is an initial

    def __hash__(self) -> int:
        """Equal readings have equal surnames, and a frozenset keeps its hash: so
        de-duplicating a name's readings costs no walk through its given names."""
        return hash(self.surname)


@dataclass(frozen=True, slots=True)
class AuthorName:
    """A parsed author name with the variant keys used to compare and index it.

    ``text`` is the input as typed; ``given`` and ``surname`` are the display
    pieces of the primary reading (``Tang, Yehui`` -> (``Yehui``,), ``Tang``).
    """

    text: str
    given: tuple[str, ...]
    surname: str
    readings: tuple[Reading, ...]

    def __hash__(self) -> int:
        """Equal names have equal texts, and a string keeps its hash: a name is a
        dict key wherever chips are indexed, and this spares walking its readings."""
        return hash(self.text)

    @property
    def keys(self) -> frozenset[str]:
        """Every surname key of every reading: the keys the radar index files a name
        under; whenever two names match, their key sets intersect."""
        return frozenset().union(*(r.surname for r in self.readings))

    @property
    def initials_only(self) -> bool:
        """True when the first given name is an initial (``Y. Tang``): the broad match."""
        given = self.readings[0].given
        return bool(given) and not given[0].full


# --- parsing -----------------------------------------------------------------------

_HYPHENS = re.compile(r"[-\u2010\u2011\u2012\u2013\u2014]+")
_DOTTED = re.compile(r"[^.]+\.?")


#: Everything but letters and digits: ``[^\W_]`` is exactly ``str.isalnum``.
_NOT_ALNUM = re.compile(r"[\W_]+")
#: One letter or digit.
_ALNUM = re.compile(r"[^\W_]")


def _alnum(text: str) -> str:
    """``text``'s letters and digits; most words are nothing else, and
    ``str.isalnum`` says so far faster than the substitution finds nothing."""
    return text if text.isalnum() else _NOT_ALNUM.sub("", text)


def _has_alnum(text: str) -> bool:
    """Whether ``text`` has a letter or digit (``_alnum(text) != ""``, without building it)."""
    return _ALNUM.search(text) is not None


def _is_suffix(word: str) -> bool:
    return _alnum(word).casefold() in SUFFIXES


def _is_particle(word: str) -> bool:
    return "-" not in word and _alnum(word).casefold() in PARTICLES


def _split_words(text: str) -> list[str]:
    """Whitespace words, with dotted initials split (``J.R.R.`` -> J. R. R.; ``Y.Tang``)."""
    out: list[str] = []
    for chunk in text.split():
        if chunk.isalnum():  # most words: no hyphen, no dot, nothing to drop
            out.append(chunk)
        elif _HYPHENS.search(chunk):
            parts = [p for p in _HYPHENS.split(chunk) if _has_alnum(p)]
            if parts:
                out.append("-".join(parts))
        else:
            out.extend(piece for piece in _DOTTED.findall(chunk) if _has_alnum(piece))
    return out


def _is_initial_part(part: str) -> bool:
    return len(_alnum(part)) == 1


def _is_initial_word(word: str) -> bool:
    if word.isalnum():  # one part, nothing to drop (most words)
        return len(word) == 1
    return all(_is_initial_part(p) for p in word.split("-"))


def _name_part(raw: str, keys: frozenset[str]) -> NamePart:
    """The part ``raw`` with its variant ``keys``: an initial keeps their first letters."""
    if _is_initial_part(raw):
        return NamePart(frozenset(k[0] for k in keys), True)
    return NamePart(keys, False)


@lru_cache(maxsize=1 << 14)
def _given_word(word: str) -> GivenWord | None:
    """One given name parsed; cached: a day's bylines and chips repeat a few
    thousand given names, and one shared object each is less for the cyclic
    collector to walk than tens of thousands of copies."""
    if "-" not in word:
        # One part (most given names): the word's keys are the part's keys and,
        # unless it is an initial, the joined keys too (what the loop below gives).
        keys = variant_keys(word)
        if not keys:
            return None
        part = _name_part(word, keys)
        return GivenWord((part,), frozenset() if part.initial else keys)
    parts = [_name_part(raw, keys) for raw in word.split("-") if (keys := variant_keys(raw))]
    if not parts:
        return None
    joined = frozenset() if any(p.initial for p in parts) else variant_keys(word.replace("-", ""))
    return GivenWord(tuple(parts), joined)


@lru_cache(maxsize=1 << 14)
def _given_words(words: tuple[str, ...]) -> tuple[GivenWord, ...]:
    """A reading's given names parsed, the unparseable dropped; cached like
    ``_given_word``, so that readings with the same given names (every
    "Yehui ..." of a day) share one tuple."""
    return tuple(filter(None, map(_given_word, words)))


def _surname_keys(words: list[str]) -> frozenset[str]:
    """Keys of a surname: all words joined, plus the same without particles."""
    if len(words) == 1 and "-" not in words[0]:
        return variant_keys(words[0])  # with or without its particles, the word itself
    keys = set(variant_keys("".join(words).replace("-", "")))
    core: list[str] = []
    for word in words:
        if _is_particle(word):
            continue
        pieces = word.split("-")
        if len(pieces) > 1 and pieces[0].casefold() in PARTICLES:  # Al-Afandi
            pieces = pieces[1:]
        core.append("".join(pieces))
    if core:
        keys |= variant_keys("".join(core))
    return frozenset(keys)


def _reading(given_words: list[str], surname_words: list[str]) -> Reading | None:
    surname = _surname_keys(surname_words)
    if not surname:
        return None
    given = _given_words(tuple(given_words))
    concat: frozenset[str] = frozenset()
    if len(given) == len(given_words) == 1:
        concat = given[0].keys  # what the join below gives (empty for an initial)
    elif given and all(g.full for g in given):
        concat = variant_keys("".join(given_words).replace("-", ""))
    return Reading(given, surname, concat)


def _drop_suffixes(words: list[str]) -> list[str]:
    while len(words) > 1 and _is_suffix(words[-1]):
        words = words[:-1]
    return words


@lru_cache(maxsize=1 << 16)
def parse_name(text: str) -> AuthorName:
    """Parse a byline or chip name; raises ``ValueError`` if it has no letters.

    Accepted shapes: ``Yehui Tang``, ``Tang, Yehui``, ``Y. Tang``, ``Y Tang``,
    ``Tang Y.``, ``Jean-Pierre Dupont``, ``Johannes van der Waals``,
    ``Waals, Johannes van der``, ``Martin Luther King Jr.``, ``King, Martin, Jr.``.
    """
    # Whitespace runs to one space (str.split's whitespace is exactly re's \s).
    clean = " ".join(unicodedata.normalize("NFC", text).split())
    if not _has_alnum(clean):
        raise ValueError(f"not an author name: {text!r}")
    if "," in clean:
        segments = [s.strip() for s in clean.split(",")]
        segments = [s for s in segments if _has_alnum(s) and not _is_suffix(s)]
    else:
        segments = [clean]  # no need to test it for a suffix: its words are read either way
    readings: list[Reading | None] = []
    given_words: list[str]
    surname_words: list[str]

    if len(segments) >= 2:
        # "Surname, Given": explicit, so only one reading.
        surname_words = _drop_suffixes(_split_words(segments[0]))
        given_words = _drop_suffixes(_split_words(" ".join(segments[1:])))
        while given_words and _is_particle(given_words[-1]):  # "Waals, Johannes van der"
            surname_words.insert(0, given_words.pop())
        readings.append(_reading(given_words, surname_words))
    else:
        words = _drop_suffixes(_split_words(segments[0] if segments else clean))
        if not words:
            raise ValueError(f"not an author name: {text!r}")
        n = len(words)
        is_initial = [_is_initial_word(w) for w in words]
        if n >= 2 and not is_initial[0] and all(is_initial[1:]):
            # "Tang Y." / "Tang Y H": no surname is an initial, so the surname came first.
            given_words, surname_words = words[1:], words[:1]
            readings.append(_reading(given_words, surname_words))
        else:
            start = n - 1
            while start >= 2 and _is_particle(words[start - 1]):
                start -= 1  # keep at least one given name: "Van Nguyen" is Van of the Nguyens
            given_words, surname_words = words[:start], words[start:]
            readings.append(_reading(given_words, surname_words))
            if n == 2 and not any(is_initial):
                # "Tang Yehui": also read surname-first.
                readings.append(_reading(words[1:], words[:1]))
            if n >= 3 and start == n - 1 and not is_initial[-2]:
                # "Eloy Mosig García": the surname may be the last two words.
                readings.append(_reading(words[:-2], words[-2:]))

    kept = tuple(dict.fromkeys(filter(None, readings)))  # drop the Nones, then duplicates
    if not kept:
        raise ValueError(f"not an author name: {text!r}")
    return AuthorName(
        text=clean,
        given=tuple(given_words),
        surname=" ".join(surname_words),
        readings=kept,
    )


# --- matching ------------------------------------------------------------------------


def _parts_agree(a: NamePart, b: NamePart) -> bool:
    if a.initial or b.initial:
        return a.letter == b.letter
    return not a.keys.isdisjoint(b.keys)


def _words_agree(a: GivenWord, b: GivenWord) -> bool:
    """Two given names agree: equal full names, or initials consistent with them."""
    if a.full and b.full:
        return not a.keys.isdisjoint(b.keys)
    if len(a.parts) == len(b.parts):
        return all(_parts_agree(x, y) for x, y in zip(a.parts, b.parts, strict=True))
    # "J." against "Jean-Pierre": a lone initial stands for the whole name.
    short = (
        a if not a.full and len(a.parts) == 1 else b if not b.full and len(b.parts) == 1 else None
    )
    return short is not None and a.letter == b.letter


def _given_agree(chip: tuple[GivenWord, ...], byline: tuple[GivenWord, ...]) -> bool:
    """The given-name rule (chip side first: only the chip may opt into initials)."""
    if not chip:
        return True  # a surname-only chip is the broadest opt-in
    if not byline:
        return False  # a surname-only byline could be anyone
    first_c, first_b = chip[0], byline[0]
    if first_c.full and not first_b.full:
        return False  # "Yehui Tang" must not match "Y. Tang"
    if not _words_agree(first_c, first_b):
        return False
    rest_c, rest_b = chip[1:], byline[1:]
    shorter, longer = (rest_c, rest_b) if len(rest_c) <= len(rest_b) else (rest_b, rest_c)
    # Middle names: the shorter list must appear in order inside the longer one.
    # Greedy earliest matching is optimal for in-order embedding.
    it = iter(longer)
    return all(any(_words_agree(word, other) for other in it) for word in shorter)


def _readings_agree(chip: Reading, byline: Reading) -> bool:
    if chip.surname.isdisjoint(byline.surname):
        return False
    if chip.given_concat and not chip.given_concat.isdisjoint(byline.given_concat):
        return True  # "Ming Chang" = "Ming-Chang" = "Mingchang"
    return _given_agree(chip.given, byline.given)


def author_matches(chip_name: AuthorName, byline: AuthorName) -> bool:
    """Whether a byline is the person an author chip names (policy in the module doc).

    Not symmetric on purpose: an initial in the *chip* widens the match, an
    initial in the *byline* never does.
    """
    # Plain loops, not any() over a generator: the index calls this for every
    # candidate, and most reading pairs fail on the surname without a call.
    for c in chip_name.readings:
        for b in byline.readings:
            if not c.surname.isdisjoint(b.surname) and _readings_agree(c, b):
                return True
    return False


def person_keys(name: AuthorName) -> frozenset[str]:
    """``surname/initial`` keys of every reading with a given name (``tang/y``).

    Evidence that a paper is by a followed person's circle (a shared co-author)
    needs more than a surname: "Wang" alone would confirm half the namesakes
    in a field. A name with no given name gives no key.
    """
    return frozenset(
        f"{surname}/{reading.given[0].letter}"
        for reading in name.readings
        if reading.given
        for surname in reading.surname
    )
