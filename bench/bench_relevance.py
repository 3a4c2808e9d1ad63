"""Benchmark: does the relevance ranker put what a channel wants on top?

Run: ``.venv/bin/python bench/bench_relevance.py [--full] [--ablation]``

Data: real arXiv listings (title, abstract, authors, categories, listing day).
By default the slice bundled for tests (tests/fixtures/relevance, June 2026);
``--full`` uses the shared 74,728-paper file (2025-03 .. 2026-07) when it is
there. The IDF table and the embedding mean the ranker ships with were built
from papers listed before 2025-09-01, and tasks are only drawn from later days,
so nothing is evaluated on what it was fitted on.

Tasks (bench/relevance_tasks.py) come from real signals only: research groups
(two frequent co-authors: the channel liked their earlier papers, their later
ones must rank high in a later day's listing, authors hidden from the ranker)
and a cross-listing proxy (a broad-category channel that liked papers its
authors also filed under a niche category). Every ranker sees titles and
abstracts only.

Printed, in one run: the machine load before starting; NDCG@10 and recall@10
for newest-first (today's order), chips only (category-chip tier, then
newest), TF-IDF cosine, embedding cosine and the shipped ranker, per task
family and per number of likes; where the shipped ranker loses; the like-chip
watch's calibration (papers a like chip admits per day); embedding and TF-IDF
throughput; and the cost of scoring 10,000 channels against 2,000 papers.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine import print_machine  # noqa: E402
from bench.relevance_tasks import (  # noqa: E402
    Listings,
    Task,
    crosslist_tasks,
    group_tasks,
    load_rows,
)
from bot.relevance.embed import WordLlamaEmbedder  # noqa: E402
from bot.relevance.model import Feedback, fit  # noqa: E402
from bot.relevance.represent import Representer  # noqa: E402
from bot.relevance.scoring import ChannelMatrix  # noqa: E402
from bot.relevance.similar import like_watch  # noqa: E402
from bot.relevance.tfidf import paper_text  # noqa: E402
from bot.relevance.vectors import PaperVectors  # noqa: E402
from bot.settings import RelevanceSettings  # noqa: E402

SLICE = ROOT / "tests" / "fixtures" / "relevance" / "arxiv_cs_2026-06_slice.jsonl.gz"
FULL = (
    ROOT.parent
    / "shared"
    / "fixtures"
    / "real"
    / "arxiv_cs_daily_2025-03_2026-07_74728papers.jsonl.gz"
)
#: First listing day tasks may use with --full (the IDF table saw only earlier days).
FULL_START = "2025-09-01"
K = 10

Scorer = Callable[[Task], np.ndarray]


# -- metrics --------------------------------------------------------------------------------


def ndcg_recall(order: list[int], relevant: frozenset[int], k: int = K) -> tuple[float, float]:
    """Binary-relevance NDCG@k and recall@k of a ranked list of row indices."""
    gains = [1.0 if i in relevant else 0.0 for i in order[:k]]
    dcg = sum(g / np.log2(r + 2) for r, g in enumerate(gains))
    ideal = sum(1.0 / np.log2(r + 2) for r in range(min(k, len(relevant))))
    return dcg / ideal, sum(gains) / len(relevant)


class Bench:
    """The data, its vectors, and the rankers under test."""

    def __init__(self, rows: list[dict], settings: RelevanceSettings) -> None:
        self.rows = rows
        self.ix = Listings(rows)
        self.settings = settings
        self.keys = [f"arxiv:{r['id']}" for r in rows]
        self.embedder = WordLlamaEmbedder()
        self.rep = Representer(self.embedder)
        started = time.perf_counter()
        self.vecs = self.rep.texts(
            self.keys, [r["title"] for r in rows], [r["summary"] for r in rows]
        )
        self.represent_seconds = time.perf_counter() - started
        # Newest first is every ranker's tie-break, as in the product.
        self.newness = {i: -int(r["id"].replace(".", "")) for i, r in enumerate(rows)}

    def rank(self, task: Task, scores: np.ndarray) -> list[int]:
        cands = task.candidates
        s = np.round(scores.astype(np.float64), 6)
        order = sorted(range(len(cands)), key=lambda k: (-s[k], self.newness[cands[k]]))
        return [cands[k] for k in order]

    # -- rankers -------------------------------------------------------------------------

    def newest(self, task: Task) -> np.ndarray:
        return np.zeros(len(task.candidates))

    def chips(self, task: Task) -> np.ndarray:
        return np.array([len(task.chips & self.ix.cats[i]) for i in task.candidates], float)

    def tfidf_cosine(self, task: Task) -> np.ndarray:
        centroid = self.vecs.tfidf[list(task.likes)].mean(axis=0)
        return np.asarray(self.vecs.tfidf[list(task.candidates)] @ centroid.T).ravel()

    def embedding_cosine(self, task: Task) -> np.ndarray:
        centroid = self.vecs.embedding[list(task.likes)].mean(axis=0)
        return self.vecs.embedding[list(task.candidates)] @ centroid

    def feedback(self, task: Task) -> Feedback:
        key = self.keys
        return Feedback(
            liked=tuple(key[i] for i in task.likes),
            ignored=tuple(key[i] for i in task.ignored),
            pool=tuple(key[i] for i in task.pool),
        )

    def shipped(
        self, task: Task, settings: RelevanceSettings | None = None, use_pool: bool = True
    ) -> np.ndarray:
        feedback = self.feedback(task)
        if not use_pool:
            feedback = replace(feedback, pool=())
        model = fit(self.vecs, feedback, settings or self.settings)
        assert model is not None
        return model.score(self.vecs.rows(task.candidates))

    def nearest_liked(self, task: Task) -> np.ndarray:
        cands = self.vecs.rows(task.candidates)
        liked = self.vecs.rows(task.likes)
        s = (cands.tfidf @ liked.tfidf.T).toarray()
        s += self.settings.embedding_weight * (cands.embedding @ liked.embedding.T)
        return s.max(axis=1)


def evaluate(bench: Bench, scorer: Scorer, tasks: list[Task]) -> list[tuple[float, float]]:
    return [ndcg_recall(bench.rank(t, scorer(t)), t.relevant) for t in tasks]


BUCKETS = ("1 like", "2-3 likes", "4-10 likes", "11+ likes")


def bucket(task: Task) -> str:
    n = len(task.likes)
    return BUCKETS[0 if n == 1 else 1 if n <= 3 else 2 if n <= 10 else 3]


def cell(results: list[tuple[float, float]]) -> str:
    if not results:
        return "      -      "
    return f"{np.mean([r[0] for r in results]):.3f} / {np.mean([r[1] for r in results]):.2f}"


# -- sections -------------------------------------------------------------------------------


def quality(bench: Bench, tasks: list[Task], ablation: bool) -> None:
    rankers: dict[str, Scorer] = {
        "newest first (today)": bench.newest,
        "chips only": bench.chips,
        "TF-IDF cosine": bench.tfidf_cosine,
        "embedding cosine": bench.embedding_cosine,
        "shipped ranker": bench.shipped,
    }
    if ablation:
        s = bench.settings
        rankers |= {
            "  nearest liked paper": bench.nearest_liked,
            "  shipped, ignored not pool": lambda t: bench.shipped(t, use_pool=False),
            "  shipped, likes only": lambda t: bench.shipped(
                t, replace(s, ignored_weight=0.0, pool_weight=0.0)
            ),
            "  shipped, 100 terms": lambda t: bench.shipped(t, replace(s, max_terms=100)),
            "  shipped, 300 terms": lambda t: bench.shipped(t, replace(s, max_terms=300)),
            "  shipped, 3000 terms": lambda t: bench.shipped(t, replace(s, max_terms=3000)),
            "  shipped, TF-IDF only": lambda t: bench.shipped(t, replace(s, embedding_weight=0)),
            "  shipped, emb x4": lambda t: bench.shipped(
                t, replace(s, embedding_weight=4 * s.embedding_weight)
            ),
            "  linear SVM always": lambda t: bench.shipped(t, replace(s, svm_min_labels=1)),
            "  linear SVM, 20+ likes": lambda t: bench.shipped(t, replace(s, svm_min_labels=20)),
        }
    families = sorted({t.family for t in tasks}, reverse=True)
    columns = [(f, None) for f in families] + [(None, None)]
    buckets = [b for b in BUCKETS if any(bucket(t) == b for t in tasks)]
    n_of = {f: sum(t.family == f for t in tasks) for f in families}
    head = "  ".join(f"{f + f' (n={n_of[f]})':>15}" for f in families)
    print(f"\nNDCG@{K} / recall@{K}, mean over tasks")
    print(f"{'ranker':24} {head}  {f'all (n={len(tasks)})':>15}")
    per: dict[str, list[tuple[float, float]]] = {}
    for name, scorer in rankers.items():
        started = time.perf_counter()
        per[name] = evaluate(bench, scorer, tasks)
        cells = []
        for fam, _ in columns:
            got = [r for r, t in zip(per[name], tasks, strict=True) if fam in (None, t.family)]
            cells.append(f"{cell(got):>15}")
        took = time.perf_counter() - started
        print(f"{name:24} {'  '.join(cells)}   ({took / len(tasks) * 1000:.1f} ms/task)")

    print(f"\nBy likes (NDCG@{K} / recall@{K}; n tasks)")
    print(f"{'ranker':24} " + "  ".join(f"{f[:5]} {b:>9}" for f in families for b in buckets))
    counts = "  ".join(
        f"{sum(t.family == f and bucket(t) == b for t in tasks):>15}"
        for f in families
        for b in buckets
    )
    print(f"{'(tasks)':24} {counts}")
    for name in rankers:
        cells = []
        for f in families:
            for b in buckets:
                got = [
                    r
                    for r, t in zip(per[name], tasks, strict=True)
                    if t.family == f and bucket(t) == b
                ]
                cells.append(f"{cell(got):>15}")
        print(f"{name:24} {'  '.join(cells)}")

    ship = per["shipped ranker"]
    print("\nShipped ranker against each baseline (NDCG@10, all tasks):")
    for name in list(rankers)[:4]:
        base = per[name]
        diff = [a[0] - b[0] for a, b in zip(ship, base, strict=True)]
        wins = sum(d > 1e-9 for d in diff)
        loss = sum(d < -1e-9 for d in diff)
        mean_b = np.mean([b[0] for b in base])
        gain = np.mean([a[0] for a in ship]) - mean_b
        rel = f"{gain / mean_b:+.0%}" if mean_b else "n/a"
        print(
            f"  vs {name:22} {gain:+.3f} ({rel}); better on {wins}, worse on {loss}, "
            f"tied on {len(diff) - wins - loss} tasks"
        )
    for fam in families:
        for b in buckets:
            pairs = [
                (a[0], c[0])
                for a, c, t in zip(ship, per["TF-IDF cosine"], tasks, strict=True)
                if t.family == fam and bucket(t) == b
            ]
            if pairs and np.mean([p[0] for p in pairs]) < np.mean([p[1] for p in pairs]):
                print(
                    f"  loses to TF-IDF cosine on {fam}, {b}: "
                    f"{np.mean([p[0] for p in pairs]):.3f} vs {np.mean([p[1] for p in pairs]):.3f}"
                    f" (n={len(pairs)})"
                )


def calibrate(bench: Bench, start: str, days: int = 25, per_day: int = 40) -> None:
    """How many papers a like chip admits per day, for several thresholds.

    Like chips are real papers listed in the 30 listing days before an
    evaluation day; admitted papers are that day's listing (every category in
    the data, not only a chip's) at or above the threshold.
    """
    ix, s = bench.ix, bench.settings
    eligible = [d for d in ix.days if d >= start and ix.day_pos[d] >= 5]
    rng = random.Random(3)
    picked = sorted(rng.sample(eligible, min(days, len(eligible))))
    grid = sorted({0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.12, 0.15, s.like_threshold})
    admitted: dict[float, list[int]] = {g: [] for g in grid}
    same_group: dict[float, list[bool]] = {g: [] for g in grid}
    total: list[int] = []
    sizes = []
    for day in picked:
        k = ix.day_pos[day]
        before = [i for d in ix.days[max(0, k - 30) : k] for i in ix.by_day[d]]
        likes = rng.sample(before, min(per_day, len(before)))
        todays = ix.by_day[day]
        sizes.append(len(todays))
        hits = like_watch(
            bench.vecs.rows(todays), bench.vecs.rows(likes), min(grid), s.embedding_weight
        )
        by_like: dict[float, dict[int, int]] = {g: defaultdict(int) for g in grid}
        for h in hits:
            shared = bool(
                set(bench.rows[likes[h.liked]]["authors"])
                & set(bench.rows[todays[h.paper]]["authors"])
            )
            for g in grid:
                if h.similarity >= g:
                    by_like[g][h.liked] += 1
                    same_group[g].append(shared)
        for g in grid:
            admitted[g].extend(by_like[g].get(j, 0) for j in range(len(likes)))
        total.append(len(likes))
    print(
        f"\nLike-chip watch: papers one like chip admits per day "
        f"({sum(total)} like chips over {len(picked)} real days of "
        f"{int(np.mean(sizes))} papers on average)"
    )
    per_k = 1000 / np.mean(sizes)
    print(
        f"{'threshold':>10} {'mean/day':>9} {'per 1k listed':>14} {'p90':>5} {'max':>5} "
        f"{'none that day':>14} {'shares an author':>17}"
    )
    for g in grid:
        a = admitted[g]
        mark = "  <- configured" if g == s.like_threshold else ""
        share = f"{np.mean(same_group[g]):.0%}" if same_group[g] else "-"
        print(
            f"{g:>10.2f} {np.mean(a):>9.2f} {np.mean(a) * per_k:>14.2f} "
            f"{np.percentile(a, 90):>5.0f} {max(a):>5} "
            f"{sum(x == 0 for x in a) / len(a):>14.0%} {share:>17}{mark}"
        )
    print(
        "  (shares an author: admitted papers with an author of the liked paper, a floor on "
        "precision. This data set holds part of each day's arXiv cs listing; a full harvest "
        "is larger, so read 'per 1k listed' and scale by the harvest's size)"
    )


def throughput(bench: Bench) -> None:
    n = min(2000, len(bench.rows))
    rows = bench.rows[-n:]
    texts = [paper_text(r["title"], r["summary"]) for r in rows]
    started = time.perf_counter()
    bench.embedder.embed(texts)
    emb = time.perf_counter() - started
    started = time.perf_counter()
    rep = Representer(bench.embedder)
    rep.texts([str(i) for i in range(n)], [r["title"] for r in rows], [r["summary"] for r in rows])
    both = time.perf_counter() - started
    print(
        f"\nRepresentation ({n} real abstracts): embedding {n / emb:,.0f} abstracts/s "
        f"({bench.embedder.model_id}); TF-IDF + embedding {n / both:,.0f} papers/s; "
        f"whole data set {len(bench.rows):,} papers in {bench.represent_seconds:.1f} s"
    )


def cost(bench: Bench, channels: int, papers: int) -> None:
    """Fit ``channels`` real-looking channel models and score them against ``papers``."""
    rng = random.Random(5)
    ix, vecs, keys = bench.ix, bench.vecs, bench.keys
    recent_days = ix.days[-12:-2]
    day_rows = [i for d in recent_days for i in ix.by_day[d]]
    cats = ["cs.CV", "cs.CL", "cs.AI", "cs.LG", "cs.RO", "cs.IR", "cs.HC"]
    pools = {c: [keys[i] for i in day_rows if c in ix.cats[i]] for c in cats}
    models = {}
    started = time.perf_counter()
    for c in range(channels):
        chip = rng.choice(cats)
        liked = tuple(keys[i] for i in rng.sample(day_rows, rng.randint(1, 10)))
        ignored = tuple(rng.sample(pools[chip], min(100, len(pools[chip]))))
        model = fit(vecs, Feedback(liked, (), ignored, tuple(pools[chip])), bench.settings)
        assert model is not None
        models[f"C{c}"] = model
    fitted = time.perf_counter() - started
    today = vecs.rows(range(max(0, len(vecs) - papers), len(vecs)))
    if len(today) < papers:  # a small data set: reuse its papers to reach the day's size
        reps = -(-papers // len(today))
        today = PaperVectors.concat([today] * reps).rows(range(papers))
    started = time.perf_counter()
    matrix = ChannelMatrix.stack(models)
    stacked = time.perf_counter() - started
    started = time.perf_counter()
    top = matrix.top(today, K)
    scored = time.perf_counter() - started
    assert len(top) == channels
    print(
        f"\nCost, {channels:,} channels x {len(today):,} papers: scoring and top-{K} "
        f"{scored:.2f} s (one sparse + one dense product per block of 2,048 channels; "
        f"{matrix.tfidf.nnz:,} stacked TF-IDF weights); stacking {stacked:.2f} s; "
        f"fitting the {channels:,} models {fitted:.1f} s ({channels / fitted:,.0f}/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="use the shared 74,728-paper file")
    parser.add_argument("--data", type=Path, help="a JSONL(.gz) of listings to use instead")
    parser.add_argument("--tasks", type=int, default=400, help="most tasks per family")
    parser.add_argument("--ablation", action="store_true", help="also print ranker variants")
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=2_000)
    args = parser.parse_args()

    print_machine()  # CPUs, memory and the load averages before starting
    path = args.data or (FULL if args.full else SLICE)
    if args.full and not FULL.exists():
        sys.exit(f"{FULL} is not there; run without --full to use the bundled slice")
    rows = load_rows(path)
    settings = RelevanceSettings()
    bench = Bench(rows, settings)
    ix = bench.ix
    start = FULL_START if path == FULL else ix.days[min(10, len(ix.days) - 1)]
    small = len(rows) < 20_000
    tasks = group_tasks(ix, start=start, min_joint=3 if small else 5, limit=args.tasks)
    tasks += crosslist_tasks(ix, start=start, min_pair=20 if small else 60, limit=args.tasks)
    print(
        f"data: {path.name}: {len(rows):,} papers, {len(ix.days)} listing days "
        f"({ix.days[0]} .. {ix.days[-1]}); tasks from {start} on: "
        f"{sum(t.family == 'group' for t in tasks)} research-group, "
        f"{sum(t.family == 'crosslist' for t in tasks)} cross-listing; "
        f"{statistics.mean(len(t.candidates) for t in tasks):.0f} candidates and "
        f"{statistics.mean(len(t.relevant) for t in tasks):.1f} relevant per task on average"
    )
    quality(bench, tasks, args.ablation)
    calibrate(bench, start)
    throughput(bench)
    cost(bench, args.channels, args.papers)


if __name__ == "__main__":
    main()
