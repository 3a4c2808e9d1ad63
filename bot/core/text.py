"""Text normalisation for matching: folding, LaTeX cleanup, tokens, plural folding.

Keyword chips are compared with titles and abstracts as *token sequences*, not
substrings, so ``ai`` never matches inside ``said``. Both sides go through the
same pipeline, which is why it lives here once:

1. LaTeX-ish markup is unwrapped (``$\\mathcal{O}(n)$`` -> ``O (n)``,
   ``\\textbf{diffusion}`` -> ``diffusion``, ``Schr\\"{o}dinger`` ->
   ``Schrodinger``), because arXiv abstracts are full of it and a chip typed as
   plain words must still find them.
2. Characters are folded: case-folded (``ß`` -> ``ss``), a few letters that
   Unicode does not decompose are spelled out (``ø`` -> ``o``, ``æ`` -> ``ae``,
   ``ł`` -> ``l`` ...), then NFKD with combining marks dropped (``é`` -> ``e``).
3. Apostrophes are deleted rather than split on (``teacher's`` -> ``teachers``),
   so a possessive behaves like the light plural below instead of leaving a
   stray ``s`` token that would break a phrase.
4. Tokens are maximal runs of letters and digits; everything else separates
   (``state-of-the-art`` -> ``state of the art``, ``GPT-4`` -> ``gpt 4``).

Light plural folding (:func:`word_forms`): two tokens agree when they are equal
or one is the other plus ``s`` or ``es`` (``llm``/``llms``,
``network``/``networks``, ``class``/``classes``), provided the shorter one has
at least two characters (so ``a``/``as`` and ``i``/``is`` stay apart). It is
deliberately symmetric: a chip typed in the plural still finds the singular.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: Letters NFKD leaves alone but a reader treats as plain Latin letters.
SPECIAL_FOLDS: dict[str, str] = {
    "ß": "ss",
    "ẞ": "ss",
    "ø": "o",
    "Ø": "o",
    "æ": "ae",
    "Æ": "ae",
    "œ": "oe",
    "Œ": "oe",
    "ł": "l",
    "Ł": "l",
    "đ": "d",
    "Đ": "d",
    "ð": "d",
    "Ð": "d",
    "ı": "i",
    "þ": "th",
    "Þ": "th",
    "ħ": "h",
    "ŧ": "t",
}
_SPECIAL_TABLE = str.maketrans(SPECIAL_FOLDS)
_APOSTROPHES = str.maketrans({"'": None, "\u2019": None, "\u02bc": None, "`": None})

#: Minimum length of the shorter word for plural folding to apply.
PLURAL_MIN_BASE = 2

# --- LaTeX cleanup --------------------------------------------------------------

# Accent commands that take one letter: \'e, \"o, \"{o}, {\"o}, \^{i}, \~n ...
_SYMBOL_ACCENT = re.compile(r"\\[`'^\"~=.]\s*(?:\{\s*\\?([A-Za-z])\s*\}|\\?([A-Za-z]))")
# Letter-named accents only with braces, so \cdot or \bar are not eaten: \v{c}, \c{c}
_LETTER_ACCENT = re.compile(r"\\[uvHckrbd]\s*\{\s*\\?([A-Za-z])\s*\}")
# Letters written as commands inside words: \o, \l, \ss, \ae, \oe, \i
_LETTER_COMMANDS = {
    "ss": "ss",
    "o": "o",
    "O": "o",
    "l": "l",
    "L": "l",
    "ae": "ae",
    "AE": "ae",
    "oe": "oe",
    "OE": "oe",
    "i": "i",
    "j": "j",
    "aa": "a",
    "AA": "a",
}
# ({\o} or \o; a control word swallows one following space or {}, as TeX does)
_LETTER_NAMES = "ss|o|O|l|L|ae|AE|oe|OE|i|j|aa|AA"
_LETTER_COMMAND = re.compile(
    rf"\{{\\({_LETTER_NAMES})\}}|\\({_LETTER_NAMES})(?![A-Za-z])(?:\{{\}}| )?"
)
# \cmd{arg} -> arg (applied repeatedly for nesting: \textbf{\emph{x}})
_COMMAND_WITH_ARG = re.compile(r"\\[A-Za-z]+\*?\s*\{([^{}]*)\}")
# Bare \cmd -> cmd (\alpha -> alpha, so "alpha" still finds $\alpha$)
_BARE_COMMAND = re.compile(r"\\([A-Za-z]+)")
_LATEX_PUNCT = re.compile(r"[$\\{}^_~]")


def strip_latex(text: str) -> str:
    """Unwrap LaTeX-ish markup to the words a reader sees.

    Cheap on plain text (one ``in`` test), because most titles carry none.
    Not a TeX parser: it is enough that ``$\\mathcal{O}(n)$``, ``\\textbf{x}``
    and accent macros don't split or hide words.
    """
    if "\\" not in text and "$" not in text and "{" not in text:
        return text
    text = _SYMBOL_ACCENT.sub(lambda m: m.group(1) or m.group(2), text)
    text = _LETTER_ACCENT.sub(lambda m: m.group(1), text)
    text = _LETTER_COMMAND.sub(lambda m: _LETTER_COMMANDS[m.group(1) or m.group(2)], text)
    for _ in range(5):  # nesting depth we care about
        new = _COMMAND_WITH_ARG.sub(lambda m: f" {m.group(1)} ", text)
        if new == text:
            break
        text = new
    text = _BARE_COMMAND.sub(lambda m: f" {m.group(1)} ", text)
    return _LATEX_PUNCT.sub(" ", text)


def fold(text: str) -> str:
    """Case-, accent- and ligature-fold ``text`` without changing word boundaries.

    ``Jörg`` -> ``jorg``, ``Ørsted`` -> ``orsted``, ``Straße`` -> ``strasse``.
    Characters that are neither letters nor digits are kept (they still separate
    tokens downstream).
    """
    text = unicodedata.normalize("NFC", text).casefold().translate(_SPECIAL_TABLE)
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_TOKEN = re.compile(r"[^\W_]+")


def tokenize(text: str) -> tuple[str, ...]:
    """Normalised tokens of ``text`` (LaTeX unwrapped, folded, apostrophes joined)."""
    return tuple(_TOKEN.findall(fold(strip_latex(text)).translate(_APOSTROPHES)))


@lru_cache(maxsize=1 << 16)
def word_forms(token: str) -> frozenset[str]:
    """Every token that agrees with ``token`` under light plural folding.

    Symmetric by construction: ``b in word_forms(a)`` iff ``a in word_forms(b)``.
    That symmetry is what lets the index store a keyword under the forms of its
    anchor and look a paper's tokens up directly.
    """
    forms = {token}
    if len(token) >= PLURAL_MIN_BASE:
        forms.add(token + "s")
        forms.add(token + "es")
    if token.endswith("s") and len(token) - 1 >= PLURAL_MIN_BASE:
        forms.add(token[:-1])
    if token.endswith("es") and len(token) - 2 >= PLURAL_MIN_BASE:
        forms.add(token[:-2])
    return frozenset(forms)


def tokens_agree(query_token: str, text_token: str) -> bool:
    """Whether two normalised tokens agree (equal, or differ by a plural ``s``/``es``)."""
    return text_token in word_forms(query_token)
