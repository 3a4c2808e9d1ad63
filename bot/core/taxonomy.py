"""arXiv's category taxonomy, so a typo in `/radar category` is caught at once."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def _lines() -> tuple[str, ...]:
    """The bundled category file's lines: ``<id> <name>``, archives as ``# <id>: <name>``."""
    text = resources.files("bot.core").joinpath("arxiv_categories.txt").read_text("utf-8")
    return tuple(text.splitlines())


@cache
def names() -> dict[str, str]:
    """Map of canonical category id (``cs.CL``) to its human name, in file order."""
    out: dict[str, str] = {}
    for line in _lines():
        line = line.strip()
        if line and not line.startswith("#"):
            cat, _, name = line.partition(" ")
            out[cat] = name.strip()
    return out


@cache
def categories() -> dict[str, str]:
    """Map of lower-cased category id to its canonical id (``cs.cl`` -> ``cs.CL``)."""
    return {cat.lower(): cat for cat in names()}


def canonical(category: str) -> str | None:
    """The canonical id for ``category`` (any casing), or None if arXiv has no such one."""
    return categories().get(category.strip().lower())


@cache
def archives() -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """Map of lower-cased archive id to (archive id, its name, its categories)
    for the archives that are split into categories (``cs``, ``astro-ph``;
    not ``gr-qc``, which is a category itself): what a person may type for
    "all of computer science" when a chip takes one category."""
    out: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for line in _lines():
        archive, colon, name = line.removeprefix("# ").partition(": ")
        if not line.startswith("# ") or not colon or " " in archive:
            continue
        inside = tuple(c for c in names() if c.startswith(archive + "."))
        if inside:
            out[archive.lower()] = (archive, name.strip(), inside)
    return out


@cache
def _by_name() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for cat, name in names().items():
        out.setdefault(" ".join(name.casefold().split()), []).append(cat)
    return {name: tuple(cats) for name, cats in out.items()}


def named(text: str) -> tuple[str, ...]:
    """The categories whose human name is ``text`` (any casing): ``Machine
    Learning`` is ``cs.LG`` and ``stat.ML``."""
    return _by_name().get(" ".join(text.casefold().split()), ())


#: What people call a field, and the category arXiv files it under.
COMMON_NAMES = {
    "nlp": "cs.CL",
    "ml": "cs.LG",
    "cs.ml": "cs.LG",
    "ai": "cs.AI",
    "cv": "cs.CV",
    "ir": "cs.IR",
    "hci": "cs.HC",
    "security": "cs.CR",
}


def by_subject(code: str) -> tuple[str, ...]:
    """The categories whose subject code (after the dot) is ``code``: ``CL`` is ``cs.CL``."""
    code = code.casefold()
    return tuple(cat for cat in names() if cat.casefold().rpartition(".")[2] == code)
