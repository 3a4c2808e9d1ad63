"""Benchmark: every channel's radar over one day's harvest, indexed vs naive.

Run: ``.venv/bin/python bench/bench_matching.py [--papers N] [--channels N] [--naive N]``

Why this exists: the daily digest matches *every* channel's radar against the
day's papers. The naive loop costs channels x papers radar checks; the
:class:`~bot.core.matching.index.RadarIndex` should cost about papers x (tokens +
authors) lookups whatever the number of channels. This script makes a
realistic day (2,000 papers, 10,000 channels of 3 watch chips) and measures
both, checking that they agree.

Data: names, title and abstract text and categories come from the real arXiv
captures in ``tests/fixtures/arxiv`` (when present), recombined with a
seeded RNG: given names and surnames are shuffled into new people, abstracts
are windows of real abstract text, so token statistics look like arXiv's.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine import print_machine  # noqa: E402
from bot.core import names  # noqa: E402
from bot.core.chips import Chip, ChipKind  # noqa: E402
from bot.core.matching import filters, keywords  # noqa: E402
from bot.core.matching.index import RadarIndex  # noqa: E402
from bot.core.matching.radar import Match, Radar, radar_of  # noqa: E402
from bot.core.paper import Paper  # noqa: E402
from bot.core.ranking import rank, top  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "arxiv"
ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
_STOP_TEXT = (
    "a an and are as at be by for from in into is it its of on or our over that the their "
    "these this to under via we which while with without using based towards toward new"
)
STOP = frozenset(_STOP_TEXT.split())

# Used only when the captures are not there (so the bench still runs).
FALLBACK_TEXT = [
    (
        "Turning the TIDE: Cross-Architecture Distillation for Diffusion Large Language Models",
        "Diffusion large language models offer parallel decoding and bidirectional context, "
        "but state-of-the-art models require billions of parameters for competitive "
        "performance. We present a framework for cross-architecture distillation.",
        ["Gongbo Zhang", "Wen Wang", "Ye Tian", "Li Yuan", "Wayne Xin Zhao", "Jörg Frochte"],
        ["cs.CL", "cs.AI", "cs.LG"],
    )
]


def load_corpus() -> list[tuple[str, str, list[str], list[str]]]:
    """(title, abstract, authors, categories) of every captured real entry."""
    out: list[tuple[str, str, list[str], list[str]]] = []
    for path in sorted(FIXTURES.glob("arxiv_*.xml")):
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError):
            continue
        for e in root.iter(f"{ATOM}entry"):
            title = " ".join((e.findtext(f"{ATOM}title") or "").split())
            summary = " ".join((e.findtext(f"{ATOM}summary") or "").split())
            authors = [a.findtext(f"{ATOM}name") or "" for a in e.iter(f"{ATOM}author")]
            cats = [c.get("term", "") for c in e.iter(f"{ATOM}category")]
            if title and summary:
                out.append((title, summary, [a for a in authors if a], [c for c in cats if c]))
        for item in root.iter("item"):
            title = " ".join((item.findtext("title") or "").split())
            desc = item.findtext("description") or ""
            summary = " ".join(desc.split("Abstract:", 1)[-1].split())
            creators = (item.findtext(f"{DC}creator") or "").split(",")
            cats = [c.text or "" for c in item.iter("category")]
            if title and summary:
                out.append((title, summary, [a.strip() for a in creators if a.strip()], cats))
    return out or FALLBACK_TEXT


class World:
    """Seeded generator of papers and channels built from the real corpus."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        corpus = load_corpus()
        self.corpus_size = len(corpus)
        givens: list[str] = []
        surnames: list[str] = []
        for _, _, authors, _ in corpus:
            for a in authors:
                parts = a.split()
                if len(parts) >= 2:
                    givens.append(" ".join(parts[:-1]))
                    surnames.append(parts[-1])
        self.givens = sorted(set(givens))
        self.surnames = sorted(set(surnames))
        # A population of researchers, some prolific (Zipf-like weights).
        self.people = sorted(
            {
                f"{self.rng.choice(self.givens)} {self.rng.choice(self.surnames)}"
                for _ in range(6000)
            }
        )
        self.people_weights = [1.0 / (i + 1) ** 0.6 for i in range(len(self.people))]
        self.title_words = [w for t, _, _, _ in corpus for w in t.split()]
        self.abstract_words = [w for _, s, _, _ in corpus for w in s.split()]
        cat_counts = Counter(c for _, _, _, cats in corpus for c in cats)
        # Make sure a realistic spread exists beyond the captured feeds.
        for extra in (
            "cs.CV",
            "cs.RO",
            "math.OC",
            "stat.ME",
            "physics.optics",
            "q-bio.NC",
            "astro-ph.GA",
            "hep-th",
            "cond-mat.stat-mech",
            "econ.EM",
            "eess.SP",
        ):
            cat_counts[extra] += 3
        self.categories = sorted(cat_counts)
        self.category_weights = [cat_counts[c] for c in self.categories]
        clean = [re.sub(r"[^\w-]", "", w).lower() for w in self.title_words]
        self.keywords = sorted({w for w in clean if len(w) >= 5 and w not in STOP})
        self.bigrams = sorted(
            {
                f"{a} {b}"
                for t, _, _, _ in corpus
                for a, b in zip(t.lower().split(), t.lower().split()[1:], strict=False)
                if a.isalpha() and b.isalpha() and a not in STOP and b not in STOP
            }
        )

    def author(self) -> str:
        name = self.rng.choices(self.people, self.people_weights)[0]
        roll = self.rng.random()
        given, surname = name.rsplit(" ", 1)
        if roll < 0.1:
            return f"{surname}, {given}"
        if roll < 0.15:
            return f"{given[0]}. {surname}"
        return name

    def paper(self, i: int, now: datetime) -> Paper:
        rng = self.rng
        n = rng.randint(6, 14)
        start = rng.randrange(0, max(1, len(self.title_words) - n))
        title = " ".join(self.title_words[start : start + n])
        n = rng.randint(120, 220)
        start = rng.randrange(0, max(1, len(self.abstract_words) - n))
        abstract = " ".join(self.abstract_words[start : start + n])
        cats = list(
            dict.fromkeys(rng.choices(self.categories, self.category_weights, k=rng.randint(1, 3)))
        )
        when = now - timedelta(minutes=rng.randint(0, 24 * 60))
        return Paper(
            key=f"arxiv:2604.{i:05d}",
            source="arxiv",
            title=title,
            abstract=abstract,
            authors=tuple(self.author() for _ in range(rng.randint(1, 8))),
            categories=tuple(cats),
            primary_category=cats[0],
            published=when,
            updated=when,
            url=f"https://arxiv.org/abs/2604.{i:05d}",
        )

    def chip(self) -> Chip:
        rng = self.rng
        roll = rng.random()
        if roll < 0.40:
            name = rng.choices(self.people, self.people_weights)[0]
            if rng.random() < 0.1:
                given, surname = name.rsplit(" ", 1)
                name = f"{given[0]}. {surname}"
            return Chip(ChipKind.AUTHOR, name)
        if roll < 0.75:
            if rng.random() < 0.3 and self.bigrams:
                return Chip(ChipKind.KEYWORD, f'"{rng.choice(self.bigrams)}"')
            return Chip(ChipKind.KEYWORD, rng.choice(self.keywords))
        return Chip(ChipKind.CATEGORY, rng.choices(self.categories, self.category_weights)[0])

    def channel(self) -> list[Chip]:
        chips = [self.chip() for _ in range(3)]
        if self.rng.random() < 0.10:
            chips.append(
                Chip(ChipKind.EXCLUDE, self.rng.choice(["survey", "benchmark", "quantum"]))
            )
        if self.rng.random() < 0.05:
            chips.append(Chip(ChipKind.SOURCE, "arxiv"))
        return chips


