"""Keyword queries, radar semantics, and the index == brute-force contract."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import text as text_module
from bot.core.chips import Chip, ChipKind
from bot.core.matching.filters import author_in_paper, category_in_paper, keyword_in_paper
from bot.core.matching.index import RadarIndex
from bot.core.matching.keywords import KeywordQuery, keyword_hits, paper_text
from bot.core.matching.querytable import QueryTable
from bot.core.matching.radar import Radar, match_paper
from bot.core.matching.tokencodes import FormCodes
from bot.core.matching.topk import RadarPlanner
from bot.core.names import parse_name
from bot.core.paper import Paper
from bot.core.ranking import rank
from bot.core.text import strip_latex, token_bytes, tokenize, word_forms

BASE = datetime(2026, 4, 29, 17, 0, tzinfo=UTC)
#: The token rule as the module documents it: maximal runs of letters and digits.
WORD_RUNS = re.compile(r"[^\W_]+")


def paper(
    title: str = "A paper",
    abstract: str = "",
    authors: tuple[str, ...] = ("Ann Example",),
    categories: tuple[str, ...] = ("cs.LG",),
    source: str = "arxiv",
    key: str = "arxiv:2604.00001",
    days_ago: int = 0,
    extra: dict[str, str] | None = None,
) -> Paper:
    when = BASE - timedelta(days=days_ago)
    return Paper(
        extra=dict(extra or {}),
        key=key,
        source=source,
        title=title,
        abstract=abstract,
        authors=authors,
        categories=categories,
        primary_category=categories[0] if categories else "",
        published=when,
        updated=when,
        url=f"https://arxiv.org/abs/{key.split(':')[-1]}",
    )


def kw(value: str, title: str, abstract: str = "") -> bool:
    return keyword_in_paper(KeywordQuery.parse(value), paper(title, abstract))


A = ChipKind.AUTHOR
KW = ChipKind.KEYWORD
CAT = ChipKind.CATEGORY
SRC = ChipKind.SOURCE
EX = ChipKind.EXCLUDE

# A real entry of the captured feed (arxiv_api_query_cat-cs.LG-OR-cs.AI_max20.xml), by hand.
TIDE = paper(
    title="Turning the TIDE: Cross-Architecture Distillation for Diffusion Large Language Models",
    abstract=(
        "Diffusion large language models (dLLMs) offer parallel decoding and bidirectional "
        "context, but state-of-the-art dLLMs require billions of parameters for competitive "
        "performance. While existing distillation methods for dLLMs reduce inference steps "
        "within a single architecture, none address cross-architecture knowledge transfer, in "
        "which the teacher and student differ in architecture, attention mechanism, and "
        "tokenizer. We present TIDE, the first framework for cross-architecture dLLM "
        "distillation ... accounting for the teacher's noise-dependent reliability."
    ),
    authors=("Gongbo Zhang", "Wen Wang", "Ye Tian", "Li Yuan"),
    categories=("cs.CL", "cs.AI", "cs.LG"),
    key="arxiv:2604.26951",
)
RECSYS = paper(
    title="Towards Efficient Retrieval-Augmented Generation Agents",
    abstract="We study LLM-based agents that reason over retrieved evidence in $\\mathcal{O}(n)$.",
    authors=("Fei Bai", "Huatong Song", "Jian Yang", "Wayne Xin Zhao", "Ming-Chang Yang"),
    categories=("cs.AI", "cs.IR"),
    key="arxiv:2604.26000",
)
GERMAN = paper(
    title="Learning Surrogates for Control",
    abstract="A survey of surrogate models.",
    authors=("Janis Mohr", "Jörg Frochte", "Eloy Mosig García", "Adrienn Éva Borsy"),
    categories=("eess.SY", "cs.LG"),
    key="arxiv:2604.25000",
)


# --- keyword queries ----------------------------------------------------------------------


def test_parse_phrases_and_bare_words() -> None:
    q = KeywordQuery.parse('"large language model" agents')
    assert q.phrases == (("large", "language", "model"), ("agents",))
    assert KeywordQuery.parse("diffusion transformer").phrases == (("diffusion",), ("transformer",))
    assert KeywordQuery.parse('"graph neural networks"').phrases == (
        ("graph", "neural", "networks"),
    )
    assert KeywordQuery.parse("state-of-the-art").phrases == (("state", "of", "the", "art"),)
    assert KeywordQuery.parse("“smart quotes” here").phrases == (("smart", "quotes"), ("here",))
    assert KeywordQuery.parse('"unbalanced phrase').phrases == (("unbalanced", "phrase"),)
    assert KeywordQuery.parse("-survey").phrases == (("survey",),)
    assert KeywordQuery.parse("LLM llm").phrases == (("llm",),)


def test_equal_queries_compare_equal() -> None:
    assert KeywordQuery.parse("Diffusion   Transformer") == KeywordQuery.parse(
        "diffusion transformer"
    )


@pytest.mark.parametrize("value", ["", "   ", '""', '" "', "---", "$$", "{}", "\\", "!!"])
def test_parse_rejects_empty_or_garbage(value: str) -> None:
    with pytest.raises(ValueError):
        KeywordQuery.parse(value)


def test_parse_rejects_non_string() -> None:
    with pytest.raises(ValueError):
        KeywordQuery.parse(None)  # type: ignore[arg-type]


def test_all_phrases_required_and_consecutive() -> None:
    assert kw('"large language model" agents', "Large language models as agents")
    assert not kw('"large language model" agents', "Large language models")
    assert not kw('"large language model"', "large models of language")
    assert kw('"language model"', "language. Model")  # punctuation between tokens is ignored
    assert kw("diffusion transformer", "A transformer", "for diffusion")  # AND across fields


def test_phrase_never_spans_title_and_abstract() -> None:
    assert not kw('"diffusion transformer"', "Towards diffusion", "transformer models")


def test_word_boundaries() -> None:
    assert not kw("ai", "He said so")
    assert not kw("ai", "Maintaining trains")
    assert kw("ai", "Trustworthy AI: a review")
    assert kw("ai", "AI-based agents")
    assert not kw("llm", "dLLMs are here")
    assert not kw("net", "a network")


def test_light_plural_folding_both_ways() -> None:
    assert kw("LLM", "LLMs reason")
    assert kw("LLMs", "An LLM reasons")
    assert kw('"graph neural networks"', "A graph neural network for molecules")
    assert kw("class", "Many classes")
    assert kw("agents", "An agent", "")
    assert not kw("a", "as")  # too short to fold
    assert not kw("model", "modelling")


def test_possessives_fold_like_plurals() -> None:
    assert kw("teacher", "The teacher's noise")
    assert kw('"teacher noise"', "The teacher's noise")


def test_case_accents_and_latex_are_folded() -> None:
    assert kw("schrodinger", r"The Schr\"{o}dinger equation")
    assert kw("Schrödinger", "The Schrodinger equation")
    assert kw("bold claim", r"A \textbf{bold} \emph{claim}")
    assert kw('"complexity O n"', r"complexity $\mathcal{O}(n)$")
    assert kw("alpha divergence", r"$\alpha$-divergence minimisation")
    assert kw("naive", "Naïve Bayes")
    assert kw("strasse", "Straße")
    assert strip_latex("plain text") == "plain text"
    assert tokenize(r"{\o}rsted and \textbf{\L{}\'od\'z} in Stra\ss e") == (
        "orsted",
        "and",
        "lodz",
        "in",
        "strasse",
    )
    assert tokenize(r"$\omega \log n^2$") == ("omega", "log", "n", "2")


def test_tokens_are_shared_between_papers() -> None:
    """A running bot keeps every pool paper tokenised: one copy of each word."""
    first = tokenize("Diffusion models " + "x" * 3)
    second = tokenize("".join(["Latent ", "diffusion"]))
    assert first[0] is second[1]


def test_tokenize() -> None:
    assert tokenize("GPT-4 and dLLMs, state-of-the-art!") == (
        "gpt",
        "4",
        "and",
        "dllms",
        "state",
        "of",
        "the",
        "art",
    )


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_tokenize_plain_ascii_shortcut_equals_the_full_pipeline(text: str) -> None:
    """Plain ASCII text takes a shortcut; its tokens are the full pipeline's."""
    full = tuple(
        WORD_RUNS.findall(text_module.fold(strip_latex(text)).translate(text_module._APOSTROPHES))
    )
    assert tokenize(text) == full
    assert tokenize("O'Neil's `x` d`Alembert") == ("oneils", "x", "dalembert")
    assert tokenize("O\u2019Neil\u2019s x d\u02bcAlembert") == ("oneils", "x", "dalembert")


