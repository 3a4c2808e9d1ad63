"""Which OpenAlex author records plausibly are the person a chip names.

Candidates come from the real ``/authors?search=mearman`` capture: eight
records with the surname, two of them the people this test is about (Andrew
Mearman, economist at Leeds; Joseph Mearman, visualisation at Bangor), two
that may be one person split in two (ROBERT C. MEARMAN, R. C. MEARMAN), and
one that is parse debris ("Downward and Mearman Tony Lawson").
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.identity import (
    AuthorCandidate,
    describe,
    identity_evidence,
    looks_like_person,
    name_variants,
    plausible_people,
)
from bot.core.paper import Paper
from bot.sources.openalex import candidate_from_author

FIXTURES = Path(__file__).parent / "fixtures" / "openalex"


def load(name: str) -> object:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def mearmans() -> list[AuthorCandidate]:
    data = load("openalex_authors_search-mearman_8results.json")
    assert isinstance(data, dict)
    return [c for a in data["results"] if (c := candidate_from_author(a)) is not None]


def names(found: list[AuthorCandidate]) -> list[str]:
    return [c.display_name for c in found]


def test_full_name_finds_exactly_the_bangor_mearman() -> None:
    [joseph] = plausible_people("Joseph Mearman", mearmans())
    assert joseph.id == "A5017898742"
    assert joseph.institutions == ("Bangor University",)


@pytest.mark.parametrize("typed", ["J. Mearman", "Mearman, J.", "Joseph W. Mearman", "J Mearman"])
def test_other_spellings_of_joseph(typed: str) -> None:
    assert names(plausible_people(typed, mearmans())) == ["Joseph Mearman"]


@pytest.mark.parametrize("typed", ["A. Mearman", "Andrew Mearman", "Mearman, Andrew"])
def test_andrew(typed: str) -> None:
    assert names(plausible_people(typed, mearmans())) == ["Andrew Mearman"]


def test_surname_alone_is_several_people_most_established_first() -> None:
    found = plausible_people("Mearman", mearmans())
    assert names(found) == [
        "Andrew Mearman",  # 106 works
        "Joseph Mearman",  # 9
        "David H. Mearman",  # 2
        "Kimberly A. Mearman",  # 1 work, active 2013
        "R. C. MEARMAN",  # 1 work, no recent activity: then by name
        "ROBERT C. MEARMAN",
        "S. Mearman",
    ]
    assert "Downward and Mearman Tony Lawson" not in names(found)


def test_same_initials_two_records_both_offered() -> None:
    # "R. Mearman" fits two records; the channel must be asked to pick.
    assert names(plausible_people("R. Mearman", mearmans())) == [
        "R. C. MEARMAN",
        "ROBERT C. MEARMAN",
    ]
    assert names(plausible_people("Robert Mearman", mearmans())) == ["ROBERT C. MEARMAN"]


def test_nobody_plausible() -> None:
    assert plausible_people("Jason Priem", mearmans()) == []
    assert plausible_people("Tony Lawson", mearmans()) == []  # only inside the debris record
    with pytest.raises(ValueError):
        plausible_people("  ", mearmans())


def test_order_is_stable_whatever_the_input_order() -> None:
    expected = plausible_people("Mearman", mearmans())
    rng = random.Random(3)
    for _ in range(5):
        shuffled = mearmans()
        rng.shuffle(shuffled)
        assert plausible_people("Mearman", shuffled) == expected


def test_duplicate_records_are_listed_once() -> None:
    candidates = mearmans()
    assert len(plausible_people("Mearman", candidates + candidates)) == 7


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Joseph Mearman", True),
        ("ROBERT C. MEARMAN", True),
        ("Mearman, Joseph", True),
        ("Mearman", True),
        ("Downward and Mearman Tony Lawson", False),
        ("Smith & Jones", False),
        ("Smith et al.", False),
        ("J. Smith, K. Jones, L. Brown", False),
        ("Dept. of Physics (MIT)", False),
        ("Author 1", False),
        ("One Two Three Four Five Six Seven", False),
        ("", False),
    ],
)
def test_looks_like_person(name: str, ok: bool) -> None:
    assert looks_like_person(name) is ok


def test_name_variants() -> None:
    joseph = next(c for c in mearmans() if c.id == "A5017898742")
    assert name_variants(joseph) == ("Joseph Mearman", "Joseph W. Mearman", "J. W. Mearman")


def test_describe_lines_for_a_pick_list() -> None:
    by_name = {c.display_name: c for c in mearmans()}
    assert describe(by_name["Joseph Mearman"]) == (
        "Joseph Mearman — Bangor University — 9 works — "
        "Augmented Reality Applications, 3D Surveying and Cultural Heritage"
    )
    assert describe(by_name["Andrew Mearman"]) == (
        "Andrew Mearman — University of Leeds — 106 works — "
        "Economic Theory and Institutions — ORCID 0000-0003-0601-8060"
    )
    assert describe(by_name["S. Mearman"]) == (
        "S. Mearman — 1 work — Reproductive tract infections research"
    )
    for candidate in by_name.values():
        assert len(describe(candidate)) <= 120
        assert "\n" not in describe(candidate)


def test_describe_clips_to_width() -> None:
    long = AuthorCandidate(id="A1", display_name="Ann " + "Verylongname" * 20, works_count=3)
    line = describe(long, width=60)
    assert len(line) == 60 and line.endswith("…")


def test_single_author_record_with_orcid_and_affiliation_history() -> None:
    data = load("openalex_author_A5023888391_Jason-Priem.json")
    assert isinstance(data, dict)
    jason = candidate_from_author(data)
    assert jason is not None
    assert jason.id == "A5023888391"
    assert jason.orcid == "0000-0001-6187-6610"
    assert jason.institutions == ("OurResearch",)
    assert describe(jason).startswith("Jason Priem — OurResearch — ")
    assert plausible_people("J. Priem", [jason]) == [jason]


def _work(key: str, authors: tuple[str, ...], categories: tuple[str, ...]) -> Paper:
    when = datetime(2026, 4, 1, tzinfo=UTC)
    return Paper(
        key=key,
        source="openalex",
        title="A work",
        abstract="",
        authors=authors,
        categories=categories,
        primary_category=categories[0] if categories else "",
        published=when,
        updated=when,
        url="https://example.org/",
    )


def test_identity_evidence_is_co_authors_and_arxiv_categories_not_the_person() -> None:
    works = [
        _work("arxiv:2108.04680", ("Joseph Mearman", "Jonathan C. Roberts"), ("cs.HC", "Media")),
        _work("openalex:W1", ("J. W. Mearman", "Panagiotis D. Ritsos", "Jonathan Roberts"), ()),
        # Not known to arXiv: its categories are OpenAlex subfields, not evidence.
        _work("openalex:W2", ("Joseph W. Mearman", "Bob Mearman"), ("cs.AI",)),
    ]
    evidence = identity_evidence(("Joseph Mearman", "J. W. Mearman"), works)
    # Keys are surname/initial: "Wang" alone would confirm half a field's namesakes.
    # Roberts co-wrote two works, so he comes first; the person's own keys never
    # count (every namesake's byline has them), but Bob Mearman is someone else.
    # A bare two-word name is read both ways, so "Jonathan Roberts" adds "jonathan/r".
    assert evidence == (
        "cat:cs.HC",
        "co:roberts/j",
        "co:bob/m",
        "co:jonathan/r",
        "co:mearman/b",
        "co:ritsos/p",
    )
    assert identity_evidence(("Joseph Mearman",), []) == ()


def test_identity_evidence_is_capped() -> None:
    works = [
        _work(
            f"arxiv:2604.{i:05d}",
            ("Ann Smith", f"Bo Co{i:03d}x"),
            (f"cs.X{chr(65 + i % 26)}{chr(65 + i // 26)}",),
        )
        for i in range(300)
    ]
    evidence = identity_evidence(("Ann Smith",), works)
    assert sum(e.startswith("cat:") for e in evidence) == 20
    assert sum(e.startswith("co:") for e in evidence) == 200
