"""The fixed corpus statistics paper vectors use: the IDF table and the embedding mean.

Why fixed: an IDF recomputed from the store would drift every day and make
yesterday's stored vectors incomparable with today's. The table is built once
from real arXiv listings (papers listed 2025-03-18 .. 2025-08-31 of the shared
74,728-paper file; the benchmark evaluates on later days only, so its scores
are out of sample) and shipped as package data.

Only columns seen in at least two documents are stored: a column seen once or
never gets the same, rarest IDF, so leaving them out changes nothing and keeps
the file near half a megabyte. The same papers give WordLlama's mean vector,
which :class:`~bot.relevance.embed.WordLlamaEmbedder` subtracts. Rebuild both
with::

    python -m bot.relevance.idf build PAPERS.jsonl.gz --before 2025-09-01
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot.relevance.tfidf import N_FEATURES, paper_text, term_counts

BUNDLED = Path(__file__).with_name("data") / "idf_arxiv_cs.npz"


@dataclass(frozen=True)
class IdfTable:
    """Document frequencies of hashed columns, and the corpus size."""

    n_docs: int
    n_features: int
    columns: np.ndarray  # uint32, ascending: columns with df >= 2
    df: np.ndarray  # uint32, their document frequencies

    @property
    def table_id(self) -> str:
        """Names this table (and so the TF-IDF vector space it defines)."""
        h = hashlib.sha256()
        h.update(np.asarray([self.n_docs, self.n_features], dtype="<u8").tobytes())
        h.update(self.columns.astype("<u4").tobytes())
        h.update(self.df.astype("<u4").tobytes())
        return f"tfidf-h{self.n_features.bit_length() - 1}-{h.hexdigest()[:10]}"

    def idf(self) -> np.ndarray:
        """Smoothed IDF per column, ``ln((1 + N) / (1 + df)) + 1``; unseen columns as df = 1.

        Computed in float64 for the stored columns only, the unseen ones filled
        with their one value: the same float32 result as over the whole
        float64 row, without two 8 MiB temporaries that the allocator keeps.
        """
        out = np.full(self.n_features, np.log((1.0 + self.n_docs) / 2.0) + 1.0, dtype=np.float32)
        seen = np.log((1.0 + self.n_docs) / (1.0 + self.df.astype(np.float64))) + 1.0
        out[self.columns] = seen.astype(np.float32)
        return out

    def save(self, path: Path) -> None:
        # Column gaps compress far better than the columns themselves.
        gaps = np.diff(self.columns.astype(np.int64), prepend=0).astype(np.uint32)
        np.savez_compressed(
            path,
            meta=np.asarray([self.n_docs, self.n_features], dtype=np.int64),
            gaps=gaps,
            df=np.minimum(self.df, np.iinfo(np.uint16).max).astype(np.uint16),
        )

    @staticmethod
    def load(path: Path) -> IdfTable:
        with np.load(path) as z:
            n_docs, n_features = (int(v) for v in z["meta"])
            columns = np.cumsum(z["gaps"].astype(np.int64)).astype(np.uint32)
            df = z["df"].astype(np.uint32)
        return IdfTable(n_docs, n_features, columns, df)


def build(texts: Sequence[str], n_features: int = N_FEATURES) -> IdfTable:
    """Count, for every hashed column, the texts that contain it."""
    counts = term_counts(texts, n_features)
    counts.data[:] = 1
    df = np.bincount(counts.indices, minlength=n_features)
    keep = np.flatnonzero(df >= 2).astype(np.uint32)
    return IdfTable(len(texts), n_features, keep, df[keep].astype(np.uint32))


@lru_cache(maxsize=1)
def bundled() -> IdfTable:
    """The table shipped with the package."""
    return IdfTable.load(BUNDLED)


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the table from a JSONL(.gz) of arXiv listings")
    b.add_argument("papers", type=Path)
    b.add_argument("--before", default="2025-09-01", help="use papers listed before this day")
    b.add_argument("--out", type=Path, default=BUNDLED)
    b.add_argument("--mean-out", type=Path, help="default: the bundled WordLlama mean")
    args = parser.parse_args()
    opener = gzip.open if args.papers.suffix == ".gz" else open
    texts = []
    with opener(args.papers, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("listing_date", "") < args.before:
                texts.append(paper_text(row["title"], row["summary"]))
    table = build(texts)
    table.save(args.out)
    print(f"{len(texts)} papers, {len(table.columns)} columns, {table.table_id} -> {args.out}")
    from bot.relevance.embed import WORDLLAMA_MEAN, WordLlamaEmbedder

    mean = WordLlamaEmbedder(center=False).raw(texts).mean(axis=0).astype(np.float32)
    np.save(args.mean_out or WORDLLAMA_MEAN, mean)
    print(f"WordLlama mean vector -> {args.mean_out or WORDLLAMA_MEAN}")


if __name__ == "__main__":
    _main()