@given(
    st.text(max_size=60)
    | st.text(alphabet="aeoSßøÅé\u0301\u0308\u2019'`$\\{}x -\U0001d54aα²–_", max_size=60)
)
def test_folding_and_tokens_equal_the_character_by_character_rules(text: str) -> None:
    """Any text: ``fold`` drops exactly the combining marks NFKD leaves, and
    the tokens are the unicode pattern's runs over the folded text (whatever
    shortcut ``tokenize`` takes for text that is ASCII once unwrapped)."""
    casefolded = unicodedata.normalize("NFC", text).casefold().translate(text_module._SPECIAL_TABLE)
    want = "".join(
        c for c in unicodedata.normalize("NFKD", casefolded) if not unicodedata.combining(c)
    )
    assert text_module.fold(text) == want
    unwrapped = text_module.fold(strip_latex(text)).translate(text_module._APOSTROPHES)
    assert tokenize(text) == tuple(WORD_RUNS.findall(unwrapped))


@given(st.text(alphabet="abes", min_size=0, max_size=6), st.text(alphabet="abes", max_size=6))
def test_word_forms_is_symmetric(a: str, b: str) -> None:
    assert (b in word_forms(a)) == (a in word_forms(b))


def test_real_paper_keywords() -> None:
    assert keyword_in_paper(KeywordQuery.parse('"diffusion large language model"'), TIDE)
    assert keyword_in_paper(KeywordQuery.parse("cross-architecture distillation"), TIDE)
    assert keyword_in_paper(KeywordQuery.parse("dLLM"), TIDE)
    assert not keyword_in_paper(KeywordQuery.parse("LLM"), TIDE)  # dLLM is another token
    assert not keyword_in_paper(KeywordQuery.parse("distillation"), paper("x", "y"))


