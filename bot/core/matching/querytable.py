"""Many keyword queries against many papers at once, as array passes and sparse products.

:func:`~bot.core.matching.keywords.keyword_hits` answers one (query, paper)
pair in Python. A day's run asks it for every distinct keyword chip against
every paper whose text holds the chip's anchor: a hundred thousand calls. The
same answers come out of one pass over the pool's tokens, a few array passes
and a few sparse products:

* every form of every query token gets a code; every token of every title and
  abstract is mapped to its code (-1 for a token no query has) by array
  passes over the tokens' bytes (:mod:`~bot.core.matching.tokencodes`), the
  fields one after another, so all later work is on integer arrays;
* a one-token phrase is in a field when one of its forms is; a two-token
  phrase when one of its (form, form) pairs is a pair of adjacent tokens of
  the field: adjacent codes are looked up among the registered pairs (sorted
  keys), never across a field's end; a longer phrase (rare) is a run of its
  registered pairs at consecutive positions;
* a query hits a paper when each of its phrases is in the title or the
  abstract; its hit counts are the phrases found in each field. One product
  sums, per (paper, query), three counts packed into one integer: phrases
  found anywhere, in the title, in the abstract.

The rule is :func:`keyword_hits`'s exactly (token agreement by
:func:`~bot.core.text.word_forms`); a property test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, pairwise, repeat

import numpy as np
import scipy.sparse as sp

from bot.core.matching.keywords import KeywordQuery
from bot.core.matching.tokencodes import FormCodes

__all__ = ["QueryHits", "QueryTable"]

#: Bits a query's phrase count may need: three counts share one int64 (see
#: ``QueryTable.hits``), so a query may have up to 2**20 - 1 phrases, far
#: beyond any chip anyone types.
_MAX_LANE_BITS = 20


@dataclass(frozen=True)
class QueryHits:
    """Every (query, paper) hit: parallel arrays, sorted by query then paper."""

    query: np.ndarray  # int32 query ids (positions in the table's queries)
    paper: np.ndarray  # int32 positions in the texts given
    title_hits: np.ndarray  # int32 phrases found in the title
    abstract_hits: np.ndarray  # int32 phrases found in the abstract


class QueryTable:
    """Distinct keyword queries compiled into the codes and columns described above."""

    def __init__(self, queries: Sequence[KeywordQuery]) -> None:
        self.queries = list(queries)
        form_id: dict[str, int] = {}
        pair_id: dict[tuple[str, str], int] = {}
        pair_forms: list[tuple[int, int]] = []  # per pair id: its (form, form) codes
        phrase_id: dict[tuple[str, ...], int] = {}
        # (row = form or pair, col = phrase) incidences of one- and two-token phrases.
        single_rows: list[int] = []
        single_cols: list[int] = []
        pair_rows: list[int] = []
        pair_cols: list[int] = []
        # Phrases of three tokens or more: (phrase, per offset the pair ids allowed there).
        self._long: list[tuple[int, list[list[int]]]] = []
        q_rows: list[int] = []  # (phrase, query) incidences
        q_cols: list[int] = []
        for qid, query in enumerate(self.queries):
            for tokens, forms in zip(query.phrases, query.forms, strict=True):
                ph = phrase_id.get(tokens)
                if ph is None:
                    ph = phrase_id[tokens] = len(phrase_id)
                    for f in chain.from_iterable(forms):
                        if f not in form_id:
                            form_id[f] = len(form_id)
                    # Each adjacent token pair's (form, form) pairs: the columns
                    # of a two-token phrase, the links of a longer one's run.
                    links: list[list[int]] = []
                    for fa, fb in pairwise(forms):
                        link = []
                        for a in fa:
                            for b in fb:
                                pid = pair_id.setdefault((a, b), len(pair_id))
                                if pid == len(pair_forms):
                                    pair_forms.append((form_id[a], form_id[b]))
                                link.append(pid)
                        links.append(link)
                    if len(forms) == 1:
                        single_rows.extend(form_id[f] for f in forms[0])
                        single_cols.extend(repeat(ph, len(forms[0])))
                    elif len(forms) == 2:
                        pair_rows.extend(links[0])
                        pair_cols.extend(repeat(ph, len(links[0])))
                    else:
                        self._long.append((ph, links))
                q_rows.append(ph)
                q_cols.append(qid)
        self._form_id = form_id
        self._form_codes = FormCodes(form_id)
        self._n_phrases = n_ph = len(phrase_id)
        n_forms, self._n_pairs = len(form_id), len(pair_id)
        # Rows: forms, then pairs (the columns of the token matrix of ``hits``).
        self._columns = _incidence(
            single_rows + [n_forms + r for r in pair_rows],
            single_cols + pair_cols,
            n_forms + self._n_pairs,
            n_ph,
        )
        # A pair's two codes as one sortable key, and the pair id of each key;
        # which forms open or close some pair (most adjacent codes are neither).
        codes = np.fromiter(chain.from_iterable(pair_forms), np.int64, 2 * self._n_pairs)
        codes = codes.reshape(-1, 2)
        keys = codes[:, 0] * n_forms + codes[:, 1]
        order = np.argsort(keys, kind="stable")
        self._pair_keys = keys[order]
        self._pair_of_key = order.astype(np.int32)
        self._opens = np.zeros(n_forms, dtype=bool)
        self._opens[codes[:, 0]] = True
        self._closes = np.zeros(n_forms, dtype=bool)
        self._closes[codes[:, 1]] = True
        self._query_of = _incidence(q_rows, q_cols, n_ph, len(self.queries)).astype(np.int64)
        self._phrase_count = np.asarray(self._query_of.sum(axis=0)).ravel()
        top = int(self._phrase_count.max(initial=0))
        if top >> _MAX_LANE_BITS:
            raise ValueError(f"a keyword query of {top} phrases is more than can be matched")
        self._lane = max(1, top.bit_length())

    def hits(self, texts: Sequence[tuple[str, str]]) -> QueryHits:
        """Every query's hits among ``texts``, each paper's (title, abstract)
        (a paper's position is its row)."""
        n = len(texts)
        if not self.queries or not n:
            empty = np.zeros(0, dtype=np.int32)
            return QueryHits(empty, empty, empty, empty)
        # The fields one after another: paper p's title is field 2p, its
        # abstract 2p + 1; field i holds the positions bounds[i] to bounds[i + 1].
        code, bounds = self._form_codes.codes(texts)
        at = np.flatnonzero(code >= 0)
        form = code[at]
        pair_at, pair = self._pairs_at(at, form, bounds)
        # The token matrix: a row per field with its forms' columns, and below
        # them a row per field with its pairs' (a phrase is found through one
        # of the two, never both). Repeats are summed by the product and do not
        # matter: presence is what counts.
        width = self._columns.shape[0]
        blocks = [
            _by_field(at, form, bounds, width),
            _by_field(pair_at, pair + len(self._form_id), bounds, width),
        ]
        found = _stack(blocks) @ self._columns  # (block, field) x phrase: occurrences
        if self._long:
            # ... and a third block of rows, for the longer phrases.
            found = _stack([found, self._long_phrases(pair_at, pair, bounds)])
        found.data[:] = 1  # presence
        # Per (paper, phrase) found in either field, one int64 with three
        # counts in lanes of ``lane`` bits: 1 (anywhere) + 1 << lane (in the
        # title) + 1 << 2 * lane (in the abstract). Summed over a query's
        # phrases it holds the query's three counts, none overflowing its lane.
        lane = self._lane
        k = found.shape[0] // (2 * n)  # blocks
        # Paper p's row: its title's and abstract's rows in every block.
        weights = sp.csr_matrix(
            (
                np.tile(np.array([1 << lane, 1 << 2 * lane], dtype=np.int64), k * n),
                (np.arange(k)[:, None] * 2 * n + np.arange(2 * n))
                .reshape(k, n, 2)
                .transpose(1, 0, 2)
                .ravel(),
                np.arange(0, 2 * k * n + 1, 2 * k),
            ),
            shape=(n, found.shape[0]),
        )
        per_paper = weights @ found
        per_paper.data += 1
        # By query, then paper: csr -> csc lists each column's rows in order.
        counts = (per_paper @ self._query_of).tocsc()
        query = np.repeat(np.arange(len(self.queries), dtype=np.int32), np.diff(counts.indptr))
        packed = counts.data
        mask = (1 << lane) - 1
        whole = (packed & mask) == self._phrase_count[query]
        packed = packed[whole]
        return QueryHits(
            query[whole],
            counts.indices[whole].astype(np.int32),
            ((packed >> lane) & mask).astype(np.int32),
            (packed >> 2 * lane).astype(np.int32),
        )

    def _pairs_at(
        self, at: np.ndarray, form: np.ndarray, bounds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(positions, pair ids), by position, of the registered pairs that two
        adjacent tokens of one field make; ``form`` is the code at ``at``."""
        if not self._n_pairs or len(at) < 2:
            return at[:0], np.zeros(0, dtype=np.int32)
        starts = np.zeros(int(bounds[-1]) + 1, dtype=bool)
        starts[bounds] = True
        first = at[:-1]
        # The next token is a form, of the same field, and both might pair.
        adjacent = (at[1:] == first + 1) & ~starts[first + 1]
        i = np.flatnonzero(adjacent & self._opens[form[:-1]] & self._closes[form[1:]])
        key = form[i].astype(np.int64) * len(self._form_id) + form[i + 1]
        where = np.searchsorted(self._pair_keys, key)
        where[where == len(self._pair_keys)] = 0
        hit = self._pair_keys[where] == key
        return first[i[hit]], self._pair_of_key[where[hit]]

    def _long_phrases(
        self, pair_at: np.ndarray, pair: np.ndarray, bounds: np.ndarray
    ) -> sp.csr_matrix:
        """Field x phrase occurrences of the phrases of three tokens or more: a
        run of their pairs at consecutive positions (no registered pair spans
        two fields, so no run does)."""
        longest = max(len(links) for _, links in self._long)
        pair_of = np.full(int(bounds[-1]) + longest, -1, dtype=np.int32)  # per position
        pair_of[pair_at] = pair
        allowed = np.zeros(self._n_pairs + 1, dtype=bool)  # the last (index -1): no pair
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        for ph, links in self._long:
            start = pair_at
            for offset, link in enumerate(links):
                allowed[link] = True
                start = start[allowed[pair_of[start + offset]]]
                allowed[link] = False
            rows.append(np.searchsorted(bounds, start, side="right") - 1)
            cols.append(np.full(len(start), ph))
        return _incidence(
            np.concatenate(rows), np.concatenate(cols), len(bounds) - 1, self._n_phrases
        )


def _incidence(
    rows: Sequence[int] | np.ndarray, cols: Sequence[int] | np.ndarray, n_rows: int, n_cols: int
) -> sp.csr_matrix:
    """A 0/1 matrix (int32) with ones at (rows, cols), duplicates counted once."""
    m = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.int32), (np.asarray(rows), np.asarray(cols))),
        shape=(n_rows, n_cols),
        dtype=np.int32,
    )
    m.sum_duplicates()
    m.data[:] = 1
    return m


def _by_field(at: np.ndarray, columns: np.ndarray, bounds: np.ndarray, width: int) -> sp.csr_matrix:
    """A row per field with a one in ``columns[j]`` for each sorted token
    position ``at[j]`` in the field."""
    return sp.csr_matrix(
        (np.ones(len(at), dtype=np.int32), columns, np.searchsorted(at, bounds)),
        shape=(len(bounds) - 1, width),
    )


def _stack(blocks: list[sp.csr_matrix]) -> sp.csr_matrix:
    """CSR ``blocks`` of one width, one below the other (their arrays joined)."""
    offsets = np.cumsum([0] + [b.indptr[-1] for b in blocks])
    return sp.csr_matrix(
        (
            np.concatenate([b.data for b in blocks]),
            np.concatenate([b.indices for b in blocks]),
            np.concatenate(
                [blocks[0].indptr[:1]]
                + [b.indptr[1:] + o for b, o in zip(blocks, offsets[:-1], strict=True)]
            ),
        ),
        shape=(sum(b.shape[0] for b in blocks), blocks[0].shape[1]),
    )