def clear_caches() -> None:
    """Start each measurement cold: no parsed names or tokenised papers carried over."""
    names.parse_name.cache_clear()
    names.variant_keys.cache_clear()
    keywords._text_of.cache_clear()
    filters.bylines.cache_clear()
    radar_of.cache_clear()
    keywords._parse_query.cache_clear()


DIGEST_CAP = 10


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--papers", type=int, default=2000)
    ap.add_argument("--channels", type=int, default=10_000)
    ap.add_argument("--naive", type=int, default=250, help="channels in the naive subset")
    ap.add_argument("--seed", type=int, default=20260429)
    args = ap.parse_args()
    print_machine()

    now = datetime(2026, 4, 29, 20, 0, tzinfo=UTC)
    world = World(args.seed)
    papers = [world.paper(i, now) for i in range(args.papers)]
    radars = {f"C{i:05d}": world.channel() for i in range(args.channels)}
    kinds = Counter(c.kind.value for chips in radars.values() for c in chips)
    print(
        f"corpus: {world.corpus_size} real captured entries -> {len(world.people)} people, "
        f"{len(world.keywords)} keywords, {len(world.categories)} categories; "
        f"cpus: {os.cpu_count()}"
    )
    print(
        f"workload: {len(papers)} papers x {len(radars)} channels; chips: "
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    )

    clear_caches()
    c0 = time.process_time()
    t0 = time.perf_counter()
    index = RadarIndex.build(radars)
    t1 = time.perf_counter()
    result = index.match(papers)
    t_match = time.perf_counter()
    # A digest is the top ``cap`` of each channel's ranked matches.
    digests = {k: top(v, DIGEST_CAP) for k, v in result.items()}
    t2 = time.perf_counter()
    c2 = time.process_time()
    total = sum(len(v) for v in result.values())
    by_tier = Counter(
        "author" if m.author_count else "keyword" if m.keyword_count else "category"
        for v in result.values()
        for m in v
    )
    indexed = t2 - t0

    subset = list(radars)[: min(args.naive, len(radars))]
    clear_caches()
    c3 = time.process_time()
    t3 = time.perf_counter()
    compiled = {k: Radar.from_chips(radars[k]) for k in subset}
    naive: dict[str, list[Match]] = {k: [] for k in subset}
    for k, radar in compiled.items():
        for p in papers:
            m = radar.match(p)
            if m is not None:
                naive[k].append(m)
    naive_digests = {k: rank(v)[:DIGEST_CAP] for k, v in naive.items()}
    t4 = time.perf_counter()
    c4 = time.process_time()
    naive_subset = t4 - t3
    naive_full = naive_subset * len(radars) / len(subset)
    assert all(naive[k] == result[k] for k in subset), "index and naive loop disagree"
    assert all(naive_digests[k] == digests[k] for k in subset), "digests disagree"
    subset_matches = sum(len(v) for v in naive.values())

    print()
    print(f"{'':24}{'indexed':>14}{'naive':>18}")
    print(f"{'build (s)':24}{t1 - t0:>14.3f}{'-':>18}")
    print(f"{'match (s)':24}{t_match - t1:>14.3f}{'-':>18}")
    print(f"{'rank + cap (s)':24}{t2 - t_match:>14.3f}{'-':>18}")
    print(f"{'all digests (s)':24}{indexed:>14.3f}{naive_full:>17.1f}*")
    naive_cpu = (c4 - c3) * len(radars) / len(subset)
    print(f"{'total CPU (s)':24}{c2 - c0:>14.3f}{naive_cpu:>17.1f}*")
    print(f"{'speed-up':24}{naive_full / indexed:>13.0f}x")
    print(f"{'total matches':24}{total:>14,}")
    print("  by tier: " + ", ".join(f"{k} {v:,}" for k, v in sorted(by_tier.items())))
    print(
        f"* naive = Radar.match (chips compiled once per channel) for every (channel, "
        f"paper), measured on the first {len(subset)} channels x {len(papers)} papers "
        f"({naive_subset:.2f} s, {subset_matches:,} matches, identical to the index's "
        f"for those channels) and extrapolated linearly to {len(radars)} channels."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