# --- primitives ------------------------------------------------------------------------------


def test_author_in_paper_real_bylines() -> None:
    assert author_in_paper(parse_name("Wayne Xin Zhao"), RECSYS)
    assert author_in_paper(parse_name("Zhao, Wayne Xin"), RECSYS)
    assert author_in_paper(parse_name("Mingchang Yang"), RECSYS)
    assert author_in_paper(parse_name("Jian Yang"), RECSYS)
    assert not author_in_paper(parse_name("Fan Yang"), RECSYS)
    assert author_in_paper(parse_name("Joerg Frochte"), GERMAN)
    assert author_in_paper(parse_name("Eloy Mosig Garcia"), GERMAN)
    assert author_in_paper(parse_name("Adrienn Borsy"), GERMAN)
    assert not author_in_paper(parse_name("Eloy Mosig"), GERMAN)


def test_category_in_paper() -> None:
    assert category_in_paper("cs.CL", TIDE)
    assert category_in_paper("CS.cl", TIDE)
    assert category_in_paper(" cs.ai ", TIDE)
    assert not category_in_paper("cs.IR", TIDE)
    assert category_in_paper("cs", paper(categories=("cs.LG",)))  # an archive covers its own
    assert category_in_paper("astro-ph", paper(categories=("astro-ph.GA",)))
    assert not category_in_paper("astro-ph.G", paper(categories=("astro-ph.GA",)))
    assert not category_in_paper("", TIDE)


# --- radar semantics --------------------------------------------------------------------------


def test_radar_is_a_union_of_watches_and_records_why() -> None:
    chips = [Chip(A, "Yehui Tang"), Chip(KW, "distillation"), Chip(CAT, "cs.IR")]
    m = match_paper(chips, TIDE)
    assert m is not None
    assert m.chips == (Chip(KW, "distillation"),)
    assert (m.title_hits, m.abstract_hits) == (1, 1)
    m2 = match_paper(chips, RECSYS)
    assert m2 is not None and m2.chips == (Chip(CAT, "cs.IR"),)
    assert match_paper(chips, GERMAN) is None


