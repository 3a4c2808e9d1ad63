"""Ranking: the documented total order, independent of input order."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.chips import Chip, ChipKind
from bot.core.matching.radar import make_match, make_matches, match_paper
from bot.core.paper import Paper
from bot.core.ranking import rank

BASE = datetime(2026, 4, 29, 17, 0, tzinfo=UTC)


def paper(
    key: str,
    title: str = "x",
    abstract: str = "",
    authors: tuple[str, ...] = ("A B",),
    days_ago: int = 0,
    categories: tuple[str, ...] = ("cs.LG",),
) -> Paper:
    when = BASE - timedelta(days=days_ago)
    return Paper(
        key=key,
        source="arxiv",
        title=title,
        abstract=abstract,
        authors=authors,
        categories=categories,
        primary_category=categories[0],
        published=when,
        updated=when,
        url="https://arxiv.org/abs/" + key,
    )


RADAR = [
    Chip(ChipKind.AUTHOR, "Yehui Tang"),
    Chip(ChipKind.AUTHOR, "Wayne Xin Zhao"),
    Chip(ChipKind.KEYWORD, "distillation"),
    Chip(ChipKind.KEYWORD, '"language model"'),
    Chip(ChipKind.CATEGORY, "cs.LG"),
]


def ranked_keys(papers: list[Paper]) -> list[str]:
    matches = [m for p in papers if (m := match_paper(RADAR, p)) is not None]
    return [m.paper.key for m in rank(matches)]


def test_tiers_authors_then_keywords_then_categories() -> None:
    cat_only = paper("c", days_ago=0)
    kw_abstract = paper("k", abstract="on distillation", days_ago=3)
    author_old = paper("a", authors=("Tang, Yehui",), days_ago=9)
    assert ranked_keys([cat_only, kw_abstract, author_old]) == ["a", "k", "c"]


def test_more_author_chips_first() -> None:
    one = paper("one", authors=("Yehui Tang",))
    two = paper("two", authors=("Yehui Tang", "Wayne Xin Zhao"), days_ago=5)
    assert ranked_keys([one, two]) == ["two", "one"]


def test_keyword_relevance_chips_then_title_then_abstract() -> None:
    two_chips = paper("2chips", abstract="distillation of a language model", days_ago=4)
    title = paper("title", title="Distillation", days_ago=3)
    title_and_abstract = paper("both", title="Distillation", abstract="distillation", days_ago=5)
    abstract = paper("abstract", abstract="distillation", days_ago=0)
    assert ranked_keys([abstract, title, title_and_abstract, two_chips]) == [
        "2chips",
        "both",
        "title",
        "abstract",
    ]


def test_keywords_also_order_inside_author_tier() -> None:
    plain = paper("plain", authors=("Yehui Tang",))
    with_kw = paper("kw", authors=("Yehui Tang",), title="Distillation", days_ago=7)
    assert ranked_keys([plain, with_kw]) == ["kw", "plain"]


def test_ties_newest_first_then_key() -> None:
    old = paper("2604.00003", days_ago=2)
    new_b = paper("2604.00002", days_ago=0)
    new_a = paper("2604.00001", days_ago=0)
    assert ranked_keys([old, new_b, new_a]) == ["2604.00001", "2604.00002", "2604.00003"]


def test_rank_is_deterministic_whatever_the_input_order() -> None:
    papers = [
        paper(
            f"2604.{i:05d}",
            title=random.Random(i).choice(["Distillation", "x"]),
            abstract=random.Random(i + 1).choice(["language models", "", "distillation"]),
            authors=(random.Random(i + 2).choice(["Yehui Tang", "Yi Tang", "Wayne Zhao"]),),
            days_ago=i % 4,
        )
        for i in range(40)
    ]
    matches = [m for p in papers if (m := match_paper(RADAR, p)) is not None]
    expected = rank(matches)
    rng = random.Random(7)
    for _ in range(10):
        shuffled = matches[:]
        rng.shuffle(shuffled)
        assert rank(shuffled) == expected
    assert rank(matches) is not matches


def test_naive_datetimes_read_as_utc() -> None:
    aware = paper("b")
    naive = Paper(
        **{**aware.__dict__, "key": "a", "published": aware.published.replace(tzinfo=None)}
    )
    m1 = make_match(aware, (RADAR[4],), 0, 0)
    m2 = make_match(naive, (RADAR[4],), 0, 0)
    assert [m.paper.key for m in rank([m1, m2])] == ["a", "b"]


def test_empty() -> None:
    assert rank([]) == []


def test_matches_built_in_bulk_are_the_constructors_matches() -> None:
    """The planner's bulk constructor writes Match's slots itself: every field
    must be set as ``Match(...)`` sets it, and the Match must stay frozen."""
    papers = [paper("a", days_ago=1), paper("b"), paper("c", days_ago=2)]
    chip_sets = [(RADAR[0],), (RADAR[2], RADAR[4]), (RADAR[4],)]
    titles, abstracts = [0, 2, 0], [0, 1, 0]
    bulk = make_matches(papers, chip_sets, titles, abstracts)
    one_by_one = list(map(make_match, papers, chip_sets, titles, abstracts))
    assert bulk == one_by_one
    for built, expected in zip(bulk, one_by_one, strict=True):
        for f in dataclasses.fields(expected):  # a slot left unset raises here
            assert getattr(built, f.name) == getattr(expected, f.name)
        assert hash(built) == hash(expected)
        assert built.order == expected.order
        with pytest.raises(dataclasses.FrozenInstanceError):
            built.title_hits = 5  # type: ignore[misc]
    assert [m.paper.key for m in rank(bulk)] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        make_matches(papers, chip_sets, titles, abstracts[:2])
