"""A paper as numbered passages, and which of them match a question.

``[P1]`` is the abstract; when the full text could be fetched
(``bot.digest.fulltext``) its sections follow, cut into passages of about
``PASSAGE_WORDS`` words that never split a sentence (references and
acknowledgements are skipped). BM25 ranks the passages against the question
and, more lightly, the thread's earlier turns, so "and how large is it?" still
finds its subject.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.paper import Paper
from bot.core.safety import clip
from bot.core.text import tokenize
from bot.digest.extract import BM25, sentences, terms
from bot.digest.fulltext import FullText

PASSAGE_WORDS = 150
MAX_PASSAGES = 800
#: What an answer says when the passages do not answer; the model is asked to
#: use the same words, so the reply can tell it did.
NOT_SAID = "The paper does not say."
#: Words that ask for an overview rather than a detail ("what's the main idea?").
SUMMARY_INTENT = frozenset(
    """summary summarize summarise about main contribution contributions tldr gist idea
    overview key takeaway takeaways novelty novel""".split()  # noqa: SIM905
)
_SKIP_SECTIONS = re.compile(
    r"^(\d+(\.\d+)*\s*)?(references|bibliography|acknowledg(e)?ments?|abstract)\b", re.I
)


@dataclass(frozen=True)
class Passage:
    id: int  # 1 is the abstract
    section: str
    text: str

    @property
    def tag(self) -> str:
        return f"P{self.id}"

    @property
    def where(self) -> str:
        return f"[{self.tag}, {self.section}]" if self.section else f"[{self.tag}]"


def passages_for(paper: Paper, full: FullText | None = None) -> list[Passage]:
    """The abstract as ``[P1]``, then the full text's sections cut into passages."""
    out = [Passage(1, "Abstract", " ".join(paper.abstract.split()))]
    if full is None:
        return out
    section = ""
    skipping = False
    for block in full.text.split("\n\n"):
        block = block.strip()
        if block.startswith("## "):
            section = clip(block[3:].strip(), 80)
            skipping = bool(_SKIP_SECTIONS.match(section))
            continue
        if skipping or not block:
            continue
        for chunk in _pack(sentences(block)):
            out.append(Passage(len(out) + 1, section, chunk))
            if len(out) >= MAX_PASSAGES:
                return out
    return out


def _pack(parts: Sequence[str]) -> list[str]:
    """Sentences packed into chunks of about ``PASSAGE_WORDS`` words, never split."""
    chunks: list[str] = []
    current: list[str] = []
    words = 0
    for sentence in parts:
        n = len(sentence.split())
        if current and words + n > PASSAGE_WORDS:
            chunks.append(" ".join(current))
            current, words = [], 0
        current.append(clip(sentence, 2000))
        words += n
    if current:
        chunks.append(" ".join(current))
    return chunks


def query_weights(question: str, context: Sequence[str] = ()) -> dict[str, float]:
    """The question's terms at full weight; earlier turns' terms at 0.3."""
    weights: dict[str, float] = {}
    for line in context[-4:]:
        for term in terms(line):
            weights[term] = max(weights.get(term, 0.0), 0.3)
    for term in terms(question):
        weights[term] = 1.0
    return weights


def retrieve(
    passages: Sequence[Passage],
    question: str,
    context: Sequence[str] = (),
    k: int = 5,
    min_coverage: float = 0.0,
) -> list[tuple[float, Passage]]:
    """The ``k`` passages that best match, best first.

    A passage must hold at least one of the question's own terms, and at least
    ``min_coverage`` of them: the extractive answer asks for a third, so one
    stray shared word ("final" in "final authority") is not an answer.
    """
    query = query_weights(question, context)
    asked = {t for t, w in query.items() if w >= 1.0}
    need = max(1, math.ceil(min_coverage * len(asked)))
    docs = [terms(p.text) for p in passages]
    scores = BM25(docs).scores(query)
    ranked = [
        (score, p)
        for score, p, doc in zip(scores, passages, docs, strict=True)
        if score > 0 and len(asked & set(doc)) >= need
    ]
    ranked.sort(key=lambda item: (-item[0], item[1].id))
    return ranked[:k]


def best_sentence(passage: Passage, question: str, context: Sequence[str] = ()) -> str:
    """The passage's sentence that shares the most (weighted) terms with the question."""
    query = query_weights(question, context)
    best, best_score = "", -1.0
    for sentence in sentences(passage.text):
        found = set(terms(sentence))
        score = sum(w for t, w in query.items() if t in found)
        if score > best_score:
            best, best_score = sentence, score
    return best


def wants_summary(question: str) -> bool:
    return bool(SUMMARY_INTENT & set(tokenize(question)))
