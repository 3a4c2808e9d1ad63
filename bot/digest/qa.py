"""Questions about one paper, asked in the thread under its card.

Without a language model the answer is extractive: the abstract's sentences
that share the most words with the question, quoted, and labelled as such.
It never invents: when nothing in the abstract shares a word with the
question, it says the abstract does not say.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.core.cards import Reply
from bot.core.paper import Paper
from bot.core.text import tokenize

_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
_STOP = frozenset(
    """a an and are as at be by can do does for from how in is it its of on or paper that
    the their this to was what when where which who why with you your they we our""".split()  # noqa: SIM905
)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCES.split(" ".join(text.split())) if s.strip()]


def extractive_answer(
    paper: Paper, question: str, history: Sequence[str] = (), limit: int = 3
) -> Reply:
    """Quote the abstract sentences that best match ``question`` (and the thread)."""
    wanted = {t for t in tokenize(question) if t not in _STOP}
    context = {t for line in history[-4:] for t in tokenize(line) if t not in _STOP}
    scored = []
    for i, sentence in enumerate(sentences(paper.abstract)):
        words = set(tokenize(sentence))
        score = 2 * len(words & wanted) + len(words & context)
        if score:
            scored.append((score, i, sentence))
    title = f"About: {paper.title}"
    label = "Extractive answer from the abstract (no language model is configured)."
    if not scored:
        return Reply(
            title,
            (label, "The abstract does not say anything about that. The full paper: " + paper.url),
            kind="answer",
        )
    best = sorted(scored, key=lambda item: (-item[0], item[1]))[:limit]
    quotes = tuple(f"> {sentence}" for _, _, sentence in sorted(best, key=lambda item: item[1]))
    return Reply(title, (label, *quotes, f"Source: {paper.url}"), kind="answer")
