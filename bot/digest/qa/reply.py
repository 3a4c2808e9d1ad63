"""An answer as a reply in the card's thread: what the paper says, and where.

:func:`answer` gives the model's answer when it can (grounded in the
passages it was shown, quoting the ones it cited) and the extractive one
otherwise, with a short note saying why; it never raises for model trouble.
:func:`answer_text` is what the thread remembers of a reply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from bot.core.cards import Reply
from bot.core.paper import Paper, own_urls
from bot.core.safety import clip, safe_url
from bot.core.text import render_latex
from bot.digest.fulltext import FullText
from bot.digest.qa.extractive import extractive_lines, quote_line
from bot.digest.qa.passages import NOT_SAID, Passage, best_sentence, passages_for
from bot.digest.qa.prompt import (
    ANSWER_TOKENS,
    QA_PROMPT_VERSION,
    check_passage_refs,
    prompt_passages,
    qa_messages,
    require_answer,
)
from bot.llm import Gateway, LlmUnavailable, clean_untrusted
from bot.store.repo import Turn


def title_of(paper: Paper) -> str:
    """``About: <title>``, LaTeX rendered, on one line (a paper brief reuses it)."""
    return clip(f"About: {render_latex(' '.join(paper.title.split()))}", 200)


def sources_note(paper: Paper, full: FullText | None) -> str:
    """What the reply was made from, and the paper's link (answers and paper briefs)."""
    url = safe_url(paper.url, "text")  # a record's URL, shown where Slack links it
    where = f" {url}" if url else ""
    if full is None:
        return f"the abstract.{where}"
    kind = "arXiv HTML" if full.source == "html" else "PDF"
    return f"the abstract and the full text ({kind}).{where}"


def extractive_answer(
    paper: Paper,
    question: str,
    history: Sequence[str] = (),
    limit: int = 3,
    *,
    passages: Sequence[Passage] | None = None,
    full: FullText | None = None,
    note: str | None = None,
) -> Reply:
    """Quote the passages of the paper that best match ``question`` (and the thread).

    ``note`` explains why this is extractive when a model is configured but
    could not be used; without it the label says no model is configured.
    """
    passages = list(passages) if passages is not None else passages_for(paper, full)
    lines = extractive_lines(passages, question, history, limit, note)
    return Reply(
        title_of(paper),
        tuple(lines),
        footer="Source: " + sources_note(paper, full if len(passages) > 1 else None),
        kind="answer",
    )


def model_answer(
    paper: Paper,
    question: str,
    passages: Sequence[Passage],
    turns: Sequence[Turn],
    gateway: Gateway,
    workspace: str,
    now: datetime,
    full: FullText | None = None,
) -> Reply:
    """The model's answer from the best passages; raises ``LlmUnavailable`` to fall back."""
    context = [t.text for t in turns if t.role != "bot"]
    found, shown = prompt_passages(passages, question, context)
    result = gateway.complete(
        kind="answer",
        prompt_version=QA_PROMPT_VERSION,
        messages=qa_messages(paper, question, shown, turns),
        workspace=workspace,
        now=now,
        max_tokens=min(ANSWER_TOKENS, gateway.settings.max_output_tokens),
        check=require_answer,
    )
    text = clean_untrusted(render_latex(result.text), own_urls(paper))
    text, cited, removed = check_passage_refs(text, {p.id for p in shown})
    body = [line.strip() for line in text.splitlines() if line.strip()]
    if not body:
        raise LlmUnavailable("the language model sent an empty answer")
    lines = [clip(line, 1500) for line in body[:8]]
    by_id = {p.id: p for p in shown}
    said_not = NOT_SAID.lower().rstrip(".") in text.lower()
    if cited:
        lines.append("Passages used:")
        for n in cited[:4]:
            passage = by_id[n]
            lines.append(quote_line(passage, best_sentence(passage, question, context)))
    elif not said_not and found:
        lines.append("The model cited no passage; the closest ones:")
        for _, passage in found[:2]:
            lines.append(quote_line(passage, best_sentence(passage, question, context)))
    footer = f"Answered by {result.model} from {sources_note(paper, full)}{removed_note(removed)}"
    return Reply(title_of(paper), tuple(lines), footer=footer, kind="answer")


def removed_note(removed: int) -> str:
    """`` N citations to passages it was not shown were removed.``, or ``""``."""
    if not removed:
        return ""
    return (
        f" {removed} citation{'s' if removed != 1 else ''} to passages it was not "
        f"shown {'were' if removed != 1 else 'was'} removed."
    )


def with_fetch_note(reply: Reply, fetch_note: str | None) -> Reply:
    """``reply`` with why the full text was not used (``Full text: …``) in its footer."""
    if not fetch_note or not reply.footer:
        return reply
    return replace(reply, footer=f"{reply.footer} Full text: {fetch_note}.")


def answer_text(reply: Reply) -> str:
    """What an answer said, for the thread's memory: its substance, not its labels
    or the quoted passages (those are found again by retrieval)."""
    said = []
    for line in reply.lines:
        if line == "Passages used:" or line.startswith("The model cited no passage"):
            break
        if line.startswith("Extractive answer ("):
            continue
        said.append(line.removeprefix("> "))
    return clip(" ".join(said), 1500)


def answer(
    paper: Paper,
    question: str,
    *,
    full: FullText | None,
    turns: Sequence[Turn],
    gateway: Gateway | None,
    workspace: str,
    now: datetime,
    fetch_note: str | None = None,
) -> Reply:
    """The thread's answer: the model's when it can, the extractive one otherwise.

    Never raises for model trouble: a timeout, 429, 5xx, garbage or a spent
    budget yields the extractive answer with a short note saying why.
    """
    passages = passages_for(paper, full)
    history = [t.text for t in turns if t.role != "bot"]
    reply = model_or_extractive(
        gateway,
        lambda g: model_answer(paper, question, passages, turns, g, workspace, now, full),
        lambda note: extractive_answer(
            paper, question, history, passages=passages, full=full, note=note
        ),
    )
    return with_fetch_note(reply, fetch_note)


def model_or_extractive(
    gateway: Gateway | None,
    model: Callable[[Gateway], Reply],
    extractive: Callable[[str | None], Reply],
) -> Reply:
    """``model``'s reply when a model is configured and serves it, else
    ``extractive``'s, given why (None: no model is configured). Model trouble
    (``LlmUnavailable``) never escapes: answers and paper briefs share this."""
    if gateway is None or not gateway.available:
        return extractive(None)
    try:
        return model(gateway)
    except LlmUnavailable as err:
        return extractive(err.note)