def test_every_matching_chip_is_recorded_in_radar_order() -> None:
    m = match_paper([Chip(A, "Wayne Xin Zhao"), Chip(KW, "agents"), Chip(CAT, "cs.CV")], RECSYS)
    assert m is not None
    assert m.chips == (Chip(A, "Wayne Xin Zhao"), Chip(KW, "agents"))
    assert m.author_count == 1 and m.keyword_count == 1 and m.category_count == 0


def test_source_chips_limit_the_radar() -> None:
    chips = [Chip(CAT, "cs.LG"), Chip(SRC, "openalex")]
    assert match_paper(chips, TIDE) is None
    assert match_paper(chips, paper(source="openalex")) is not None
    assert match_paper([Chip(CAT, "cs.LG"), Chip(SRC, "ArXiv")], TIDE) is not None
    both = [Chip(CAT, "cs.LG"), Chip(SRC, "openalex"), Chip(SRC, "arxiv")]
    assert match_paper(both, TIDE) is not None


def test_exclusions_drop_papers() -> None:
    chips = [Chip(CAT, "cs.LG"), Chip(EX, "survey")]
    assert match_paper(chips, GERMAN) is None  # "A survey of surrogate models."
    assert match_paper(chips, TIDE) is not None
    # An exclusion beats an author chip too.
    assert match_paper([Chip(A, "Jörg Frochte"), Chip(EX, "surveys")], GERMAN) is None
    assert match_paper([Chip(CAT, "cs.LG"), Chip(EX, '"student differ"')], TIDE) is None
    assert match_paper([Chip(CAT, "cs.LG"), Chip(EX, '"differ student"')], TIDE) is not None


def test_radar_without_watches_matches_nothing() -> None:
    assert match_paper([], TIDE) is None
    assert match_paper([Chip(SRC, "arxiv"), Chip(EX, "survey")], TIDE) is None


def test_unparseable_chips_match_nothing() -> None:
    assert match_paper([Chip(A, "..."), Chip(KW, "!!")], TIDE) is None
    assert match_paper([Chip(A, "..."), Chip(CAT, "cs.CL"), Chip(EX, "$$")], TIDE) is not None


def test_duplicate_chips_count_once() -> None:
    m = match_paper([Chip(CAT, "cs.CL"), Chip(CAT, "cs.CL")], TIDE)
    assert m is not None and m.chips == (Chip(CAT, "cs.CL"),)


def test_radar_from_chips() -> None:
    radar = Radar.from_chips([Chip(SRC, "arXiv"), Chip(EX, "survey"), Chip(KW, "x")])
    assert radar.sources == {"arxiv"}
    assert radar.exclusions == (KeywordQuery.parse("survey"),)
    assert len(radar.watches) == 1


# --- the indexed matcher ----------------------------------------------------------------------


K = TypeVar("K", bound=Hashable)


def index_matches(radars: Mapping[K, list[Chip]], papers: list[Paper]) -> dict[K, list]:
    """Every radar's matches the indexed way (one scan, chips combined by the
    planner), ranked as a digest ranks them, then listed in paper order as
    ``brute`` lists them."""
    planner = RadarPlanner(radars, papers)
    ranked = planner.ranked(list(radars))
    found = planner.matches({k: r.papers for k, r in ranked.items()})
    for k, chips in radars.items():
        assert found[k] == rank(brute({k: chips}, papers)[k])  # the digest's order
    return {k: [m for _, m in sorted(zip(ranked[k].papers, found[k], strict=True))] for k in radars}


def brute(radars: Mapping[K, list[Chip]], papers: list[Paper]) -> dict[K, list]:
    return {
        k: [m for p in papers if (m := match_paper(chips, p)) is not None]
        for k, chips in radars.items()
    }


