"""Likes through the console (issue 12): a like chip re-ranks a channel's radar,
cards say why, an unknown id is fetched by one arXiv id_list request, and one
channel's likes never change another channel's order.

The real app against the replayed arXiv capture (``tests/flowkit.py``); the
embedding is the bundled offline WordLlama.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from flowkit import CAPTURE, NOW, Radar, card_ids, flat, radar
from sqlalchemy import select

from bot.core.actor import Actor
from bot.core.channel import ChannelRef
from bot.core.commands import Verdict
from bot.relevance import OpenAIEmbedder, Representer
from bot.service.relevance import Ranker
from bot.settings import RelevanceSettings
from bot.sources.replay import AtomPager, Reply, Request, Rule
from bot.store import models as m

OTHER = ChannelRef("console", "local", "other", "other")
#: "Turning the TIDE: Cross-Architecture Distillation for Diffusion LLMs" (cs.CL, cs.LG).
TIDE = "2604.26951"
#: The cs.LG paper on knowledge distillation for edge detection: nearest to TIDE.
EDGE_KD = "2604.26857"


def by_id(request: Request) -> Reply:
    """arXiv's ``id_list`` lookup, answered from the capture's entries."""
    wanted = request.params.get("id_list", "")
    pager = AtomPager(CAPTURE)
    pager.entries = [e for e in pager.entries if f"/abs/{wanted}".encode() in e]
    pager.total = len(pager.entries)
    return Reply(200, pager.page(0, 10))


def id_lookup(params: object) -> bool:
    return bool(getattr(params, "get", lambda *_: "")("id_list", ""))


@pytest.fixture
def r(tmp_path: Path) -> Iterator[Radar]:
    with radar(tmp_path, [Rule("/api/query", by_id, when=id_lookup)]) as bot:
        yield bot


def order(r: Radar, ref: ChannelRef | None = None) -> list[str]:
    """The whole radar in the channel's order (the cap raised above its 17 papers)."""
    r.say("/radar cap 20", ref)
    return card_ids(r.say("/radar filter since:7d", ref))


def test_a_like_chip_reranks_the_radar_and_cards_say_why(r: Radar) -> None:
    r.say("/radar category cs.LG")
    before = order(r)
    assert before.index(EDGE_KD) > 3  # newest-first puts it low

    out = r.say(f"/radar like {TIDE}")
    assert "More like: Turning the TIDE" in out
    ids = order(r)
    after = r.say("/radar filter since:7d")
    assert ids != before
    assert ids.index(EDGE_KD) < before.index(EDGE_KD)
    assert 'why: similar to "Turning the TIDE' in flat(after)
    assert "0." not in "".join(line for line in after.splitlines() if "why:" in line)


def test_the_digest_is_ordered_by_the_like_chip(r: Radar) -> None:
    r.say("/radar category cs.LG", OTHER)
    r.say("/radar category cs.LG")
    r.say(f"/radar like {TIDE}")
    r.say("/radar cap 20")
    r.say("/radar cap 20", OTHER)
    liked, plain = card_ids(r.say("/radar digest")), card_ids(r.say("/radar digest", OTHER))
    assert sorted(liked) == sorted(plain)  # chips decide what is on the radar
    assert liked != plain  # the like decides the order, in this channel only
    assert liked.index(EDGE_KD) < plain.index(EDGE_KD)


def test_one_channels_likes_never_change_another_channels_order(r: Radar) -> None:
    r.say("/radar category cs.LG", OTHER)
    r.say("/radar category cs.LG")
    before = order(r, OTHER)
    r.say(f"/radar like {TIDE}")
    svc = r.app.service
    svc.execute(r.ref, Verdict("like", f"arxiv:{EDGE_KD}"), Actor("U1", "Alice"))
    assert order(r, OTHER) == before


