"""Many keyword queries against many papers at once, as sparse matrix products.

:func:`~bot.core.matching.keywords.keyword_hits` answers one (query, paper)
pair in Python. A day's run asks it for every distinct keyword chip against
every paper whose text holds the chip's anchor: a hundred thousand calls. The
same answers come out of a few sparse products over the pool:

* every form of every query token gets a column; a paper's title (and,
  separately, abstract) is the row of forms it contains;
* a one-token phrase is in a field when one of its forms is; a two-token
  phrase when one of its (form, form) pairs is a pair of adjacent tokens of
  the field, so adjacent pairs get columns too; a longer phrase (rare) is
  checked in Python, only in papers holding all of its tokens;
* a query hits a paper when each of its phrases is in the title or the
  abstract; its hit counts are the phrases found in each field.

The rule is :func:`keyword_hits`'s exactly (token agreement by
:func:`~bot.core.text.word_forms`); a property test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import scipy.sparse as sp

from bot.core.matching.keywords import KeywordQuery, PaperText, phrase_in

__all__ = ["QueryHits", "QueryTable"]


@dataclass(frozen=True)
class QueryHits:
    """Every (query, paper) hit: parallel arrays, sorted by query then paper."""

    query: np.ndarray  # int32 query ids (positions in the table's queries)
    paper: np.ndarray  # int32 positions in the texts given
    title_hits: np.ndarray  # int32 phrases found in the title
    abstract_hits: np.ndarray  # int32 phrases found in the abstract


class QueryTable:
    """Distinct keyword queries compiled into the columns described above."""

    def __init__(self, queries: Sequence[KeywordQuery]) -> None:
        self.queries = list(queries)
        self._form_id: dict[str, int] = {}
        self._pair_id: dict[tuple[str, str], int] = {}
        self._firsts: set[str] = set()  # forms that start a pair
        phrase_id: dict[tuple[str, ...], int] = {}
        phrases: list[tuple[frozenset[str], ...]] = []
        # (row = form or pair column, col = phrase) incidences.
        single_rows: list[int] = []
        single_cols: list[int] = []
        pair_rows: list[int] = []
        pair_cols: list[int] = []
        self._long: list[int] = []  # phrases of three tokens or more
        q_rows: list[int] = []  # (phrase, query) incidences
        q_cols: list[int] = []
        for qid, query in enumerate(self.queries):
            for tokens, forms in zip(query.phrases, query.forms, strict=True):
                ph = phrase_id.get(tokens)
                if ph is None:
                    ph = phrase_id[tokens] = len(phrases)
                    phrases.append(forms)
                    if len(forms) == 1:
                        for f in forms[0]:
                            single_rows.append(self._form(f))
                            single_cols.append(ph)
                    elif len(forms) == 2:
                        self._firsts.update(forms[0])
                        for a in forms[0]:
                            for b in forms[1]:
                                pair_rows.append(self._pair(a, b))
                                pair_cols.append(ph)
                    else:
                        self._long.append(ph)
                    for f in (f for fs in forms for f in fs):
                        self._form(f)  # every token's forms have a column
                q_rows.append(ph)
                q_cols.append(qid)
        self._phrases = phrases
        n_ph = len(phrases)
        self._single = _incidence(single_rows, single_cols, len(self._form_id), n_ph)
        self._pairs = _incidence(pair_rows, pair_cols, len(self._pair_id), n_ph)
        self._query_of = _incidence(q_rows, q_cols, n_ph, len(self.queries))
        self._phrase_count = np.asarray(self._query_of.sum(axis=0)).ravel()
        self._forms = frozenset(self._form_id)
        self._pair_set = frozenset(self._pair_id)
        # For long phrases: each token's forms (columns), to find the papers holding all.
        self._long_tokens = [
            [[self._form_id[f] for f in fs] for fs in phrases[ph]] for ph in self._long
        ]

    def _form(self, form: str) -> int:
        return self._form_id.setdefault(form, len(self._form_id))

    def _pair(self, a: str, b: str) -> int:
        return self._pair_id.setdefault((a, b), len(self._pair_id))

    def hits(self, texts: Sequence[PaperText]) -> QueryHits:
        """Every query's hits among ``texts`` (a paper's position is its row)."""
        n = len(texts)
        if not self.queries or not n:
            empty = np.zeros(0, dtype=np.int32)
            return QueryHits(empty, empty, empty, empty)
        forms, form_id = self._forms, self._form_id
        pair_id, pair_set, firsts = self._pair_id, self._pair_set, self._firsts
        t_forms: list[list[int]] = []
        a_forms: list[list[int]] = []
        t_pairs: list[list[int]] = []
        a_pairs: list[list[int]] = []
        for text in texts:
            t_forms.append([form_id[f] for f in text.title_words.intersection(forms)])
            a_forms.append([form_id[f] for f in text.abstract_words.intersection(forms)])
            t_pairs.append(_pairs_in(text.title, text.title_words, firsts, pair_set, pair_id))
            a_pairs.append(_pairs_in(text.abstract, text.abstract_words, firsts, pair_set, pair_id))
        width = len(form_id)
        title = _rows(t_forms, width) @ self._single
        abstract = _rows(a_forms, width) @ self._single
        if pair_id:
            title = title + _rows(t_pairs, len(pair_id)) @ self._pairs
            abstract = abstract + _rows(a_pairs, len(pair_id)) @ self._pairs
        if self._long:
            long_t, long_a = self._long_phrases(texts, t_forms, a_forms)
            title, abstract = title + long_t, abstract + long_a
        # Phrase presence per field (0/1), then per query: phrases found per
        # field, and phrases found anywhere (must be all of them).
        title = _binary(title)
        abstract = _binary(abstract)
        either = _binary(title + abstract)
        found = (either @ self._query_of).tocoo()
        whole = found.data == self._phrase_count[found.col]
        rows, cols = found.row[whole], found.col[whole]
        order = np.lexsort((rows, cols))
        rows, cols = rows[order], cols[order]
        th = _lookup(title @ self._query_of, rows, cols)
        ah = _lookup(abstract @ self._query_of, rows, cols)
        return QueryHits(
            cols.astype(np.int32), rows.astype(np.int32), th.astype(np.int32), ah.astype(np.int32)
        )

    def _long_phrases(
        self,
        texts: Sequence[PaperText],
        t_forms: list[list[int]],
        a_forms: list[list[int]],
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Presence of the phrases of three tokens or more, checked in Python
        where every token of the phrase occurs in the paper."""
        rows_t: list[int] = []
        cols_t: list[int] = []
        rows_a: list[int] = []
        cols_a: list[int] = []
        for p, text in enumerate(texts):
            have = set(t_forms[p]) | set(a_forms[p])
            for k, ph in enumerate(self._long):
                if not all(have.intersection(tok) for tok in self._long_tokens[k]):
                    continue
                forms = self._phrases[ph]
                if phrase_in(text.title, text.title_words, forms):
                    rows_t.append(p)
                    cols_t.append(ph)
                if phrase_in(text.abstract, text.abstract_words, forms):
                    rows_a.append(p)
                    cols_a.append(ph)
        shape = (len(texts), len(self._phrases))
        return (
            _incidence(rows_t, cols_t, *shape),
            _incidence(rows_a, cols_a, *shape),
        )


