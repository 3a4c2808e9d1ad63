"""What a channel likes: like chips, feedback on cards, the reading list.

- `/radar like <id | DOI | card>` adds a like chip (value: the paper's key;
  shown by its title, ``More like: <title> ×``). A paper not stored yet is
  fetched by id (one arXiv ``id_list`` request, or OpenAlex for a DOI) and
  stored like a backfilled one (``Harvester.keep``: its vectors are computed in
  the background, not while the person waits).
- A card's *More like this* / *Less like this* / *Save* buttons and Slack's
  👍/👎 reactions arrive as ``Verdict`` commands: one person's verdict on one
  paper in this channel. The store's unique row makes them idempotent.
- `/radar likes` shows what was learned; `/radar forget` clears it (chips
  stay); `/radar saved [bibtex]` lists the reading list.

The ordering itself lives in ``bot.service.relevance``.
"""

from __future__ import annotations

import re

from bot.core import commands as c
from bot.core.actor import Actor
from bot.core.cards import Reply, ReplyKind
from bot.core.channel import ChannelState
from bot.core.chips import Chip, ChipKind, sentence
from bot.core.matching.radar import Match, make_match
from bot.core.paper import Paper
from bot.errors import NotFoundError, UpstreamError, UsageError
from bot.relevance.reasons import short_title
from bot.relevance.tfidf import paper_text
from bot.service.base import said
from bot.service.edits import Edits
from bot.service.relevance import Ranker
from bot.store.relevance import RelevanceStore

#: Like chips a reply names at most, and terms `/radar likes` shows.
TOP_TERMS = 10
#: Cards a like chip's reply shows: the radar's papers now nearest the top.
LIKE_REPLY_CARDS = 3

VERDICT_WORDS = {
    "like": ("likes", "More like this: noted."),
    "dislike": ("dislikes", "Less like this: noted."),
    "save": ("saved", "Saved to this channel's reading list."),
}


