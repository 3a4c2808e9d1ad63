"""One work, one card: merging preprint and published versions from real OpenAlex records.

The pairs come from captured OpenAlex responses (``tests/fixtures/openalex``):
ChemCrow (Nature Machine Intelligence W4396723768 + arXiv preprint
W4365597205, different titles), Mearman et al. (arXiv preprint W3188841554 +
W3187234764 with a CGVC DOI, same title), and lme4 (one journal record with an
arXiv location). arXiv's own records for these papers are not among the
captures, so the few tests that need one build it by hand from the public
arXiv listing (say so where they do).
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.dedupe import (
    arxiv_id_from_doi,
    arxiv_id_from_url,
    merge,
    normalize_doi,
    paper_arxiv_id,
    preprint_server,
    title_keys,
)
from bot.core.paper import Paper
from bot.sources.openalex import paper_from_work

FIXTURES = Path(__file__).parent / "fixtures" / "openalex"
CHEMCROW = FIXTURES / "openalex_works_title.search-chemcrow_preprint+journal_2results.json"
JOSEPH = FIXTURES / "openalex_works_filter-author.id-A5017898742_9results.json"
PAGE1 = FIXTURES / "openalex_works_page1_per50.json"


def papers(path: Path) -> list[Paper]:
    results: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["results"]
    return [p for w in results if (p := paper_from_work(w)) is not None]


def by_openalex_id(items: list[Paper], work_id: str) -> Paper:
    return next(p for p in items if p.extra.get("openalex") == work_id)


def arxiv_record(**fields: Any) -> Paper:
    base: dict[str, Any] = {
        "key": "arxiv:0000.00000",
        "source": "arxiv",
        "title": "A title",
        "abstract": "",
        "authors": ("Ann Author",),
        "categories": ("cs.LG",),
        "primary_category": "cs.LG",
        "published": datetime(2024, 1, 1, tzinfo=UTC),
        "updated": datetime(2024, 1, 1, tzinfo=UTC),
        "url": "https://arxiv.org/abs/0000.00000",
    }
    base.update(fields)
    return Paper(**base)


# -- the real pairs ---------------------------------------------------------------------------


def test_chemcrow_preprint_and_journal_are_one_paper() -> None:
    items = papers(CHEMCROW)
    journal = by_openalex_id(items, "W4396723768")
    preprint = by_openalex_id(items, "W4365597205")
    assert journal.title != preprint.title  # "ChemCrow: ..." vs the journal's title

    [merged] = merge(items)

    assert merged.key == "arxiv:2304.05376"  # arXiv identity, so ledgers keep working
    assert merged.title == "Augmenting large language models with chemistry tools"
    assert merged.venue == "Nature Machine Intelligence"
    assert merged.journal_ref == "Nature Machine Intelligence 6(5), 525–535 (2024)"
    assert merged.doi == "10.1038/s42256-024-00832-8"
    assert merged.url == "https://doi.org/10.1038/s42256-024-00832-8"
    assert merged.links == ("https://arxiv.org/abs/2304.05376",)
    assert merged.authors == journal.authors  # the longer list (6 vs 4)
    assert merged.abstract == preprint.abstract  # the longer abstract
    assert len(preprint.abstract) > len(journal.abstract)
    assert merged.published == preprint.published  # the earliest version
    assert merged.updated == max(journal.updated, preprint.updated)
    assert merged.extra["aliases"] == "openalex:W4396723768"
    assert merged.extra["sources"] == "openalex"


def test_mearman_preprint_and_proceedings_version_merge_among_nine() -> None:
    items = papers(JOSEPH)
    assert len(items) == 9

    merged = merge(items)

    assert len(merged) == 8
    [pair] = [p for p in merged if p.title.startswith("3D Visualisations Should Not")]
    assert pair.key == "arxiv:2108.04680"
    assert pair.doi == "10.2312/cgvc.20211309"  # the published DOI over arXiv's DataCite one
    assert pair.url == "https://doi.org/10.2312/cgvc.20211309"
    assert "https://arxiv.org/abs/2108.04680" in pair.links
    assert pair.extra["aliases"] == "openalex:W3187234764"
    # Everything else comes back untouched, in input order.
    singles = [p for p in merged if p is not pair]
    assert singles == [p for p in items if p in singles]
    assert all(any(p is q for q in items) for p in singles)


def test_lme4_journal_record_merges_with_arxivs_own_record() -> None:
    lme4 = next(p for p in papers(PAGE1) if p.key == "arxiv:1406.5823")
    # arXiv's record for 1406.5823, hand-written from the public arXiv listing.
    from_arxiv = arxiv_record(
        key="arxiv:1406.5823",
        title="Fitting Linear Mixed-Effects Models using lme4",
        abstract="Maximum likelihood or restricted maximum likelihood (REML) estimates ...",
        authors=("Douglas Bates", "Martin Mächler", "Benjamin M. Bolker", "Steven C. Walker"),
        categories=("stat.CO",),
        primary_category="stat.CO",
        published=datetime(2014, 6, 23, 14, 3, tzinfo=UTC),
        updated=datetime(2014, 6, 23, 14, 3, tzinfo=UTC),
        url="https://arxiv.org/abs/1406.5823",
        pdf_url="https://arxiv.org/pdf/1406.5823v1",
        comment="51 pages, including R code",
    )

    [merged] = merge([from_arxiv, lme4])

    assert merged.key == "arxiv:1406.5823"
    assert merged.source == "arxiv"  # arXiv's own record is among the versions
    assert merged.venue == "Journal of Statistical Software"
    assert merged.title == "Fitting Linear Mixed-Effects Models Using lme4"
    assert merged.url == "https://doi.org/10.18637/jss.v067.i01"
    assert merged.links == ("https://arxiv.org/abs/1406.5823",)
    assert merged.categories[0] == "stat.CO" and merged.primary_category == "stat.CO"
    assert merged.published == from_arxiv.published
    assert merged.pdf_url == "https://arxiv.org/pdf/1406.5823v1"
    assert merged.comment == "51 pages, including R code"
    assert merged.doi == "10.18637/jss.v067.i01"
    assert merged.extra["sources"] == "arxiv openalex"
    assert "aliases" not in merged.extra  # both versions already share the key


def test_arxiv_record_and_openalex_preprint_keep_arxivs_metadata() -> None:
    preprint = by_openalex_id(papers(CHEMCROW), "W4365597205")
    # arXiv's own record for 2304.05376, hand-written from the public arXiv listing.
    from_arxiv = arxiv_record(
        key="arxiv:2304.05376",
        title="ChemCrow: Augmenting large-language models with chemistry tools",
        abstract="Over the last decades, excellent computational chemistry tools ...",
        authors=(
            "Andres M Bran",
            "Sam Cox",
            "Oliver Schilter",
            "Carlo Baldassari",
            "Andrew D White",
            "Philippe Schwaller",
        ),
        categories=("physics.chem-ph", "cs.AI", "stat.ML"),
        primary_category="physics.chem-ph",
        published=datetime(2023, 4, 11, 17, 41, tzinfo=UTC),
        updated=datetime(2023, 10, 2, 17, 31, tzinfo=UTC),
        url="https://arxiv.org/abs/2304.05376",
        version=5,
    )

    [merged] = merge([preprint, from_arxiv])

    assert merged.source == "arxiv"
    assert merged.url == "https://arxiv.org/abs/2304.05376"
    assert merged.primary_category == "physics.chem-ph"
    assert merged.published == from_arxiv.published  # arXiv's first-version date wins
    assert merged.version == 5
    assert merged.abstract == preprint.abstract  # OpenAlex's full abstract is longer
    assert merged.venue == "arXiv (Materials Chemistry)"


def test_all_three_versions_of_chemcrow() -> None:
    items = papers(CHEMCROW)
    from_arxiv = arxiv_record(
        key="arxiv:2304.05376",
        title="ChemCrow: Augmenting large-language models with chemistry tools",
        authors=("Andres M Bran", "Sam Cox"),
        published=datetime(2023, 4, 11, tzinfo=UTC),
        updated=datetime(2023, 10, 2, tzinfo=UTC),
        url="https://arxiv.org/abs/2304.05376",
    )
    [merged] = merge([*items, from_arxiv])
    assert merged.key == "arxiv:2304.05376" and merged.source == "arxiv"
    assert merged.venue == "Nature Machine Intelligence"
    assert merged.url == "https://doi.org/10.1038/s42256-024-00832-8"
    assert merged.links == ("https://arxiv.org/abs/2304.05376",)
    assert merged.published == datetime(2023, 4, 11, tzinfo=UTC)


# -- determinism and restraint --------------------------------------------------------------


def test_result_does_not_depend_on_input_order() -> None:
    items = papers(JOSEPH) + papers(CHEMCROW)
    expected = {p.key: p for p in merge(items)}
    rng = random.Random(7)
    for _ in range(5):
        shuffled = items[:]
        rng.shuffle(shuffled)
        again = merge(shuffled)
        assert {p.key: p for p in again} == expected
        assert {p.key: (p.extra, p.links, p.venue) for p in again} == {
            p.key: (p.extra, p.links, p.venue) for p in expected.values()
        }


def test_merge_is_idempotent() -> None:
    once = merge(papers(JOSEPH) + papers(CHEMCROW))
    twice = merge(once)
    assert [p.key for p in twice] == [p.key for p in once]
    assert all(a is b for a, b in zip(once, twice, strict=True))


def test_fifty_highly_cited_works_merge_only_real_duplicates() -> None:
    items = papers(PAGE1)
    merged = merge(items)
    # OpenAlex itself holds two of these works twice: Bradford 1976 under its
    # real and its placeholder DOI, Baron & Kenny 1986 under two spellings of
    # one DOI ("//" and "/"), each with the same title and first author.
    assert len(merged) == len(items) - 2
    assert sorted(p.extra["aliases"] for p in merged if "aliases" in p.extra) == [
        "openalex:W2128635872",
        "openalex:W4292811746",
    ]
    # Look-alikes that are different works stay apart: two VASP papers by
    # Kresse & Furthmüller (1996), the DSM-5 and an encyclopedia entry about it,
    # two reviews of Cohen's book, two "Molecular Cloning" records by different authors.
    titles = [p.title.casefold() for p in merged]
    assert titles.count("statistical power analysis for the behavioral sciences") == 2
    assert titles.count("diagnostic and statistical manual of mental disorders") == 2
    assert sum("ab initio total-energy" in t or "ab-initio total energy" in t for t in titles) == 2


def test_different_arxiv_ids_never_merge() -> None:
    a = arxiv_record(key="arxiv:2401.00001", title="Scaling laws for everything under the sun")
    b = replace(a, key="arxiv:2401.00002", url="https://arxiv.org/abs/2401.00002")
    assert len(merge([a, b])) == 2
    # Not even through a third record that matches both by title.
    c = replace(a, key="openalex:W1", source="openalex", url="https://example.org/w1")
    merged = merge([a, b, c])
    assert len(merged) == 2
    assert sorted(p.key for p in merged) == ["arxiv:2401.00001", "arxiv:2401.00002"]


@pytest.mark.parametrize(
    ("other", "same"),
    [
        ({"authors": ("Bea Other", "Ann Author")}, False),  # different first author
        ({"title": "Reply"}, False),  # too short to identify a work
        ({"published": datetime(2012, 1, 1, tzinfo=UTC)}, False),  # a decade apart
        ({"title": "SCALING LAWS for Everything-under the Sun!"}, True),  # folding
        ({"authors": ("A. Author",)}, True),  # first-author surname is enough
        ({"title": "Atlas: scaling laws for everything under the sun"}, True),  # lead-in
    ],
)
def test_title_and_first_author_rule(other: dict[str, Any], same: bool) -> None:
    a = arxiv_record(key="arxiv:2401.00001", title="Scaling laws for everything under the sun")
    fields: dict[str, Any] = {
        "key": "openalex:W9",
        "source": "openalex",
        "url": "https://example.org/w9",
        "title": a.title,
        **other,
    }
    b = replace(a, **fields)
    assert (len(merge([a, b])) == 1) is same


def test_doi_and_url_matches() -> None:
    journal = arxiv_record(
        key="openalex:W1",
        source="openalex",
        title="One title",
        doi="10.1038/S42256-024-00832-8",
        url="https://doi.org/10.1038/s42256-024-00832-8",
    )
    other = replace(
        journal,
        key="openalex:W2",
        title="Another title",
        doi="https://doi.org/10.1038/s42256-024-00832-8",
    )
    assert len(merge([journal, other])) == 1
    mirror = arxiv_record(key="openalex:W3", source="openalex", title="Third title",
                          url="http://export.arxiv.org/abs/2304.05376v2")  # fmt: skip
    preprint = arxiv_record(key="arxiv:2304.05376", title="Fourth title")
    [merged] = merge([mirror, preprint])
    assert merged.key == "arxiv:2304.05376"


def test_single_records_come_back_unchanged() -> None:
    items = papers(CHEMCROW)[:1]
    assert merge(items)[0] is items[0]
    assert merge([]) == []


# -- helpers --------------------------------------------------------------------------------


def test_identifier_helpers() -> None:
    assert normalize_doi("https://doi.org/10.48550/arXiv.2304.05376") == "10.48550/arxiv.2304.05376"
    assert normalize_doi("doi:10.1000/XYZ.") == "10.1000/xyz"
    assert normalize_doi("not a doi") is None
    assert normalize_doi(None) is None
    assert arxiv_id_from_doi("10.48550/arXiv.2304.05376") == "2304.05376"
    assert arxiv_id_from_doi("10.48550/arxiv.cond-mat/0201015") == "cond-mat/0201015"
    assert arxiv_id_from_doi("10.1038/x") is None
    assert arxiv_id_from_url("https://arxiv.org/abs/2304.05376v3") == "2304.05376"
    assert arxiv_id_from_url("https://arxiv.org/pdf/cond-mat/0201015v2.pdf") == "cond-mat/0201015"
    assert arxiv_id_from_url("http://export.arxiv.org/pdf/1409.1556") == "1409.1556"
    assert arxiv_id_from_url("https://arxiv.org/abs/math.AG/0309136") == "math/0309136"
    assert arxiv_id_from_url("https://example.org/abs/2304.05376") is None
    assert arxiv_id_from_url("https://arxiv.org/list/cs.LG/new") is None
    assert paper_arxiv_id(arxiv_record(key="openalex:W1", url="https://x.org", doi=None)) is None


def test_preprint_server_names() -> None:
    assert preprint_server("arXiv (Cornell University)") == "arXiv"
    assert preprint_server("bioRxiv (Cold Spring Harbor Laboratory)") == "bioRxiv"
    assert preprint_server("medRxiv (Cold Spring Harbor Laboratory)") == "medRxiv"
    assert preprint_server("SSRN Electronic Journal") == "SSRN"
    assert preprint_server("Research Square (Research Square)") == "Research Square"
    assert preprint_server("AgriXiv-like rxiv (Host)") == "AgriXiv-like rxiv"
    assert preprint_server("Nature Machine Intelligence") is None
    assert preprint_server("PubMed Central") is None
    assert preprint_server(None) is None


def test_title_keys() -> None:
    assert title_keys("ChemCrow: Augmenting large-language models with chemistry tools") == {
        "chemcrow augmenting large language models with chemistry tools",
        "augmenting large language models with chemistry tools",
    }
    assert title_keys("Reply") == frozenset()
    # A long lead-in is the real title, not a system name: no shortened key.
    assert title_keys("A study of many things: part one of two") == {
        "a study of many things part one of two"
    }