def test_index_matches_brute_force_on_real_papers() -> None:
    radars = {
        "tang": [Chip(A, "Yehui Tang")],
        "zhao": [Chip(A, "Zhao, Wayne Xin"), Chip(KW, "agent")],
        "yangs": [Chip(A, "M. Yang"), Chip(SRC, "arxiv")],
        "dllm": [Chip(KW, '"diffusion large language models"'), Chip(EX, "survey")],
        "lg": [Chip(CAT, "cs.LG"), Chip(EX, "survey")],
        "lg-openalex": [Chip(CAT, "cs.LG"), Chip(SRC, "openalex")],
        "german": [Chip(A, "Joerg Frochte"), Chip(CAT, "eess.SY")],
        "empty": [],
    }
    papers = [TIDE, RECSYS, GERMAN]
    got = index_matches(radars, papers)
    assert got == brute(radars, papers)
    assert [m.paper.key for m in got["zhao"]] == ["arxiv:2604.26000"]
    assert [m.paper.key for m in got["yangs"]] == ["arxiv:2604.26000"]
    assert got["empty"] == [] and got["lg-openalex"] == []
    assert [m.paper.key for m in got["lg"]] == ["arxiv:2604.26951"]


def test_index_with_integer_keys_and_len() -> None:
    radars = {1: [Chip(CAT, "cs.AI")], 2: [Chip(KW, "zebra")]}
    assert len(RadarIndex.build(radars)) == 2
    out = index_matches(radars, [TIDE])
    assert list(out) == [1, 2] and len(out[1]) == 1 and out[2] == []


def test_an_identity_chip_matches_its_person_by_id_and_arxiv_bylines_by_name() -> None:
    joseph = Chip(A, "Joseph Mearman", "openalex:A5017898742", ("J. W. Mearman",))
    named = Chip(A, "Mearman", "name-only")
    by_joseph = paper(
        authors=("Jonathan C. Roberts", "Joseph Mearman"),
        source="openalex",
        extra={"author_ids": "A5009341822 A5017898742"},
    )
    by_andrew = paper(
        authors=("Andrew Mearman",), source="openalex", extra={"author_ids": "A5019952124"}
    )
    # OpenAlex split a record: the byline reads right, the id is someone else's.
    namesake = paper(authors=("Joseph Mearman",), source="openalex", extra={"author_ids": "A9"})
    on_arxiv = paper(authors=("J. W. Mearman", "P. Ritsos"))  # no ids: matched by name
    other_arxiv = paper(authors=("A. Mearman",))
    for p, want in [
        (by_joseph, True),
        (by_andrew, False),
        (namesake, False),
        (on_arxiv, True),
        (other_arxiv, False),
    ]:
        assert (match_paper([joseph], p) is not None) is want, p.authors
    # A name-only chip is today's author chip: every Mearman, whatever the ids.
    assert all(match_paper([named], p) for p in (by_joseph, by_andrew, on_arxiv, other_arxiv))
    papers = [by_joseph, by_andrew, namesake, on_arxiv, other_arxiv]
    got = index_matches({1: [joseph], 2: [named], 3: [joseph, named]}, papers)
    assert [m.paper for m in got[1]] == [by_joseph, on_arxiv]
    assert got == {
        k: [m for p in papers if (m := match_paper(chips, p)) is not None]
        for k, chips in {1: [joseph], 2: [named], 3: [joseph, named]}.items()
    }


def test_evidence_confirms_an_identity_chips_name_matches_in_arxiv_bylines() -> None:
    ids = ("openalex:A5017898742", ("J. W. Mearman",))
    bare = Chip(A, "Joseph Mearman", *ids)
    confirmed = Chip(A, "Joseph Mearman", *ids, ("cat:cs.HC", "co:roberts/j", "co:ritsos/p"))
    namesake = paper(authors=("Joseph Mearman", "Ann Other"), categories=("econ.GN",))
    with_coauthor = paper(
        authors=("J. W. Mearman", "Jonathan C. Roberts"), categories=("q-fin.GN",)
    )
    in_category = paper(authors=("Joseph Mearman",), categories=("cs.GR",), extra=None)
    in_category = replace(in_category, primary_category="CS.HC")  # any casing
    coauthor_only = paper(authors=("Jonathan C. Roberts",), categories=("cs.HC",))
    by_id = paper(
        authors=("Someone Else",),
        source="openalex",
        categories=("Economics",),
        extra={"author_ids": "A5017898742"},
    )
    papers = [namesake, with_coauthor, in_category, coauthor_only, by_id]
    # Without evidence, every byline match counts, as before.
    assert [p for p in papers if match_paper([bare], p)] == [
        namesake,
        with_coauthor,
        in_category,
        by_id,
    ]
    # With it, a namesake's arXiv paper (no shared co-author or category) does not;
    # a record with author ids still decides by id alone; evidence never adds a
    # paper the person's names do not match.
    assert [p for p in papers if match_paper([confirmed], p)] == [
        with_coauthor,
        in_category,
        by_id,
    ]
    radars = {
        "confirmed": [confirmed],
        "bare": [bare],
        "both": [confirmed, bare],
        "econ": [confirmed, Chip(CAT, "econ")],
    }
    assert index_matches(radars, papers) == brute(radars, papers)


