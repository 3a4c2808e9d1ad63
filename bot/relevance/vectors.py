"""``PaperVectors``: the stored representation of a batch of papers.

A paper is represented once, at harvest, and the result is kept with it (a
blob/bytea column), so ranking never re-reads abstracts. Each paper has two
vectors, both unit length:

- ``tfidf``: a sparse row over the hashed term space (:mod:`.tfidf`);
- ``embedding``: a dense float32 row from the configured embedder.

``tfidf_id`` and ``model_id`` name the spaces. Stored vectors whose ids differ
from the running configuration are stale: the store re-represents those papers
(:func:`stale`) instead of mixing two vector spaces in one dot product.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

_HEADER = struct.Struct("<4sII")  # magic, columns, non-zeros
_MAGIC = b"TFv1"


@dataclass(frozen=True)
class PaperVectors:
    """Vectors of ``keys`` (row ``k`` of both matrices is paper ``keys[k]``)."""

    keys: tuple[str, ...]
    tfidf: sp.csr_matrix  # (n, n_features) float32, rows L2-normalised
    embedding: np.ndarray  # (n, dim) float32, rows L2-normalised
    tfidf_id: str
    model_id: str

    def __post_init__(self) -> None:
        n = len(self.keys)
        if self.tfidf.shape[0] != n or self.embedding.shape[0] != n:
            raise ValueError("PaperVectors: keys and rows disagree")

    def __len__(self) -> int:
        return len(self.keys)

    @cached_property
    def index(self) -> dict[str, int]:
        """Row of each key (built once per batch: ``take`` is called per channel)."""
        return {k: i for i, k in enumerate(self.keys)}

    def take(self, keys: Iterable[str]) -> PaperVectors:
        """The rows of ``keys`` (in that order; unknown keys are skipped)."""
        where = self.index
        rows = [where[k] for k in keys if k in where]
        return PaperVectors(
            tuple(self.keys[r] for r in rows),
            self.tfidf[rows],
            self.embedding[rows],
            self.tfidf_id,
            self.model_id,
        )

    def rows(self, idx: Sequence[int]) -> PaperVectors:
        """The rows at positions ``idx``."""
        idx = list(idx)
        return PaperVectors(
            tuple(self.keys[r] for r in idx),
            self.tfidf[idx],
            self.embedding[idx],
            self.tfidf_id,
            self.model_id,
        )

    @staticmethod
    def concat(parts: Sequence[PaperVectors]) -> PaperVectors:
        """One batch from several of the same spaces."""
        if not parts:
            raise ValueError("PaperVectors.concat needs at least one batch")
        first = parts[0]
        for p in parts[1:]:
            if (p.tfidf_id, p.model_id) != (first.tfidf_id, first.model_id):
                raise ValueError("PaperVectors.concat: batches from different vector spaces")
        return PaperVectors(
            tuple(k for p in parts for k in p.keys),
            sp.vstack([p.tfidf for p in parts], format="csr", dtype=np.float32),
            np.vstack([p.embedding for p in parts]).astype(np.float32, copy=False),
            first.tfidf_id,
            first.model_id,
        )

    # -- storage: one row as bytes, for a blob/bytea column ------------------------------

    def tfidf_bytes(self, k: int) -> bytes:
        """Row ``k``'s TF-IDF vector as bytes (uint32 columns, float32 weights)."""
        start, end = self.tfidf.indptr[k], self.tfidf.indptr[k + 1]
        cols = self.tfidf.indices[start:end].astype("<u4")
        vals = self.tfidf.data[start:end].astype("<f4")
        return (
            _HEADER.pack(_MAGIC, self.tfidf.shape[1], len(cols)) + cols.tobytes() + vals.tobytes()
        )

    def embedding_bytes(self, k: int) -> bytes:
        """Row ``k``'s embedding as little-endian float32 bytes."""
        return self.embedding[k].astype("<f4").tobytes()

    @staticmethod
    def from_bytes(
        keys: Sequence[str],
        tfidf: Sequence[bytes],
        embedding: Sequence[bytes],
        tfidf_id: str,
        model_id: str,
    ) -> PaperVectors:
        """Rebuild a batch from stored rows (the inverse of the two ``*_bytes``)."""
        indptr = [0]
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        width = 0
        for blob in tfidf:
            magic, width_k, nnz = _HEADER.unpack_from(blob)
            if magic != _MAGIC or len(blob) != _HEADER.size + 8 * nnz:
                raise ValueError("not a stored TF-IDF vector")
            if width and width_k != width:
                raise ValueError("stored TF-IDF vectors of different widths")
            width = width_k
            body = memoryview(blob)[_HEADER.size :]
            cols.append(np.frombuffer(body[: 4 * nnz], dtype="<u4").astype(np.int32))
            vals.append(np.frombuffer(body[4 * nnz :], dtype="<f4").astype(np.float32))
            indptr.append(indptr[-1] + nnz)
        n = len(keys)
        matrix = sp.csr_matrix(
            (
                np.concatenate(vals) if vals else np.zeros(0, np.float32),
                np.concatenate(cols) if cols else np.zeros(0, np.int32),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(n, width),
        )
        dense = [np.frombuffer(b, dtype="<f4") for b in embedding]
        dim = len(dense[0]) if dense else 0
        if any(len(d) != dim for d in dense):
            raise ValueError("stored embeddings of different sizes")
        emb = np.vstack(dense).astype(np.float32) if dense else np.zeros((0, dim), np.float32)
        return PaperVectors(tuple(keys), matrix, emb, tfidf_id, model_id)


def stale(stored_ids: Iterable[tuple[str, str]], tfidf_id: str, model_id: str) -> list[int]:
    """Positions of stored (tfidf_id, model_id) pairs that the running config must rebuild."""
    return [k for k, ids in enumerate(stored_ids) if ids != (tfidf_id, model_id)]
