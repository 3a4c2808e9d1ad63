"""Reading a paper's words: sentences, index terms, key phrases, and BM25 over terms.

Briefings and thread answers both quote papers rather than paraphrase them
when no model answers, and both need the same few primitives, kept here once:

* :func:`sentences` cuts an abstract or passage into sentences without
  breaking at the abbreviations papers are full of ("vs. 78%", "et al. 2020");
* :func:`terms` turns text into index terms (folded tokens, stop words out,
  plurals folded) and :class:`BM25` ranks documents of terms against a
  weighted query: a briefing's topic against papers, a question against a
  paper's passages;
* :func:`key_phrases` finds a text's candidate key phrases (runs of content
  words, 1 to 3 long) keyed by a normalised form, so a briefing can see which
  phrases papers share; :func:`display_form` picks how to write one.

No dependency and no index kept: a briefing covers a dozen papers and a paper
is a few hundred passages at most, so scoring per call costs microseconds.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from bot.core.text import fold, strip_latex, tokenize

#: A sentence ends at . ! ? before a capital, digit or bracket, but not after the
#: abbreviations papers are full of ("vs. 78%", "et al. 2020", "Fig. 3").
_SENTENCES = re.compile(
    r"(?<=[.!?])(?<!\bvs\.)(?<!\bal\.)(?<!\bcf\.)(?<!\bFig\.)(?<!\bEq\.)(?<!\bSec\.)"
    r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bNo\.)(?<!\bapprox\.)\s+(?=[A-Z0-9(\[])"
)


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, whitespace collapsed."""
    return [s.strip() for s in _SENTENCES.split(" ".join(text.split())) if s.strip()]


# -- index terms and BM25 ----------------------------------------------------------------

#: Words that carry no subject in a question or a topic ("tell me about ...").
TERM_STOP = frozenset(
    """a an and are as at be been being by can could did do does doing for from had has have
    how i in into is it its itself me my of on or our paper papers so than that the their them
    then there these they this those to too was we were what when where which while who whom
    why will with would you your yours about also any both each few more most other some such
    only own same just should now very s t don isn aren not no nor if because until against
    between through during before after above below up down out off over under again further
    once here all authors author study work article use used using tell explain describe please
    show shows mean means say says said give""".split()  # noqa: SIM905
)


def terms(text: str) -> list[str]:
    """Index terms: normalised tokens without stop words, plurals folded."""
    out = []
    for token in tokenize(text):
        if token in TERM_STOP or len(token) < 2:
            continue
        if len(token) > 4 and token.endswith("ies"):
            token = token[:-3] + "y"
        elif len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
            token = token[:-1]
        out.append(token)
    return out


class BM25:
    """Okapi BM25 over a fixed set of documents (k1=1.2, b=0.75)."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.tf = [Counter(doc) for doc in docs]
        self.len = [len(doc) for doc in docs]
        self.avg = (sum(self.len) / len(docs)) if docs else 0.0
        df: Counter[str] = Counter()
        for counts in self.tf:
            df.update(counts.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: dict[str, float]) -> list[float]:
        """Each document's score for ``query`` (term -> weight), in document order."""
        out = []
        for counts, length in zip(self.tf, self.len, strict=True):
            score = 0.0
            norm = self.k1 * (1 - self.b + self.b * length / (self.avg or 1))
            for term, weight in query.items():
                f = counts.get(term)
                if f:
                    score += weight * self.idf[term] * f * (self.k1 + 1) / (f + norm)
            out.append(score)
        return out


# -- key phrases ---------------------------------------------------------------------------

#: Words that end a key phrase: function words and the verbs every abstract uses.
_PHRASE_STOP = frozenset(
    """a an the and or but nor of in on at to for from by with without within into onto
    over under about above below between among across through during before after via per
    is are was were be been being has have had do does did can could may might must shall
    should will would this that these those it its itself they them their we our us you your
    he she his her which who whom whose what when where why how whether while than then
    thus hence also both each either neither all any some such many much more most other
    another same so too very not no only just even still yet however moreover furthermore
    therefore although though because since unless until upon toward towards one two three
    four five first second third new novel recent existing current different various several
    given based using use used uses propose proposes proposed present presents presented
    introduce introduces introduced show shows shown showed demonstrate demonstrates
    achieve achieves achieved provide provides provided enable enables enabling allow allows
    study studies investigate investigates paper work approach approaches method methods
    results result here there well often significantly significant substantially further
    make makes making find finds found take takes able often across yield yields leading
    lead leads like et al i e ie eg improve improves improving compare compares compared
    describe describes describing learn learns consider considers considered require
    requires required obtain obtains obtained remain remains called known due respectively
    particular particularly typically usually commonly widely need needs needed help helps
    including include includes included across multiple single whereas thereby within""".split()  # noqa: SIM905
)
#: Words too broad to be a theme on their own (fine inside a phrase).
_GENERIC = frozenset(
    """model models data learning performance framework task tasks problem problems system
    systems network networks algorithm algorithms analysis training time information set
    number quality accuracy technique techniques tool tools application applications
    experiment experiments benchmark evaluation state art process design structure setting
    settings feature features function functions value values level levels large small high
    low efficient effective simple general robust improved better stronger strong key main
    research researchers approach dataset datasets architecture architectures baseline
    baselines parameter parameters property properties way ways range case cases term terms
    type types form forms part parts order impact role use end""".split()  # noqa: SIM905
)
_SEGMENTS = re.compile(r"[.,;:!?()\[\]{}\"“”|/]|\s[-–—]\s")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'’][A-Za-z0-9]+)*")


def _norm(word: str) -> str:
    w = fold(word).replace("'", "").replace("’", "")
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def key_phrases(text: str) -> dict[tuple[str, ...], str]:
    """Candidate key phrases of ``text``: runs of content words, 1 to 3 words long.

    Maps each phrase's normalised form (folded, singular) to how it was written,
    so "Language Models" and "language model" are one phrase.
    """
    out: dict[tuple[str, ...], str] = {}
    for segment in _SEGMENTS.split(strip_latex(text)):
        run: list[str] = []
        for word in [*_WORD.findall(segment), ""]:
            if word and fold(word) not in _PHRASE_STOP and len(word) > 1:
                run.append(word)
                continue
            for n in (1, 2, 3):
                for i in range(len(run) - n + 1):
                    words = run[i : i + n]
                    key = tuple(_norm(w) for w in words)
                    if n == 1 and not _theme_word(key[0]):
                        continue
                    if _inflected(key[-1], "ed", "ly") or _inflected(key[0], "ly"):
                        continue
                    out.setdefault(key, " ".join(words))
            run = []
    return out


def _inflected(word: str, *endings: str) -> bool:
    """A verb form or adverb by its ending (``compared``, ``widely``); no tagger needed."""
    return "-" not in word and len(word) > 5 and word.endswith(endings)


def _theme_word(word: str) -> bool:
    """Whether one word alone can name a theme: not generic, not a verb form or adverb."""
    if word in _GENERIC or len(word) < 3 or word.isdigit():
        return False
    return not _inflected(word, "ed", "ing", "ly")


def display_form(forms: Iterable[str]) -> str:
    """How to write a phrase seen as ``forms``: the most common one, lower-cased
    unless a word is an acronym or holds a digit ("LLM", "GPT-4")."""
    form = Counter(forms).most_common(1)[0][0]
    return " ".join(
        w if (w.isupper() and len(w) > 1) or any(c.isdigit() for c in w) else w.lower()
        for w in form.split()
    )