def test_source_chips_admit_a_merged_record_of_either_source() -> None:
    merged = paper(source="arxiv", extra={"sources": "arxiv openalex"})
    for source in ("arxiv", "openalex"):
        chips = [Chip(CAT, "cs.LG"), Chip(SRC, source)]
        assert match_paper(chips, merged) is not None
        assert index_matches({1: chips}, [merged])[1]
    assert match_paper([Chip(CAT, "cs.LG"), Chip(SRC, "openalex")], paper()) is None


_AUTHORS = [
    "Yehui Tang",
    "Tang, Yehui",
    "Y. Tang",
    "Yi Tang",
    "Tang Yehui",
    "Jörg Frochte",
    "Joerg Frochte",
    "Ming-Chang Yang",
    "Mingchang Yang",
    "M. Yang",
    "Fan Yang",
    "Wayne Xin Zhao",
    "Wayne Zhao",
    "van der Waals, J.",
    "Eloy Mosig García",
    "Tang",
]
_WORDS = [
    "model",
    "models",
    "agent",
    "agents",
    "diffusion",
    "representation",
    "graph",
    "neural",
    "network",
    "survey",
    "ai",
    "said",
    "llm",
    "llms",
    "class",
    "classes",
    "the",
    "of",
    "es",
    "s",
]
_CATS = ["cs.LG", "cs.AI", "cs.CL", "stat.ML", "astro-ph.GA", "math.CO"]
_CHIP_CATS = [*_CATS, "CS.lg", "astro-ph", "math"]

_phrase = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3)
_keyword_value = st.lists(
    st.one_of(st.sampled_from(_WORDS), _phrase.map(lambda ws: '"' + " ".join(ws) + '"')),
    min_size=1,
    max_size=2,
).map(" ".join)
_IDS = ["A1", "A2", "A3"]
#: Evidence entries: categories (some in another casing), co-author
#: surname/initial keys of _AUTHORS (and some of nobody's), and malformed
#: entries that confirm nothing.
_EVIDENCE = [
    "cat:cs.LG",
    "cat:CS.cl",
    "cat:math.CO",
    "cat:astro-ph",
    "co:tang/y",
    "co:yang/m",
    "co:zhao/w",
    "co:frochte/j",
    "co:waals/j",
    "co:tang",
    "co:nobody",
    "cat:",
    "co:",
    "junk",
]
_chip = st.one_of(
    st.builds(Chip, st.just(A), st.sampled_from(_AUTHORS)),
    # Chips that follow a person: by id in records with author ids, else by names.
    st.builds(
        Chip,
        st.just(A),
        st.sampled_from(_AUTHORS),
        st.sampled_from([f"openalex:{i}" for i in _IDS] + ["name-only"]),
        st.lists(st.sampled_from([*_AUTHORS, "", "123"]), max_size=2).map(tuple),
        st.lists(st.sampled_from(_EVIDENCE), max_size=3).map(tuple),
    ),
    st.builds(Chip, st.just(KW), _keyword_value),
    st.builds(Chip, st.just(CAT), st.sampled_from(_CHIP_CATS)),
    st.builds(Chip, st.just(SRC), st.sampled_from(["arxiv", "openalex"])),
    st.builds(Chip, st.just(EX), _keyword_value),
)
_text = st.lists(st.sampled_from([*_WORDS, "Model", "AGENTS", "-", ",", "$x$"]), max_size=12).map(
    " ".join
)
_paper = st.builds(
    paper,
    title=_text,
    abstract=_text,
    authors=st.lists(st.sampled_from(_AUTHORS), max_size=3).map(tuple),
    categories=st.lists(st.sampled_from(_CATS), min_size=1, max_size=3, unique=True).map(tuple),
    source=st.sampled_from(["arxiv", "openalex"]),
    key=st.integers(0, 50).map(lambda i: f"arxiv:2604.{i:05d}"),
    days_ago=st.integers(0, 5),
    extra=st.fixed_dictionaries(
        {},
        optional={
            "author_ids": st.lists(st.sampled_from(_IDS), max_size=2).map(" ".join),
            "sources": st.sampled_from(["arxiv openalex", "openalex", "arxiv"]),
        },
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.integers(0, 20), st.lists(_chip, max_size=5), max_size=6),
    st.lists(_paper, max_size=6),
)
def test_index_equals_brute_force(radars: dict[int, list[Chip]], papers: list[Paper]) -> None:
    got = index_matches(radars, papers)
    want = {
        k: [m for p in papers if (m := match_paper(chips, p)) is not None]
        for k, chips in radars.items()
    }
    assert got == want


