"""Author names on real bylines: exactly the parses and matches recorded in the fixture.

``fixtures/names/bylines_golden.json.gz`` holds about 9,000 texts: real arXiv
bylines off the plain "Given Surname" path (accents, hyphens, initials,
particles, three or more words, ...) and a sample of plain ones, chip spellings
derived from them (``Y. Tang``, ``Tang, Yehui``, ``Tang``) and odd form input;
with the parse of each and ``author_matches`` for 30,000 pairs that share a
surname key (the pairs the radar index compares). They were recorded by the
parser before its fast paths for common names were added (see the fixture's
README). The fast paths only make it cheaper, so any difference here is a
behaviour change: fix the code, or, for a deliberate policy change, re-record
with ``python tests/test_names_golden.py`` and say why in the commit.
"""

from __future__ import annotations

import collections
import gzip
import json
import random
import sys
from pathlib import Path
from typing import Any

from bot.core.names import PARTICLES, SUFFIXES, AuthorName, author_matches, parse_name

GOLDEN = Path(__file__).parent / "fixtures" / "names" / "bylines_golden.json.gz"
SLICE = Path(__file__).parent / "fixtures" / "relevance" / "arxiv_cs_2026-06_slice.jsonl.gz"


def _parsed(text: str) -> AuthorName | None:
    try:
        return parse_name(text)
    except ValueError:
        return None


def _plain(text: str) -> Any:
    """A parse as JSON (every key set sorted), or None when the text is refused."""
    name = _parsed(text)
    if name is None:
        return None
    readings = [
        [
            [[[[sorted(p.keys), p.initial] for p in g.parts], sorted(g.keys)] for g in r.given],
            sorted(r.surname),
            sorted(r.given_concat),
        ]
        for r in name.readings
    ]
    return [list(name.given), name.surname, readings, name.text]


def _golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    return data


def test_parses_are_the_recorded_ones() -> None:
    golden = _golden()
    assert len(golden["texts"]) > 9000
    changed = [
        text
        for text, want in zip(golden["texts"], golden["parsed"], strict=True)
        if _plain(text) != want
    ]
    assert not changed, f"{len(changed)} parses changed, e.g. {changed[:10]}"


def test_matches_are_the_recorded_ones() -> None:
    golden = _golden()
    texts = golden["texts"]
    pairs = golden["pairs"]
    assert len(pairs) > 30000 and 0 < sum(m for _, _, m in pairs) < len(pairs)
    changed = [
        (texts[a], texts[b])
        for a, b, want in pairs
        if author_matches(parse_name(texts[a]), parse_name(texts[b])) != bool(want)
    ]
    assert not changed, f"{len(changed)} matches changed, e.g. {changed[:10]}"


def test_a_reparsed_name_finds_its_dict_entry() -> None:
    # The radar index keys chips' names in a dict: hashing must agree with equality.
    golden = _golden()
    texts = [t for t, p in zip(golden["texts"], golden["parsed"], strict=True) if p is not None]
    keyed = {parse_name.__wrapped__(t): t for t in texts}
    assert len(keyed) == len({parse_name(t).text for t in texts})
    for text in texts:
        again = parse_name.__wrapped__(text)
        assert again in keyed and hash(again) == hash(parse_name(text))
        assert [hash(r) for r in again.readings] == [hash(r) for r in parse_name(text).readings]


# --- recording ----------------------------------------------------------------------------


def _unusual(text: str) -> bool:
    """Off the plain "Given Surname" path that the parser's fast paths take."""
    words = text.split()
    special = PARTICLES | SUFFIXES
    return (
        not text.isascii()
        or any(c in text for c in ",-.'")
        or len(words) != 2
        or text.isupper()
        or text.islower()
        or any(w.lower().strip(".,") in special or len(w) == 1 or not w.isalpha() for w in words)
    )


def record() -> None:
    """Re-record the fixture with the current code (see the module docstring)."""
    rng = random.Random(13)
    with gzip.open(SLICE, "rt", encoding="utf-8") as f:
        bylines = sorted({a for line in f for a in json.loads(line)["authors"]})
    odd = [t for t in bylines if _unusual(t)]
    names = sorted(odd + rng.sample([t for t in bylines if not _unusual(t)], 600))
    chips: set[str] = set()  # what people type for a byline's person
    for text in rng.sample(names, 1200):
        name = _parsed(text)
        if name is None:
            continue
        chips.add(name.surname)
        if name.given:
            chips.add(f"{name.surname}, {' '.join(name.given)}")
            chips.add(" ".join([name.given[0][0] + ".", *name.given[1:], name.surname]))
    # Odd form input: separators, underscores, digits, odd spaces, combining marks.
    alphabet = "aäbcdeéøßÖłıY TJrIvV.,-_\u2010\u2013\u00a0\u2003\t\u0308\u00b2'0"
    odd_input = {
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16))) for _ in range(800)
    }
    texts = sorted(set(names) | chips | odd_input)
    where = {t: i for i, t in enumerate(texts)}
    by_key: dict[str, list[str]] = collections.defaultdict(list)
    for text in texts:
        name = _parsed(text)
        for key in sorted(name.keys if name else ()):
            by_key[key].append(text)
    pairs: set[tuple[int, int]] = set()  # texts sharing a surname key, at most 8 a key
    for key in sorted(by_key):
        group = by_key[key] if len(by_key[key]) <= 8 else rng.sample(by_key[key], 8)
        pairs.update((where[a], where[b]) for a in group for b in group)
    golden = {
        "texts": texts,
        "parsed": [_plain(t) for t in texts],
        "pairs": [
            [a, b, int(author_matches(parse_name(texts[a]), parse_name(texts[b])))]
            for a, b in sorted(pairs)
        ],
    }
    raw = json.dumps(golden, ensure_ascii=False, separators=(",", ":")).encode()
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_bytes(gzip.compress(raw, 9, mtime=0))
    print(f"{GOLDEN}: {len(texts)} texts, {len(pairs)} pairs", file=sys.stderr)


if __name__ == "__main__":
    record()
