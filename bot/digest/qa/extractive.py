"""The answer without a model: the paper's own sentences, quoted.

Used when no model is configured or it fails: the sentences of the best
matching passages are quoted with where they come from; an overview question
("what is the main idea?") gets the abstract's opening; when nothing in the
paper matches, the answer says so plainly instead of quoting a stray word.
The model's answer uses :func:`quote_line` too, for the passages it cited.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.safety import clip
from bot.core.text import render_latex
from bot.digest.extract import sentences, terms
from bot.digest.qa.passages import (
    NOT_SAID,
    SUMMARY_INTENT,
    Passage,
    best_sentence,
    retrieve,
    wants_summary,
)
from bot.llm import clean_untrusted

#: Share of the question's terms a passage must hold to be quoted as an answer.
EXTRACTIVE_COVERAGE = 0.34


def quote_line(passage: Passage, sentence: str, limit: int = 320) -> str:
    """``> “sentence” [P3, Section]``: the paper's words, cleaned (they are text the
    bot did not write), LaTeX rendered, clipped, with where they come from."""
    return f"> “{clip(clean_untrusted(render_latex(sentence)), limit)}” {passage.where}"


def extractive_lines(
    passages: Sequence[Passage],
    question: str,
    history: Sequence[str] = (),
    limit: int = 3,
    note: str | None = None,
) -> list[str]:
    """The labelled extractive answer's lines.

    ``note`` explains why this is extractive when a model is configured but
    could not be used; without it the label says no model is configured.
    """
    searched = "the abstract and full text" if len(passages) > 1 else "the abstract"
    why = note or "no language model is configured"
    lines = [
        f"Extractive answer ({why}): the passages of {searched} that best match "
        "your question, quoted."
    ]
    found = retrieve(passages, question, history, k=limit, min_coverage=EXTRACTIVE_COVERAGE)
    overview = wants_summary(question) and not set(terms(question)) - SUMMARY_INTENT
    if overview or (not found and wants_summary(question)):
        lead = " ".join(sentences(passages[0].text)[:2])
        lines.append(quote_line(passages[0], lead, 600))
    elif not found:
        # Only what was searched can be said not to say it: with the abstract
        # alone, "the paper does not say" would be a claim about pages unread.
        said = NOT_SAID if len(passages) > 1 else "The abstract does not say."
        lines.append(
            f"{said} Nothing in {searched} matches your question; "
            "try other words, or read the paper."
        )
    else:
        for _, passage in sorted(found, key=lambda item: item[1].id):
            lines.append(quote_line(passage, best_sentence(passage, question, history)))
    return lines
