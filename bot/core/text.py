"""Text normalisation: folding, LaTeX cleanup and tokens for matching; LaTeX
rendered as readable text for display.

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

Display is another matter (:func:`render_latex`): a card, preview or briefing
shows ``$\\alpha$-divergence`` as ``α-divergence`` and
``$\\textit{with emergent creative capabilities}$`` as its words, while the
store keeps the original.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache
from sys import intern
from typing import Any

from bot.core.safety import strip_controls

log = logging.getLogger(__name__)

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
#: Whether text holds any of them. Translating through a table costs a lookup
#: per character of non-ASCII text (about 50 microseconds an abstract); most
#: text has none of these, which one scan by this pattern says.
_SPECIAL = re.compile("[" + "".join(map(re.escape, SPECIAL_FOLDS)) + "]")
_APOSTROPHES = str.maketrans({"'": None, "\u2019": None, "\u02bc": None, "`": None})
#: The same, for ``str.replace``: a C scan per apostrophe beats that lookup per character.
_APOSTROPHE_CHARS = tuple(map(chr, _APOSTROPHES))

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
    text = unicodedata.normalize("NFC", text).casefold()
    if _SPECIAL.search(text):
        text = text.translate(_SPECIAL_TABLE)
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    # Each distinct character is asked once, not each character: an abstract
    # holds about a thousand characters, a few dozen of them distinct, and
    # rarely more than two of them marks.
    for mark in [c for c in set(decomposed) if unicodedata.combining(c)]:
        decomposed = decomposed.replace(mark, "")
    return decomposed


#: For ASCII text, one translate does the whole of folding and splitting but
#: the split itself: capitals to lower case, apostrophes deleted, every other
#: character that is not a letter or digit to a space. On bytes: a table
#: lookup per byte, in a third of the time ``str.translate`` takes.
_ASCII_WORDS = bytes(
    ord(chr(c).lower()) if chr(c).isalnum() else ord(" ") for c in range(128)
) + bytes(128)  # never looked up: the text is ASCII
_ASCII_APOSTROPHES = bytes(c for c in _APOSTROPHES if c < 128)  # the ASCII ones
#: For folded text as UTF-8: every ASCII character that is not a letter or
#: digit to a space, no change of case (folding has done it, except where
#: NFKD made a capital), and the bytes of every other character kept (by then
#: each is a letter or digit: ``_folded_token_bytes``).
_UTF8_SPACES = bytes(c if chr(c).isalnum() else ord(" ") for c in range(128)) + bytes(
    range(128, 256)
)


def tokenize(text: str) -> tuple[str, ...]:
    """Normalised tokens of ``text`` (LaTeX unwrapped, folded, apostrophes
    joined): the maximal runs of letters and digits (``str.isalnum``).

    Tokens are interned: a day's pool repeats a few thousand words hundreds of
    thousands of times, so the tokenised papers a running bot keeps take half
    the memory, and looking their tokens up touches fewer places of it.
    """
    return tuple(map(intern, token_bytes(text).decode().split()))


def token_bytes(text: str) -> bytes:
    """``tokenize(text)`` as UTF-8 with spaces between the tokens (and maybe
    around them, in runs): ``bytes.split()`` gives the tokens back.

    For the pool-wide keyword matcher, which reads every token of a day's
    papers as array data: no string object per token, no interning.
    """
    if text.isascii():
        return _ascii_token_bytes(text)
    return _folded_token_bytes(text)


def _folded_token_bytes(text: str) -> bytes:
    # Text that is not ASCII: unwrapped, folded, apostrophes deleted. What is
    # left outside ASCII and is no letter or digit (most often a dash or a
    # quote) becomes a space, so every byte outside ASCII is part of a letter
    # or digit, and one translate of the UTF-8 bytes separates the tokens:
    # a third of the time the unicode pattern ``[^\W_]+`` takes to find them.
    folded = fold(strip_latex(text))
    for apostrophe in _APOSTROPHE_CHARS:  # what translating by ``_APOSTROPHES`` does
        if apostrophe in folded:
            folded = folded.replace(apostrophe, "")
    if not folded.isascii():
        for c in set(folded):
            if not c.isascii() and not c.isalnum():
                folded = folded.replace(c, " ")
    return folded.encode().translate(_UTF8_SPACES)


def _ascii_token_bytes(text: str) -> bytes:
    # Most titles and abstracts, also most with LaTeX: unwrapped ASCII stays
    # ASCII, where folding is lower-casing and the apostrophes are ASCII, so
    # one translate gives the tokens and the spaces between them, faster than
    # any pattern (a day's run tokenises every paper of the pool).
    return strip_latex(text).encode().translate(_ASCII_WORDS, _ASCII_APOSTROPHES)


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


# --- LaTeX for display ------------------------------------------------------------

#: The LaTeX a title or abstract holds, one span at a time: hyperlinks,
#: math (``$…$`` by pandoc's rule, so ``$5 and $10`` is money, not math,
#: unless it holds a command; and a lone symbol, ``$<$5%``), commands with
#: their arguments (nested braces three deep), accents and escaped symbols. Everything between the
#: spans is left exactly as it is (``100%`` and ``R&D`` are not LaTeX there).
_LATEX_SPAN = re.compile(
    r"\\href\s*\{(?P<href>[^{}\s]{1,800})\}\s*\{(?P<label>(?:[^{}]|\{[^{}]{0,300}\}){0,300})\}"
    r"|\\(?:url|href)\s*\{(?P<url>[^{}\s]{1,800})\}"
    r"|(?P<math>\$\$[^$]{1,600}?\$\$|\\\([^$]{1,600}?\\\)|\\\[[^$]{1,600}?\\\]"
    r"|\$(?![\s$])(?:\\.|[^$\\\n]){0,400}?(?:\\.|[^\s\\$])\$(?!\d)"
    r"|\$[<>=~+*±×≤≥-]{1,2}\$"
    r"|\$(?![\s$])(?:\\.|[^$\\\n]){0,400}?\\[A-Za-z](?:\\.|[^$\\\n]){0,400}?\$)"
    r"|\{\\[`'^\"~=.]\s*\\?[A-Za-z]\}"
    r"|\\[`'^\"~=.]\s*(?:\{\s*\\?[A-Za-z]\s*\}|\\?[A-Za-z])"
    r"|\\[A-Za-z]+\*?(?:\s*\[[^\[\]{}$]{0,100}\])?"
    r"(?:\s*\{(?:[^{}]++|\{(?:[^{}]++|\{[^{}]*+\})*+\})*+\})*"
    r"|\\[%&_#$,;:!{} \\]",
    re.DOTALL,
)
#: Longer texts are shown raw: nothing a paper record holds is this long,
#: and display must stay cheap whatever a record holds.
_RENDER_MAX = 20_000


def render_latex(text: str) -> str:
    """``text`` with its LaTeX rendered as readable text, for display only.

    ``$O(n^2)$`` -> ``O(n^2)``, ``$\\alpha$`` -> ``α``, ``\\textbf{x}`` -> ``x``,
    ``Schr\\"{o}dinger`` -> ``Schrödinger``, ``\\href{url}{code}`` -> ``code``,
    ``\\cite{…}`` -> ``[cit.]``. Each span is converted by ``pylatexenc``
    (``_span_text``); a span it cannot convert stays as written, and this
    never raises. Plain text (most titles) costs one ``in`` test; results are
    cached, since the same papers are shown in many channels.
    """
    if "\\" not in text and "$" not in text:
        return text
    if len(text) > _RENDER_MAX:
        return text
    return _render_latex(text)


@lru_cache(maxsize=4096)
def _render_latex(text: str) -> str:
    try:
        out = _LATEX_SPAN.sub(_span, text)
    except Exception:  # a bug here must cost a rendering, never a card
        log.exception("could not render LaTeX; showing it raw")
        return text
    # What rendering produced is record text too: no controls, no line breaks.
    return re.sub(r"  +", " ", strip_controls(out))


def _span(match: re.Match[str]) -> str:
    if match.group("href") is not None:
        label = match.group("label").strip()
        return render_latex(label) if label else match.group("href")
    if match.group("url") is not None:
        return match.group("url")
    span = match.group(0)
    text = _span_text(span)
    if text is None:
        return span
    # A span's own edges are not the text's spacing: "\emph{x} y" keeps its
    # space from the text around it, and "55\,m" its thin space.
    return text if span in _SPACING else text.strip()


_SPACING = frozenset({"\\,", "\\;", "\\:", "\\!", "\\ ", "\\\\"})
#: ``%`` starts a comment in TeX, but abstracts mean a percent sign ($5%$).
_PERCENT = re.compile(r"(?<!\\)%")
#: Operator names, which TeX spaces from their neighbours (``n\log n`` is
#: "n log n", ``\ln\ln T`` is "ln ln T"); pylatexenc glues them on.
_OPERATOR = re.compile(
    r"(?<=(?P<before>[A-Za-z0-9]))?\\(?:ln|log|lg|exp|sin|cos|tan|max|min|arg|lim|det|sup|inf)"
    r"(?![A-Za-z])(?P<after>(?=\\[A-Za-z]))?"
)


def _spaced_operator(match: re.Match[str]) -> str:
    before = " " if match.group("before") is not None else ""
    after = "\\ " if match.group("after") is not None else ""
    return f"{before}{match.group(0)}{after}"


_MACRO = re.compile(r"\\([A-Za-z]+)(\s*\{\s*\})?")
#: Old font and size switches (``{\bf x}``): they style, they say nothing.
_SWITCHES = frozenset(
    {
        "bf",
        "it",
        "em",
        "sc",
        "rm",
        "sf",
        "tt",
        "sl",
        "up",
        "md",
        "bfseries",
        "itshape",
        "scshape",
        "slshape",
        "upshape",
        "mdseries",
        "normalfont",
        "tiny",
        "scriptsize",
        "footnotesize",
        "small",
        "normalsize",
        "large",
        "Large",
        "LARGE",
        "huge",
        "Huge",
        "noindent",
        "displaystyle",
        "textstyle",
        "scriptstyle",
        "big",
        "Big",
        "bigg",
        "Bigg",
        "bigl",
        "bigr",
        "Bigl",
        "Bigr",
        "biggl",
        "biggr",
    }
)


@lru_cache(maxsize=8192)
def _span_text(span: str) -> str | None:
    r"""One span through ``pylatexenc``, or None when it fails.

    A command neither pylatexenc nor we know is an author's shorthand: alone
    (``\NAME``, ``\ours{}``) it shows its name, with an argument
    (``\hl{words}``) its argument.
    """
    try:
        walker_db, converter = _converter()
        from pylatexenc.latexwalker import LatexWalker

        def unknown(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in _SWITCHES:
                return ""
            if walker_db.get_macro_spec(name) is not None:
                return match.group(0)
            if converter.latex_context.get_macro_spec(name) is not None:
                return match.group(0)
            return name

        latex = _MACRO.sub(unknown, _OPERATOR.sub(_spaced_operator, _PERCENT.sub(r"\\%", span)))
        walker = LatexWalker(latex, latex_context=walker_db, tolerant_parsing=True)
        nodes, _, _ = walker.get_latex_nodes()
        text: str = converter.nodelist_to_text(nodes)
    except Exception:  # pylatexenc raises on some real abstracts (IndexError, KeyError)
        return None
    return " ".join(text.split()) if text.strip() else text


@lru_cache(maxsize=1)
def _converter() -> tuple[Any, Any]:
    """pylatexenc's walker context and converter, with the commands papers use
    rendered the way a reader wants (imported on first use: most commands
    never show a card)."""
    from pylatexenc import latexwalker, macrospec
    from pylatexenc.latex2text import (
        LatexNodes2Text,
        MacroTextSpec,
        get_default_latex_context_db,
    )

    class Converter(LatexNodes2Text):  # type: ignore[misc]
        def macro_node_to_text(self, node: Any) -> str:
            # pylatexenc drops commands it parses but has no text for
            # (\texttt{code}, \mbox{x}); their arguments are the words.
            if self.latex_context.get_macro_spec(node.macroname) is None:
                args = node.nodeargd.argnlist if node.nodeargd else []
                return "".join(self._groupnodecontents_to_text(a) for a in args if a is not None)
            text: str = super().macro_node_to_text(node)
            return text

    walker_db = latexwalker.get_default_latex_context_db()
    walker_db.add_context_category(
        "paper-radar",
        prepend=True,
        macros=[macrospec.MacroSpec("url", "{"), macrospec.MacroSpec("href", "{{")],
    )
    text_db = get_default_latex_context_db()
    text_db.add_context_category(
        "paper-radar",
        prepend=True,
        macros=[
            MacroTextSpec("LaTeX", simplify_repl="LaTeX"),
            MacroTextSpec("TeX", simplify_repl="TeX"),
            MacroTextSpec("hypersetup", discard=True),
            MacroTextSpec("href", simplify_repl="%(2)s"),
            *(
                MacroTextSpec(name, simplify_repl="[cit.]")
                for name in ("cite", "citep", "citet", "citealp", "citeauthor", "citeyear")
            ),
            *(MacroTextSpec(name, simplify_repl="[ref]") for name in ("ref", "eqref", "autoref")),
        ],
    )
    return walker_db, Converter(latex_context=text_db, math_mode="text")
