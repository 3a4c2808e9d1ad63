"""Turn papers into :class:`PaperVectors`, once per paper, at harvest.

This is the only place paper text is read for relevance: channels never look
at text again, they take dot products with what this produced. So it runs
once per paper for the whole bot (never once per channel), and the result is
stored with the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np

from bot.core.paper import Paper
from bot.relevance import idf as idf_table
from bot.relevance.embed import Embedder
from bot.relevance.tfidf import paper_text, term_counts, tfidf_rows
from bot.relevance.vectors import PaperVectors


class Representer:
    """Computes both vectors of papers with one IDF table and one embedder."""

    def __init__(self, embedder: Embedder, table: idf_table.IdfTable | None = None) -> None:
        self.embedder = embedder
        self.table = table or idf_table.bundled()

    @cached_property
    def _idf(self) -> np.ndarray:
        return self.table.idf()

    @property
    def tfidf_id(self) -> str:
        return self.table.table_id

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    def texts(
        self, keys: Sequence[str], titles: Sequence[str], abstracts: Sequence[str]
    ) -> PaperVectors:
        """Vectors of papers given as parallel lists of keys, titles and abstracts."""
        if not (len(keys) == len(titles) == len(abstracts)):
            raise ValueError("keys, titles and abstracts must have the same length")
        docs = [paper_text(t, a) for t, a in zip(titles, abstracts, strict=True)]
        tfidf = tfidf_rows(term_counts(docs, self.table.n_features), self._idf)
        embedding = self.embedder.embed(docs)
        return PaperVectors(tuple(keys), tfidf, embedding, self.tfidf_id, self.model_id)

    def papers(self, papers: Sequence[Paper]) -> PaperVectors:
        """Vectors of ``papers`` (row order is the input order)."""
        return self.texts(
            [p.key for p in papers], [p.title for p in papers], [p.abstract for p in papers]
        )
