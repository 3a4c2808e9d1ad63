"""A bounded set of recently seen keys, for "have I handled this already?"
checks that must not grow without bound (redelivered events, a button pressed
twice): the oldest key is forgotten first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class Recent:
    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._keys: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, key: Hashable) -> bool:
        """Remember ``key``; False when it was already there."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return True
