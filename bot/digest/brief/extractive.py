"""The briefing without a model, from the papers' own words only.

Used when no model is configured, or it fails, or the budget is spent, and
always for the cards' one-sentence summaries:

* themes are key phrases shared by two or more papers (greedy, broadest first);
* links are themes or papers that span arXiv fields;
* results and open questions are quoted sentences with result or limitation
  cues;
* what to read first ranks papers by the themes they join and the results
  they report;
* each card shows its paper's representative sentence: the one carrying the
  set's shared phrases that says what the paper does.

Everything here is quoted or counted, never written: the reply labels it as
extractive, and cleans it like any text the bot did not write.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.paper import Paper
from bot.core.safety import clip
from bot.core.text import render_latex
from bot.digest.brief.sections import empty_sections, tag
from bot.digest.extract import display_form, key_phrases, sentences

#: Longer shared phrases are better theme names ("optimal transport" over "transport").
_LENGTH_WEIGHT = {1: 0.7, 2: 1.6, 3: 2.2}
_RESULT = re.compile(
    r"\b(outperform\w*|surpass\w*|state[- ]of[- ]the[- ]art|sota|achiev\w+|improv\w+|"
    r"reduc\w+|speed-?up\w*|faster|fewer|gains?|accuracy of|up to)\b|\d+(\.\d+)?\s?(%|x\b|×)",
    re.I,
)
_QUESTION = re.compile(
    r"\b(limitation\w*|remains? (an )?(open|unclear|challenging|unknown|elusive)|"
    r"open (question|problem|challenge)s?|future work|unexplored|under-?explored|we leave|"
    r"little is known|not (yet )?well understood|poorly understood|it is unclear)\b",
    re.I,
)
_CONTRIBUTION = re.compile(
    r"\b(we (propose|introduce|present|develop|show|find|study|design|build|release)|"
    r"this (paper|work)|in this (paper|work)|here,? we)\b",
    re.I,
)


@dataclass(frozen=True)
class Theme:
    phrase: str
    numbers: tuple[int, ...]
    also: tuple[str, ...] = ()


def find_themes(items: Sequence[tuple[int, Paper]], limit: int = 4) -> list[Theme]:
    """Key phrases shared by two or more papers, greedily, broadest first.

    A phrase found in (nearly) every paper of a larger set says nothing (it is
    usually the category's name), and phrases overlapping a chosen one are
    skipped, so "language models" and "large language models" are one theme.
    """
    n_papers = len(items)
    where: dict[tuple[str, ...], set[int]] = {}
    in_title: dict[tuple[str, ...], int] = Counter()
    forms: dict[tuple[str, ...], list[str]] = {}
    for number, paper in items:
        title = key_phrases(paper.title)
        for key, form in {**key_phrases(paper.abstract), **title}.items():
            where.setdefault(key, set()).add(number)
            forms.setdefault(key, []).append(form)
            if key in title:
                in_title[key] += 1
    candidates = []
    for key, numbers in where.items():
        df = len(numbers)
        if df < 2 or (n_papers >= 5 and df > 0.8 * n_papers):
            continue
        score = df * _LENGTH_WEIGHT[len(key)] + 0.5 * in_title[key]
        candidates.append((score, key))
    candidates.sort(key=lambda item: (-item[0], item[1]))
    chosen: list[tuple[tuple[str, ...], set[int]]] = []
    covered: set[int] = set()
    used_words: set[str] = set()
    for _, key in candidates:
        if len(chosen) >= limit:
            break
        numbers = where[key]
        if used_words & set(key) or not numbers - covered:
            continue
        chosen.append((key, numbers))
        covered |= numbers
        used_words |= set(key)
    themes = []
    taken = set(used_words)
    for key, numbers in chosen:
        pool = [
            (len(where[k] & numbers) * _LENGTH_WEIGHT[len(k)], k)
            for _, k in candidates
            if not set(k) & taken and len(where[k] & numbers) >= 2
        ]
        pool.sort(key=lambda item: (-item[0], item[1]))
        also: list[tuple[str, ...]] = []
        for _, k in pool:
            if len(k) > 1 and len(also) < 2 and not any(set(k) & set(a) for a in also):
                also.append(k)
        taken.update(w for k in also for w in k)
        themes.append(
            Theme(
                display_form(forms[key]),
                tuple(sorted(numbers)),
                tuple(display_form(forms[k]) for k in also),
            )
        )
    return themes


def own_phrase(paper: Paper) -> str:
    """A paper's own key phrase: its longest content-word run from the title."""
    phrases = key_phrases(paper.title)
    if not phrases:
        return clip(" ".join(paper.title.split()), 60)
    order = list(phrases)
    key = max(
        phrases,
        key=lambda k: (sum(len(w) >= 3 for w in k), sum(map(len, k)), -order.index(k)),
    )
    return display_form([phrases[key]])


def shared_phrases(items: Sequence[tuple[int, Paper]]) -> set[tuple[str, ...]]:
    """The key phrases (normalised) that two or more of the papers share."""
    counts: Counter[tuple[str, ...]] = Counter()
    for _, paper in items:
        counts.update(key_phrases(f"{paper.title}. {paper.abstract}").keys())
    return {key for key, n in counts.items() if n >= 2}


def representative_sentence(paper: Paper, shared: set[tuple[str, ...]]) -> str:
    """The abstract sentence that best stands for the paper: it carries the paper's
    shared key phrases and says what the paper does ("we propose ...")."""
    best, best_score = "", float("-inf")
    for i, sentence in enumerate(sentences(paper.abstract)):
        phrases = key_phrases(sentence)
        score = sum(1 + 0.5 * (len(k) - 1) for k in phrases if k in shared)
        score += 0.3 * len(phrases) ** 0.5
        score += 2.0 if _CONTRIBUTION.search(sentence) else 0.0
        score += 0.8 if _RESULT.search(sentence) else 0.0
        score -= 1.0 if len(sentence) > 400 else 0.0
        score -= 0.01 * i
        if score > best_score:
            best, best_score = sentence, score
    return best or " ".join(paper.abstract.split())


def _cited_sentences(
    items: Sequence[tuple[int, Paper]], cue: re.Pattern[str], limit: int
) -> list[tuple[int, str]]:
    found = []
    for number, paper in items:
        scored = [
            (len(cue.findall(s)) + (1 if re.search(r"\d", s) else 0), s)
            for s in sentences(paper.abstract)
            if cue.search(s) and 40 <= len(s) < 600 and s[0].isupper()
        ]
        if scored:
            score, sentence = max(scored, key=lambda item: item[0])
            found.append((score, number, sentence))
    found.sort(key=lambda item: (-item[0], item[1]))
    return [(number, sentence) for _, number, sentence in found[:limit]]


def _field(category: str) -> str:
    return category.split(".", 1)[0] if category else ""


def extractive_sections(items: Sequence[tuple[int, Paper]]) -> dict[str, list[str]]:
    """The five sections, from the papers' own words only."""
    by_number = dict(items)
    themes = find_themes(items)
    sections = empty_sections()
    themed: set[int] = set()
    for theme in themes:
        cites = "".join(tag(n) for n in theme.numbers)
        also = f" (with {', '.join(theme.also)})" if theme.also else ""
        sections["themes"].append(f"{theme.phrase}{also}: {cites}")
        themed.update(theme.numbers)
    alone = [(n, p) for n, p in items if n not in themed]
    if alone:
        listing = "; ".join(f"{tag(n)} {own_phrase(p)}" for n, p in alone[:6])
        label = "On their own" if themes else "No key phrase is shared; each on its own"
        sections["themes"].append(f"{label}: {listing}")
    for theme in themes:
        cats = sorted({by_number[n].primary_category for n in theme.numbers} - {""})
        if len({_field(c) for c in cats}) >= 2 or len(cats) >= 3:
            cites = "".join(tag(n) for n in theme.numbers)
            sections["links"].append(f"{theme.phrase} spans {', '.join(cats)}: {cites}")
    for number, paper in items:
        if len(sections["links"]) >= 3:
            break
        fields = dict.fromkeys(_field(c) for c in paper.categories if c)
        if len(fields) >= 2:
            listed = ", ".join(paper.categories[:4])
            sections["links"].append(f"{tag(number)} is cross-listed in {listed}")
    if not sections["links"]:
        cats = sorted({p.primary_category for _, p in items} - {""})
        where = cats[0] if len(cats) == 1 else ", ".join(cats)
        sections["links"].append(
            f"No theme here crosses fields: the papers sit in {where or 'one field'}."
        )
    for number, sentence in _cited_sentences(items, _RESULT, 3):
        sections["results"].append(f"{tag(number)} “{clip(render_latex(sentence), 220)}”")
    for number, sentence in _cited_sentences(items, _QUESTION, 2):
        sections["questions"].append(f"{tag(number)} “{clip(render_latex(sentence), 220)}”")
    in_themes = Counter(n for theme in themes for n in theme.numbers)
    with_results = {n for n, _ in _cited_sentences(items, _RESULT, len(items))}
    ranked = sorted(
        (n for n, _ in items),
        key=lambda n: (-(in_themes[n] + (1 if n in with_results else 0)), n),
    )
    for n in ranked[:2]:
        why = [t.phrase for t in themes if n in t.numbers]
        reason = (
            f"in {len(why)} theme{'s' if len(why) != 1 else ''} ({', '.join(why)})"
            if why
            else "its own topic"
        )
        if n in with_results:
            reason += ", with a reported result"
        sections["read"].append(
            f"{tag(n)} {clip(render_latex(' '.join(by_number[n].title.split())), 90)}: {reason}"
        )
    return sections
