"""Array helpers shared by the planner's parts (:mod:`bot.core.matching.topk`,
:mod:`bot.core.matching.tails`, :mod:`bot.relevance.scoring`)."""

from __future__ import annotations

import numpy as np

__all__ = ["ranges"]


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])``, without
    the loop: the positions of many CSR rows' entries at once."""
    total = int(counts.sum())
    offsets = np.cumsum(counts) - counts
    return np.repeat(starts - offsets, counts) + np.arange(total, dtype=np.int64)