# -- keyword queries decided for a whole pool at once --------------------------------------

#: Up to four phrases of one to five words each: one-token phrases, pairs and
#: longer runs mixed in one query, and enough phrases for a count of 4.
_many_phrases = st.lists(
    st.lists(st.sampled_from(_WORDS), min_size=1, max_size=5).map(
        lambda ws: '"' + " ".join(ws) + '"'
    ),
    min_size=1,
    max_size=4,
).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_keyword_value, _many_phrases), min_size=1, max_size=8), st.data())
def test_the_query_table_equals_keyword_hits_pair_by_pair(
    values: list[str], data: st.DataObject
) -> None:
    """One-token phrases, two-token phrases (adjacent pairs), longer ones (runs
    of pairs), plural forms, several phrases per query, text in title or
    abstract, empty fields. The texts are made of the queries' own words in
    their forms, so phrases do occur (and almost occur, also across the end of
    a title or of a paper: the table reads all fields as one stream), written
    as papers write them (capitals, accents, LaTeX, apostrophes) or nearly
    (a letter more or less: the table reads a token of up to 16 bytes as two
    integers, a longer one as bytes)."""
    queries = list(dict.fromkeys(KeywordQuery.parse(v) for v in values))
    words = sorted({f for q in queries for p in q.forms for fs in p for f in fs} | {"x", "-"})
    written = st.sampled_from(words).flatmap(
        lambda w: st.sampled_from(
            [w, w.upper(), w + "x", w[:-1], w.replace("a", "á", 1), f"\\emph{{{w}}}", w + "'s"]
        )
    )
    text = st.lists(st.one_of(st.sampled_from(words), written), max_size=12).map(" ".join)
    texts = data.draw(st.lists(st.tuples(text, text), max_size=8))
    papers = [paper_text(paper(title=t, abstract=a)) for t, a in texts]
    got = QueryTable(queries).hits(texts)
    assert all(a.dtype == np.int32 for a in vars(got).values())
    order = list(zip(got.query.tolist(), got.paper.tolist(), strict=True))
    assert order == sorted(set(order))  # by query, then paper, each pair once
    found = {
        (q, p): (t, a)
        for q, p, t, a in zip(
            got.query.tolist(),
            got.paper.tolist(),
            got.title_hits.tolist(),
            got.abstract_hits.tolist(),
            strict=True,
        )
    }
    want = {
        (q, p): hit
        for q, query in enumerate(queries)
        for p, text in enumerate(papers)
        if (hit := keyword_hits(query, text)) is not None
    }
    assert found == want


def test_the_query_table_finds_phrases_within_one_field_only() -> None:
    """Titles and abstracts are read as one stream of tokens: a phrase must not
    be found across the end of a title, of a paper, or of an empty field."""
    queries = [
        KeywordQuery.parse(v)
        for v in ('"graph model"', '"model of agents"', "graph", '"agent graph models"')
    ]
    texts = [
        ("x graph", "models x"),  # 0: "graph | model" spans title and abstract
        ("agent graph", ""),  # 1: ... and paper 1's end, an empty abstract between
        ("model", "of agents"),  # 2: "model | of agents"
        ("", ""),
        ("a model of agent", "agents graph model"),  # 4: found, in one field each
    ]
    got = QueryTable(queries).hits(texts)
    assert list(
        zip(
            got.query.tolist(),
            got.paper.tolist(),
            got.title_hits.tolist(),
            got.abstract_hits.tolist(),
            strict=True,
        )
    ) == [(0, 4, 0, 1), (1, 4, 1, 0), (2, 0, 1, 0), (2, 1, 1, 0), (2, 4, 0, 1), (3, 4, 0, 1)]