def test_liking_a_paper_not_stored_fetches_it_by_id_once(r: Radar) -> None:
    out = r.say(f"/radar like {TIDE}")  # nothing harvested yet
    assert "added like chip Turning the TIDE" in flat(out)
    lookups = [p for p in r.server.params if id_lookup(p)]
    assert [p.get("id_list") for p in lookups] == [TIDE]
    assert r.chips() == [("like", f"arxiv:{TIDE}")]


def test_a_like_chip_is_removed_by_the_id_it_was_liked_with_in_any_form(r: Radar) -> None:
    r.say(f"/radar like {TIDE}")
    r.say(f"/radar like {EDGE_KD}")
    r.say("/radar category cs.LG")
    out = r.say(f"/radar remove {TIDE}")
    assert out.splitlines()[0].startswith("You removed like chip Turning the TIDE")
    out = r.say(f"/radar remove https://arxiv.org/abs/{EDGE_KD}v2")
    assert out.splitlines()[0].startswith("You removed like chip")
    assert r.chips() == [("category", "cs.LG")]
    # An id no like chip has is still no chip, and nothing changes.
    assert f"No chip matches `{TIDE}`" in r.say(f"/radar remove {TIDE}")
    assert r.chips() == [("category", "cs.LG")]


def test_asking_or_briefing_a_paper_not_stored_fetches_it_by_id_once(r: Radar) -> None:
    """`/radar ask` and `/radar brief` name any arXiv paper by its id, as
    `/radar like` does: one id_list request, then it is stored."""
    out = r.say(f"/radar ask {TIDE} what do they distil?")  # nothing harvested yet
    assert out.startswith("About: Turning the TIDE")
    assert r.say(f"/radar brief {EDGE_KD}").startswith("Brief: ")
    r.say(f"/radar ask {TIDE} and on which data?")  # stored now: arXiv is not asked again
    lookups = [p.get("id_list") for p in r.server.params if id_lookup(p)]
    assert lookups == [TIDE, EDGE_KD]


def test_an_unknown_id_gets_a_clear_message_and_changes_nothing(r: Radar) -> None:
    out = r.say("/radar like 2604.99999")
    assert "arXiv has no paper 2604.99999" in out
    assert r.chips() == []
    assert "No card 07 has been posted" in r.say("/radar like 7")
    assert "not a card number, an arXiv id or a DOI" in r.say("/radar like banana")


def test_likes_shows_what_was_learned_and_forget_clears_feedback_not_chips(r: Radar) -> None:
    r.say("/radar category cs.LG")
    assert "Nothing learned yet" in r.say("/radar likes")
    r.say(f"/radar like {TIDE}")
    r.app.service.execute(r.ref, Verdict("dislike", f"arxiv:{EDGE_KD}"), Actor("U1", "A"))
    out = flat(r.say("/radar likes"))
    assert "Like chips: Turning the TIDE" in out
    assert "1 disliked" in out
    assert "Weighs most:" in out and "distillation" in out
    assert "1 verdict no longer count" in flat(r.say("/radar forget"))
    assert "0 disliked" in flat(r.say("/radar likes"))
    again = r.reply("/radar forget")  # nothing left: said to the asker alone
    assert again.kind == "error" and again.ephemeral
    assert again.title.startswith("This radar has no feedback to forget")
    assert ("like", f"arxiv:{TIDE}") in r.chips()


def test_feedback_is_idempotent_per_person(r: Radar) -> None:
    r.say("/radar category cs.LG")
    svc, key = r.app.service, f"arxiv:{EDGE_KD}"
    first = svc.execute(r.ref, Verdict("like", key), Actor("U1", "A"))
    again = svc.execute(r.ref, Verdict("like", key), Actor("U1", "A"))
    assert "noted" in first.title and "already" in again.title
    svc.execute(r.ref, Verdict("like", key), Actor("U2", "B"))
    assert "liked by 2 here" in flat(r.say("/radar filter since:7d"))
    svc.execute(r.ref, Verdict("like", key, undo=True), Actor("U2", "B"))
    assert "liked by 1 person here" in flat(r.say("/radar filter since:7d"))


