"""Every token of a day's titles and abstracts as a code, without a string per token.

:class:`~bot.core.matching.querytable.QueryTable` needs, for each token of the
pool, the code of the query form it is (or -1). Tokenising every paper into
Python strings and looking each up in a dict cost a fifth of planning a day,
for about 400,000 tokens of which most are no form at all. Here the tokens
stay bytes in one buffer (:func:`~bot.core.text.token_bytes`, the same tokens
as :func:`~bot.core.text.tokenize`) and are coded with array operations:

* a token of up to 16 bytes, zero-padded, is two integers (no token holds a
  zero byte, so the padding is unambiguous);
* the forms are filed in an open-addressing hash table by those integers; a
  token probes it (linear probing, all tokens at once, a few rounds) and
  matches a form only if both integers are equal: exact, whatever the hash;
* a longer token (rare) is looked up as bytes, and only if some form is
  longer than 16 bytes too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from bot.core.text import token_bytes

__all__ = ["FormCodes"]

#: Bytes of a token read as integers (two uint64).
_WIDTH = 16
#: Per token length (0 to 16), the masks that keep its bytes of the two integers.
_KEEP = np.array(
    [[(1 << 8 * min(n, 8)) - 1, (1 << 8 * max(0, min(n - 8, 8))) - 1] for n in range(_WIDTH + 1)],
    dtype=np.uint64,
)
_SPREAD = 0x9E3779B97F4A7C15  # odd: multiplying by it mixes bits upward
#: Text coded at a time (bytes, in whole fields). On a day's pool of 2,000
#: papers (2.5 MB of tokens), chunks of 128 to 512 KiB coded it in about three
#: quarters of the time of one pass over the whole pool, with no page faults
#: against 6,600 (bench world, AMD EPYC VM, 2026-12-03).
_CHUNK_BYTES = 1 << 18


class FormCodes:
    """The forms (folded token strings) with their codes, filed for :meth:`codes`."""

    def __init__(self, codes: Mapping[str, int]) -> None:
        fitting = [(f.encode(), c) for f, c in codes.items() if len(f.encode()) <= _WIDTH]
        self._long = {f.encode(): c for f, c in codes.items() if len(f.encode()) > _WIDTH}
        words = np.frombuffer(
            b"".join(f.ljust(_WIDTH, b"\0") for f, _ in fitting), dtype="<u8"
        ).reshape(-1, 2)
        self._lo, self._hi = words[:, 0].copy(), words[:, 1].copy()
        self._codes = np.fromiter((c for _, c in fitting), np.int32, len(fitting))
        # A table at most a quarter full: probe runs stay short.
        bits = max(4, (4 * len(fitting)).bit_length())
        self._shift = np.uint64(64 - bits)
        self._slots = np.full(1 << bits, -1, dtype=np.int64)  # form number, or -1
        mask = (1 << bits) - 1
        for form, slot in enumerate(self._slot(self._lo, self._hi).tolist()):
            while self._slots[slot] >= 0:
                slot = (slot + 1) & mask
            self._slots[slot] = form
        # A probe that has met neither its form nor an empty slot after the
        # longest run of full slots (+ 1) cannot exist: that many rounds suffice.
        full = np.concatenate((self._slots >= 0, self._slots >= 0))  # runs may wrap
        self._rounds = 1 + _longest_run(full)

    def _slot(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        mixed = lo ^ (hi * np.uint64(_SPREAD))
        return ((mixed * np.uint64(_SPREAD)) >> self._shift).astype(np.intp)

    def codes(
        self, texts: Sequence[tuple[str, str]], chunk_bytes: int = _CHUNK_BYTES
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every token's code (int32, -1 for a token that is no form), field
        after field (paper p's title is field 2p, its abstract 2p + 1), and
        where each field's tokens begin (``2 len(texts) + 1`` bounds).

        Coded ``chunk_bytes`` of text at a time (whole fields): a day's pool
        at once made tens of MiB of temporaries (several 8-byte integers a
        token), mapped afresh by the allocator on every run, each page a fault;
        a chunk's arrays stay in the CPU's cache and are reused."""
        fields = [token_bytes(f) for t in texts for f in t]
        sizes = [len(f) for f in fields]
        codes: list[np.ndarray] = []
        bounds = [np.zeros(1, dtype=np.int64)]
        tokens = 0
        for lo, hi in _chunks(sizes, chunk_bytes):
            code, ends = self._codes_of(fields[lo:hi], sizes[lo:hi])
            codes.append(code)
            bounds.append(ends[1:] + tokens)
            tokens += len(code)
        return np.concatenate(codes), np.concatenate(bounds)

    def _codes_of(self, fields: list[bytes], sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`codes` of some fields, as token bytes (their bounds from 0)."""
        buffer = b" ".join(fields) + b" "  # every token ends at a space
        raw = np.frombuffer(buffer, dtype=np.uint8)
        edges = np.flatnonzero(np.diff(raw != ord(" "), prepend=False))  # starts, ends alternate
        starts, ends = edges[0::2], edges[1::2]
        field_at = np.zeros(len(fields) + 1, dtype=np.int64)  # each field's first byte
        np.cumsum(np.asarray(sizes, dtype=np.int64) + 1, out=field_at[1:])
        bounds = np.searchsorted(starts, field_at)
        lengths = ends - starts
        padded = np.concatenate((raw, np.zeros(_WIDTH, dtype=np.uint8)))
        window = np.lib.stride_tricks.sliding_window_view(padded, _WIDTH)[starts]
        words = window.view("<u8") & _KEEP[np.minimum(lengths, _WIDTH)]
        code = np.full(len(starts), -1, dtype=np.int32)
        if len(self._codes):
            self._probe(words, lengths <= _WIDTH, code)
        if self._long:
            get = self._long.get
            at = np.flatnonzero(lengths > _WIDTH)
            code[at] = np.fromiter(
                (
                    get(buffer[a:b], -1)
                    for a, b in zip(starts[at].tolist(), ends[at].tolist(), strict=True)
                ),
                np.int32,
                count=len(at),
            )
        return code, bounds

    def _probe(self, words: np.ndarray, fits: np.ndarray, code: np.ndarray) -> None:
        """``code`` of each fitting token that is a form (linear probing: each
        round, the tokens that met another form's slot read one slot on)."""
        lo, hi = np.ascontiguousarray(words[:, 0]), np.ascontiguousarray(words[:, 1])
        slot = self._slot(lo, hi)
        form = self._slots[slot]
        pending = np.flatnonzero((form >= 0) & fits)  # most tokens meet an empty slot
        form, slot = form[pending], slot[pending]
        mask = len(self._slots) - 1
        for _ in range(self._rounds):
            same = (self._lo[form] == lo[pending]) & (self._hi[form] == hi[pending])
            code[pending[same]] = self._codes[form[same]]
            pending, slot = pending[~same], (slot[~same] + 1) & mask
            form = self._slots[slot]
            filled = form >= 0  # a full slot of another form: read on
            pending, slot, form = pending[filled], slot[filled], form[filled]
            if not len(pending):
                return
        raise AssertionError("a probe ran past every run of full slots")


def _chunks(sizes: list[int], limit: int) -> list[tuple[int, int]]:
    """Consecutive ranges of fields, each at least ``limit`` bytes long (the
    last one: what is left, possibly nothing) with the space after each."""
    out: list[tuple[int, int]] = []
    lo, total = 0, 0
    for i, size in enumerate(sizes):
        total += size + 1
        if total >= limit:
            out.append((lo, i + 1))
            lo, total = i + 1, 0
    if lo < len(sizes) or not out:
        out.append((lo, len(sizes)))
    return out


def _longest_run(flags: np.ndarray) -> int:
    """The length of the longest run of True in ``flags``."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], flags, [False]))))
    return int((edges[1::2] - edges[0::2]).max(initial=0))