def test_a_query_table_with_nothing_to_match_finds_nothing() -> None:
    """No queries, no papers, or papers with no text: empty int32 hits."""
    some = [("graph model", "model of agents")]
    blank = [("", "")] * 3
    one = [KeywordQuery.parse('"graph model" "model of agents"')]
    for table, texts in ((QueryTable([]), some), (QueryTable(one), []), (QueryTable(one), blank)):
        got = table.hits(texts)
        assert all(len(a) == 0 and a.dtype == np.int32 for a in vars(got).values())
    assert QueryTable(one).hits(some).title_hits.tolist() == [1]


def test_a_phrase_longer_than_the_text_is_simply_absent() -> None:
    """Found by the property test above: a phrase of more tokens than a field
    has must not wrap around to the field's start."""
    assert not kw('"model model model model"', "model model")
    assert not kw('"a b c"', "b", "c")
    assert kw('"model model"', "x", "model model")


@given(
    st.text(max_size=80)
    | st.text(alphabet="aeSßéα1\u0301\u2019\u02bc'`$\\{} –-“\U0001d54a", max_size=60)
)
def test_token_bytes_split_into_tokenize_s_tokens(text: str) -> None:
    assert token_bytes(text).split() == [t.encode() for t in tokenize(text)]


_FORM = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéαß0123456789", min_size=1, max_size=24)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_FORM, min_size=0, max_size=60, unique=True), st.data())
def test_form_codes_are_a_lookup_of_each_token(forms: list[str], data: st.DataObject) -> None:
    """Tokens of up to 16 bytes are coded as integers through a hash table,
    longer ones as bytes: every token gets exactly its form's code. Forms and
    near misses (a letter more or less, 8 and 16 bytes long and around) are
    mixed, and enough forms fill the table for probes to read on; chunks of
    any size code the same."""
    forms = list(dict.fromkeys(f for form in forms for f in tokenize(form)))
    codes = {f: i * 7 for i, f in enumerate(forms)}
    table = FormCodes(codes)
    near = st.sampled_from(forms or ["x"]).flatmap(
        lambda f: st.sampled_from([f, f + "s", f[:-1], f.upper(), f + "a" * (16 - len(f))])
    )
    field = st.lists(st.one_of(near, _FORM), max_size=10).map(" ".join)
    texts = data.draw(st.lists(st.tuples(field, field), max_size=6))
    # Coded a chunk of fields at a time: chunks from one field each (or an
    # empty one) to all of them at once.
    chunk = data.draw(st.integers(min_value=1, max_value=400))
    code, bounds = table.codes(texts, chunk)
    tokens = [tokenize(f) for t in texts for f in t]
    assert bounds.tolist() == [0, *np.cumsum([len(t) for t in tokens]).tolist()]
    assert code.tolist() == [codes.get(t, -1) for ts in tokens for t in ts]


def test_form_codes_with_a_crowded_table() -> None:
    """Thousands of forms that share their first 8 or 16 bytes: the table is
    read exactly, a token never taken for a form it only begins like."""
    forms = [f"{p}{i}" for p in ("representation", "represent", "x") for i in range(1500)]
    codes = {f: i for i, f in enumerate(forms)}
    table = FormCodes(codes)
    text = " ".join([*forms, *(f + "z" for f in forms), "representatio", "representation"])
    code, _ = table.codes([(text, "")])
    assert code.tolist() == [*range(len(forms)), *[-1] * len(forms), -1, -1]
    # No form longer than 16 bytes: a longer token is still none of them.
    short = FormCodes({"representation10": 1, "representations": 2})
    code, _ = short.codes([("representation10z representations representation10", "")])
    assert code.tolist() == [-1, 2, 1]