def test_saved_lists_the_reading_list_and_bibtex(r: Radar) -> None:
    r.say("/radar category cs.LG")
    assert "reading list is empty" in r.say("/radar saved")
    r.app.service.execute(r.ref, Verdict("save", f"arxiv:{TIDE}"), Actor("U1", "A"))
    assert card_ids(r.say("/radar saved")) == [TIDE]
    bib = flat(r.say("/radar saved bibtex"))
    assert "@misc{" in bib and f"eprint = {{{TIDE}}}" in bib and "archivePrefix = {arXiv}" in bib


def test_saved_bibtex_is_printed_unwrapped_and_imports(r: Radar) -> None:
    """The BibTeX is text to copy: every field on its own line, whole, however
    long the title, and the braces of each entry balance."""
    r.say("/radar category cs.LG")
    r.app.service.execute(r.ref, Verdict("save", f"arxiv:{TIDE}"), Actor("U1", "A"))
    out = r.say("/radar saved bibtex")
    entry = out[out.index("@misc{") :]
    entry = entry[: entry.index("\n}") + 2]
    assert entry.count("{") == entry.count("}")
    fields = [line.strip() for line in entry.splitlines()[1:-1]]
    assert all(re.fullmatch(r"[a-zA-Z]+ = \{.*\},?", f) for f in fields), fields
    title = next(f for f in fields if f.startswith("title = "))
    assert "Turning the TIDE" in title and "Models" in title  # one line, not wrapped


def test_a_like_chips_papers_honour_the_radars_exclusions(r: Radar) -> None:
    r.say("/radar category cs.LG")  # harvests the day
    ranker = r.app.service.ranker
    assert ranker is not None  # a low `like_threshold`: the day's 20 papers are few
    ranker.settings = replace(ranker.settings, like_threshold=0.0)
    third = ChannelRef("console", "local", "third", "third")
    for ref in (OTHER, third):  # radars of one like chip, never shown a card
        r.say(f"/radar like {TIDE}", ref)
        r.say("/radar cap 20", ref)
    r.say("/radar keyword -edge", third)
    assert EDGE_KD in card_ids(r.say("/radar digest", OTHER))  # the like chip's watch adds it
    shown = card_ids(r.say("/radar digest", third))
    assert shown and EDGE_KD not in shown  # excluded, though similar to the liked paper


OA_WORK = Path(__file__).parent / "fixtures" / "openalex" / "openalex_work_W2741809807.json"


def test_a_doi_like_fetches_the_work_from_openalex(tmp_path: Path) -> None:
    """`/radar like <DOI>`: a journal article, fetched by DOI (any common
    spelling) from OpenAlex, becomes a like chip by its title."""
    rules = [
        Rule("/works/doi:10.7717/peerj.4375", Reply(200, OA_WORK, content_type="application/json"))
    ]
    with radar(tmp_path / "doi", openalex=rules) as r:
        text = flat(r.say("/radar like https://doi.org/10.7717/PeerJ.4375"))
        assert "More like: The state of OA" in text
        again = flat(r.say("/radar like doi:10.7717/peerj.4375"))
        assert "already on this radar" in again
        missing = flat(r.say("/radar like 10.1000/nothing-here"))
        assert "OpenAlex has no work with DOI 10.1000/nothing-here" in missing
        chips = flat(r.say("/radar"))
        assert chips.count("More like:") == 1


def test_a_doi_like_without_openalex_says_so(r: Radar) -> None:
    text = flat(r.say("/radar like 10.7717/peerj.4375"))
    assert "turned off here" in text and "More like" not in flat(r.say("/radar"))


# -- vectors at store time (issue 12) -----------------------------------------------------

#: In the capture, with the DOI of its published version: "Multiple Additive Neural
#: Networks for Structured and Unstructured Data" (10.1007/978-3-031-85252-7_10).
WITH_DOI = "2604.26888"