class Likes(Edits):
    def _ranker(self) -> Ranker:
        if self.ranker is None:
            raise UsageError("Relevance is turned off on this bot (`[relevance] enabled = false`).")
        return self.ranker

    @property
    def _relevance(self) -> RelevanceStore:
        return self._ranker().relevance

    # -- like chips ------------------------------------------------------------------

    def like(
        self, state: ChannelState, card: int | None, arxiv_id: str | None, doi: str | None = None
    ) -> Reply:
        """`/radar like`: a like chip for the paper (see the module docstring)."""
        self._ranker()  # refuses when relevance is off, before anything is fetched
        self._room(state)
        paper = self._doi_paper(doi) if doi is not None else None
        paper = paper or self._liked_paper(state, card, arxiv_id)
        chip = Chip(ChipKind.LIKE, paper.key, names=(" ".join(paper.title.split())[:200],))
        if any(have.kind is ChipKind.LIKE and have.value == paper.key for have in state.chip_list):
            return Reply(
                f"The like chip {chip.label()} is already on this radar; nothing changed.",
                chips=state.chips,
                ephemeral=True,
                kind=ReplyKind.RADAR,
            )
        state = self._created(state)
        if not self.store.add_chip(state.id, chip, [], self.clock.now()):
            return Reply(
                f"The like chip {chip.label()} is already on this radar; nothing changed.",
                chips=state.chips,
                ephemeral=True,
                kind=ReplyKind.RADAR,
            )
        state = self.store.channel(state.ref)
        lines = ["Papers like it now come first, and similar new ones join the radar."]
        return Reply(
            sentence(f"Added like chip {chip.label()}"),
            tuple(lines),
            chips=state.chips,
            kind=ReplyKind.RADAR,
        )

    def _doi_paper(self, doi: str) -> Paper:
        """A journal article (or any work) by DOI: stored already (then OpenAlex is
        not asked, and need not be on), or one OpenAlex request; its arXiv
        version, when OpenAlex links one, is the same work."""
        stored = self.store.paper_by_doi(doi)
        if stored is not None:
            return stored
        if self.openalex is None:
            raise NotFoundError(
                "Liking by DOI asks OpenAlex, which is turned off here; "
                "like the paper by its arXiv id or card number instead."
            )
        try:
            work = self.openalex.interactive().work(doi)
        except NotFoundError:
            raise NotFoundError(f"OpenAlex has no work with DOI {doi}; check it.") from None
        except (UpstreamError, ValueError) as err:
            raise UpstreamError(
                f"OpenAlex did not answer when I looked up DOI {doi}; try again in a minute."
            ) from err
        self.harvester.keep([work])
        stored = self.store.papers_by_key([work.key]).get(work.key)
        if stored is None:
            raise NotFoundError(f"DOI {doi} could not be stored; try again later.")
        return stored

    def _liked_paper(self, state: ChannelState, card: int | None, arxiv_id: str | None) -> Paper:
        if card is not None:
            posted = self.store.posted_card(state.id, number=card) if state.id else None
            if posted is None:
                raise NotFoundError(
                    f"No card {card:02d} has been posted in this channel yet; like a paper "
                    "by its arXiv id instead, e.g. `/radar like 2604.26951`."
                )
            return posted[1]
        assert arxiv_id is not None
        return self.arxiv_paper(arxiv_id)

    # -- feedback --------------------------------------------------------------------

    def verdict(self, state: ChannelState, command: c.Verdict, actor: Actor | None) -> Reply:
        """A card's button or a reaction: one person's verdict, idempotent."""
        relevance = self._relevance
        if actor is None:
            raise UsageError("Feedback needs the person who gave it.")
        paper = self.store.papers_by_key([command.paper_key]).get(command.paper_key)
        if paper is None:
            raise NotFoundError("That paper is no longer stored; nothing changed.")
        state = self._created(state)
        if command.undo:
            changed = relevance.remove_feedback(state.id, paper.key, actor.user_id, command.kind)
        else:
            changed = relevance.add_feedback(
                state.id, paper.key, actor.user_id, command.kind, command.source
            )
        title = short_title(paper.title)
        if command.undo:
            text = f"Taken back: {command.kind} of “{title}”."
        elif changed:
            text = f"{VERDICT_WORDS[command.kind][1]} “{title}”"
        else:
            text = f"You had already marked “{title}”; nothing changed."
        return Reply(text, ephemeral=True, kind=ReplyKind.INFO)

    def likes(self, state: ChannelState) -> Reply:
        """`/radar likes`: like chips, feedback counts and the terms that weigh most."""
        ranker = self._ranker()
        chips = [chip for chip in state.chip_list if chip.kind is ChipKind.LIKE]
        fb = self._relevance.feedback(state.id) if state.id else None
        lines = []
        if chips:
            lines.append("Like chips: " + "; ".join(chip.label() for chip in chips))
        if fb is not None:
            saved = len(self._relevance.saved(state.id))
            lines.append(
                f"Feedback: {len(fb.liked)} liked or saved, {len(fb.disliked)} disliked"
                f" ({saved} on the reading list)"
            )
        signal = ranker.signal(state.id, state.chip_list)
        if not signal.any:
            lines.append(
                "Nothing learned yet: like a paper with `/radar like <arXiv id>` or the "
                "More like this button on a card."
            )
            return Reply("What this radar learned", tuple(lines), kind=ReplyKind.INFO)
        pool = self._pool()
        vectors = ranker.vectors(pool, signal.liked + signal.feedback.disliked)
        model = ranker.model(signal, vectors, [p.key for p in pool])
        if model is not None:
            liked = self.store.papers_by_key(list(model.liked))
            texts = [paper_text(p.title, p.abstract) for p in liked.values()]
            terms = model.top_terms(texts, TOP_TERMS)
            if terms:
                lines.append("Weighs most: " + ", ".join(terms))
        return Reply("What this radar learned", tuple(lines), kind=ReplyKind.INFO)

    def forget(self, state: ChannelState, who: str | None) -> Reply:
        """`/radar forget`: feedback cleared; chips (like chips too) stay."""
        n = self._relevance.forget(state.id) if state.id else 0
        if not n:  # nothing changed: nothing for the channel to be told either
            raise NotFoundError(
                "This radar has no feedback to forget (no like, dislike or save here); "
                "nothing changed. Like chips stay until `/radar remove`."
            )
        title = said(who, "cleared what this radar learned.", "Cleared what this radar learned.")
        lines = (
            f"{n} verdict{'s' if n != 1 else ''} no longer count; saved papers stay on the "
            "reading list and chips stay (remove a like chip with `/radar remove`).",
        )
        return Reply(title, lines, chips=state.chips or None, kind=ReplyKind.INFO)

    # -- the reading list ------------------------------------------------------------

    def saved(self, state: ChannelState, bibtex: bool) -> Reply:
        """`/radar saved [bibtex]`: the channel's reading list, newest first."""
        items = self._relevance.saved(state.id) if state.id else []
        if not items:
            return Reply(
                "The reading list is empty",
                ("Save a paper with the Save button on its card.",),
                kind=ReplyKind.INFO,
            )
        papers = self.store.papers_by_key([i.key for i in items])
        found = [papers[i.key] for i in items if i.key in papers]
        if bibtex:
            return Reply(
                f"Reading list as BibTeX: {len(found)} paper{'s' if len(found) != 1 else ''}",
                ("Save it as a .bib file, or paste it into Zotero (Import from Clipboard).",),
                kind=ReplyKind.INFO,
                code="\n\n".join(bibtex_entry(p) for p in found),
            )
        cards = self._cards(state, [_as_match(p) for p in found])
        return Reply(
            f"Reading list: {len(found)} paper{'s' if len(found) != 1 else ''}",
            ("`/radar saved bibtex` for BibTeX (Zotero imports it).",),
            cards=cards,
            kind=ReplyKind.INFO,
        )


def _as_match(paper: Paper) -> Match:
    return make_match(paper, (), 0, 0)


_BIB_UNSAFE = re.compile(r"[{}\\]")


def _bib(text: str) -> str:
    """A BibTeX field value: braces and backslashes dropped, whitespace folded."""
    return " ".join(_BIB_UNSAFE.sub("", text).split())


def bibtex_entry(paper: Paper) -> str:
    """One ``@misc`` entry in the form arXiv's own export uses (Zotero imports it)."""
    ident = paper.key.split(":", 1)[-1]
    surname = (paper.authors[0].split()[-1] if paper.authors else "anon").lower()
    cite = (
        re.sub(r"[^a-z0-9]", "", surname)
        + str(paper.published.year)
        + re.sub(r"[^0-9a-z]", "", ident.lower())[-5:]
    )
    fields: list[tuple[str, str]] = [
        ("title", _bib(paper.title)),
        ("author", " and ".join(_bib(a) for a in paper.authors) or "Unknown"),
        ("year", str(paper.published.year)),
        ("url", paper.url),
    ]
    if paper.key.startswith("arxiv:"):
        fields += [("eprint", ident), ("archivePrefix", "arXiv")]
        if paper.primary_category:
            fields.append(("primaryClass", paper.primary_category))
    return "@misc{" + cite + ",\n" + ",\n".join(f"  {k} = {{{v}}}" for k, v in fields) + "\n}"
