"""A briefing's fixed shape: its five sections and the ``[NN]`` card tag.

Both ways of writing a briefing fill the same sections (the extractive one
from the papers' own words, the model's after its text is checked), and the
reply shows them in this order, so the shape is defined once.
"""

from __future__ import annotations

SECTIONS: tuple[tuple[str, str], ...] = (
    ("themes", "Themes"),
    ("links", "Links between fields"),
    ("results", "Notable results"),
    ("questions", "Open questions"),
    ("read", "What to read first"),
)
#: Sections whose bullets are claims about the papers and must cite them.
MUST_CITE = frozenset({"themes", "links", "results", "read"})


def tag(number: int) -> str:
    """A citation of card ``number`` as the channel sees it: ``[03]``."""
    return f"[{number:02d}]"


def empty_sections() -> dict[str, list[str]]:
    """Every section, in order, with no bullets yet."""
    return {key: [] for key, _ in SECTIONS}