def vector_keys(r: Radar) -> set[str]:
    """Keys of the papers that have a row in ``paper_vectors``."""
    q = select(m.Paper.key).join(m.PaperVector, m.PaperVector.paper_id == m.Paper.id)
    with r.app.store.engine.connect() as conn:
        return set(conn.scalars(q))


def settled(r: Radar) -> None:
    """Wait for the vectors a command asked for in the background."""
    vectorizer = r.app.harvester.vectorizer
    assert vectorizer is not None and vectorizer.wait(timeout=60)


def ranking_calls(r: Radar, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every ``Ranker.vectors`` call (ranking's own catch-up) from now on."""
    ranker = r.app.service.ranker
    assert ranker is not None
    calls: list[int] = []
    real = Ranker.vectors

    def counted(self: Ranker, *args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Ranker, "vectors", counted)
    return calls


def test_a_paper_liked_by_id_is_represented_where_it_is_stored(
    r: Radar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fetched by id and stored by the like itself, the paper gets its vectors
    from the store path (in the background), not from a later ranking."""
    calls = ranking_calls(r, monkeypatch)
    out = r.say(f"/radar like {TIDE}")  # nothing harvested yet
    assert "added like chip Turning the TIDE" in flat(out)
    settled(r)
    assert vector_keys(r) == {f"arxiv:{TIDE}"}
    assert calls == []


def test_a_new_chips_backfill_is_represented_without_any_like(r: Radar) -> None:
    """A channel with no signal never ranks, so nothing else would represent what
    its chip's backfill stored until a later command in some channel needed it."""
    r.say("/radar category cs.LG")
    settled(r)
    stored = {p.key for p in r.app.store.papers_since(NOW - timedelta(days=30))}
    assert len(stored) == 20 and vector_keys(r) == stored


def test_a_like_works_with_the_embeddings_server_down(r: Radar) -> None:
    """The paper is stored and the chip added; its vectors wait for a later pass."""
    ranker = r.app.service.ranker
    assert ranker is not None
    dead = RelevanceSettings(
        embedder="openai",
        embedding_base_url="http://127.0.0.1:9/v1",  # nothing listens there
        embedding_model="m",
        embedding_max_retries=0,
        embedding_timeout_seconds=2.0,
    )
    ranker.vectorizer.representer = Representer(OpenAIEmbedder(dead))
    out = r.say(f"/radar like {TIDE}")
    assert "added like chip Turning the TIDE" in flat(out)
    settled(r)
    assert r.chips() == [("like", f"arxiv:{TIDE}")]
    assert r.app.store.papers_by_key([f"arxiv:{TIDE}"]) and vector_keys(r) == set()


# -- a DOI already stored needs no OpenAlex -----------------------------------------------


def test_a_doi_like_of_a_stored_paper_asks_nobody_with_openalex_off(r: Radar) -> None:
    r.say("/radar category cs.LG")  # stores the capture, WITH_DOI among it
    asked = len(r.server.requests)
    out = flat(r.say("/radar like https://doi.org/10.1007/978-3-031-85252-7_10"))
    assert "added like chip Multiple Additive Neural Networks" in out
    assert r.chips()[-1] == ("like", f"arxiv:{WITH_DOI}")
    assert len(r.server.requests) == asked  # not even an arXiv lookup


def test_a_doi_like_of_a_stored_paper_works_with_openalex_down(tmp_path: Path) -> None:
    with radar(tmp_path / "down", openalex=[Rule("/", Reply(503))]) as r:
        r.say("/radar category cs.LG")
        out = flat(r.say("/radar like doi:10.1007/978-3-031-85252-7_10"))
        assert "More like: Multiple Additive Neural Networks" in out
        assert r.openalex is not None and r.openalex.requests == []
        # A DOI nobody has stored still asks OpenAlex (which is down: said so).
        missing = flat(r.say("/radar like 10.1000/nothing-here"))
        assert "OpenAlex did not answer" in missing
        assert len(r.openalex.requests) >= 1