def _pairs_in(
    tokens: tuple[str, ...],
    words: frozenset[str],
    firsts: set[str],
    pair_set: frozenset[tuple[str, str]],
    pair_id: dict[tuple[str, str], int],
) -> list[int]:
    """Columns of the registered (form, form) pairs adjacent in ``tokens``."""
    if not pair_set or words.isdisjoint(firsts):
        return []
    # set & frozenset walks the smaller side in C (a dict argument would be walked whole).
    return [pair_id[p] for p in set(pairwise(tokens)) & pair_set]


def _incidence(rows: list[int], cols: list[int], n_rows: int, n_cols: int) -> sp.csr_matrix:
    """A 0/1 matrix (int32) with ones at (rows, cols), duplicates counted once."""
    m = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.int32), (np.asarray(rows), np.asarray(cols))),
        shape=(n_rows, n_cols),
        dtype=np.int32,
    )
    m.sum_duplicates()
    m.data[:] = 1
    return m


def _rows(columns: list[list[int]], width: int) -> sp.csr_matrix:
    """0/1 rows (int32) from each row's column list."""
    indptr = np.zeros(len(columns) + 1, dtype=np.int64)
    np.cumsum([len(c) for c in columns], out=indptr[1:])
    flat = np.fromiter((c for cs in columns for c in cs), dtype=np.int32, count=int(indptr[-1]))
    data = np.ones(len(flat), dtype=np.int32)
    return sp.csr_matrix((data, flat, indptr), shape=(len(columns), width))


def _binary(m: sp.csr_matrix) -> sp.csr_matrix:
    """Non-zeros set to 1 (presence, whatever the counts)."""
    m = m.tocsr()
    m.eliminate_zeros()
    m.data[:] = 1
    return m


def _lookup(m: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``m[rows, cols]`` as a flat int array (0 where ``m`` has no entry)."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    return np.asarray(m.tocsr()[rows, cols]).ravel()
