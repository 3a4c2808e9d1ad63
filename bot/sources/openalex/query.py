"""What we ask OpenAlex, built so user text cannot change the question.

Ids, dates and types are validated; free text is reduced to letters, digits
and spaces with the boolean operators disarmed (``search_text``), so a name
cannot add a filter (``,``), an alternative (``|``), a field (``:``) or a
negation (``!``). Every function here is pure: it returns the path and
parameters of a request, and the client (``client.py``) sends them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from urllib.parse import quote

from bot.core.dedupe import ARXIV_DOI_PREFIX, arxiv_id_from_doi, normalize_doi
from bot.core.names import parse_name

#: Root-level fields the conversion reads; ``select`` keeps responses small.
WORK_FIELDS = (
    "id",
    "doi",
    "title",
    "display_name",
    "publication_date",
    "publication_year",
    "created_date",
    "updated_date",
    "type",
    "ids",
    "primary_location",
    "best_oa_location",
    "locations",
    "authorships",
    "primary_topic",
    "topics",
    "biblio",
    "abstract_inverted_index",
    "is_paratext",
    "is_retracted",
)
AUTHOR_FIELDS = (
    "id",
    "display_name",
    "display_name_alternatives",
    "orcid",
    "works_count",
    "cited_by_count",
    "last_known_institutions",
    "affiliations",
    "topics",
    "counts_by_year",
)
#: OpenAlex work types (``type`` filter values) a caller may ask for.
WORK_TYPES = frozenset(
    {
        "article", "book", "book-chapter", "dataset", "dissertation", "editorial",
        "erratum", "grant", "letter", "libguides", "other", "paratext", "peer-review",
        "preprint", "reference-entry", "report", "retraction", "review", "standard",
        "supplementary-materials",
    }
)  # fmt: skip

#: Values OpenAlex takes OR'd in one filter (``authorships.author.id:A1|A2|…``);
#: its guide says 50 (newer pages say 100): the lower one is safe on both.
MAX_OR_VALUES = 50

#: An OpenAlex id of each entity kind we use (author, work, source), bare or as a URL.
ENTITY_ID = {
    letter: re.compile(
        rf"^(?:https?://(?:www\.)?openalex\.org/)?(?:openalex:)?({letter}\d+)$", re.I
    )
    for letter in "AWS"
}

_OPERATORS = frozenset({"AND", "OR", "NOT"})
_KEEP = frozenset("'.")


def search_text(text: str) -> str:
    """``text`` reduced to words OpenAlex search and ``*.search`` filters take literally.

    Keeps letters and digits of any script (with their combining marks),
    apostrophes and full stops; everything else, including the filter syntax
    ``,`` ``|`` ``:`` ``!`` ``+`` ``"`` ``(`` ``)`` ``*`` and ``-``, becomes a
    space. The boolean operators OpenAlex honours in upper case (``AND``,
    ``OR``, ``NOT``) are lower-cased into plain words. Raises ``ValueError``
    when nothing searchable is left.
    """
    text = unicodedata.normalize("NFC", text)
    kept = [ch if unicodedata.category(ch)[0] in "LNM" or ch in _KEEP else " " for ch in text]
    words = []
    for word in "".join(kept).split():
        word = word.strip(".'")
        if not word:
            continue
        words.append(word.lower() if word in _OPERATORS else word)
    if not words:
        raise ValueError(f"nothing searchable is left in {text!r}")
    return " ".join(words)


def entity_id(value: str, letter: str) -> str:
    """``A5017898742`` from ``A5017898742``, ``https://openalex.org/A…`` or ``openalex:A…``."""
    match = ENTITY_ID[letter].fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an OpenAlex {letter} id: {value!r}")
    return match[1].upper()


def filter_param(pairs: Iterable[tuple[str, Sequence[str]]]) -> str:
    """``attr:v1|v2,attr2:v3`` from validated values (callers validate; this asserts)."""
    parts = []
    for attribute, values in pairs:
        for value in values:
            if not value or any(ch in value for ch in ",|!:"):
                raise ValueError(f"unsafe filter value for {attribute}: {value!r}")
        if values:
            parts.append(f"{attribute}:{'|'.join(values)}")
    return ",".join(parts)


def author_search(name: str, results: int) -> dict[str, str]:
    """The ``/authors`` parameters for a typed name.

    The query is the name as ``Given Surname`` (``Tang, Yehui`` -> ``Yehui
    Tang``); when the given names are only initials (``J. Mearman``) only the
    surname is searched, because OpenAlex matches whole words and the
    initials are better checked locally (``bot.core.identity.plausible_people``).
    """
    parsed = parse_name(name)
    initials_only = not parsed.given or all(len(g.strip(".")) <= 1 for g in parsed.given)
    query = parsed.surname if initials_only else f"{' '.join(parsed.given)} {parsed.surname}"
    return {
        "search": search_text(query),
        "per_page": str(max(1, min(results, 200))),
        "select": ",".join(AUTHOR_FIELDS),
    }


def works_listing(
    since: date,
    *,
    until: date | None = None,
    author_ids: Sequence[str] = (),
    source_ids: Sequence[str] = (),
    types: Sequence[str] = (),
    text: str | None = None,
) -> dict[str, str]:
    """The ``/works`` parameters (before paging) for works published in
    ``[since, until]`` matching every given filter, newest first.

    Paratext (tables of contents, covers) is left out here; retracted works
    are left out by the client, which sees the flag.
    """
    if isinstance(since, datetime) or (until is not None and isinstance(until, datetime)):
        raise TypeError("works_since takes dates, not datetimes")
    if until is not None and until < since:
        raise ValueError("until is before since")
    bad_types = sorted(set(types) - WORK_TYPES)
    if bad_types:
        raise ValueError(f"unknown OpenAlex work types: {', '.join(bad_types)}")
    pairs: list[tuple[str, Sequence[str]]] = [
        ("from_publication_date", [since.isoformat()]),
    ]
    if until is not None:
        pairs.append(("to_publication_date", [until.isoformat()]))
    if author_ids:
        pairs.append(("authorships.author.id", [entity_id(a, "A") for a in author_ids]))
    if source_ids:
        pairs.append(("primary_location.source.id", [entity_id(s, "S") for s in source_ids]))
    if types:
        pairs.append(("type", sorted(set(types))))
    if text is not None:
        pairs.append(("title_and_abstract.search", [search_text(text)]))
    pairs.append(("is_paratext", ["false"]))
    return {
        "filter": filter_param(pairs),
        "sort": "publication_date:desc",
        "select": ",".join(WORK_FIELDS),
    }


def harvest_batches(
    author_ids: Sequence[str], source_ids: Sequence[str]
) -> Iterable[dict[str, list[str]]]:
    """The daily harvest's listings: distinct authors, then sources, OR'd
    ``MAX_OR_VALUES`` at a time (``author_ids=`` / ``source_ids=`` keywords of
    one listing each)."""
    for field_name, ids in (
        ("author_ids", sorted({entity_id(a, "A") for a in author_ids})),
        ("source_ids", sorted({entity_id(s, "S") for s in source_ids})),
    ):
        for i in range(0, len(ids), MAX_OR_VALUES):
            yield {field_name: ids[i : i + MAX_OR_VALUES]}


def work_path(id_or_doi: str) -> str:
    """The path of one work by OpenAlex id (``W…``), DOI (any common form) or
    ``arxiv:<id>``; ``ValueError`` when the text is none of these."""
    text = id_or_doi.strip()
    if text.lower().startswith("arxiv:"):
        arxiv_id = text[len("arxiv:") :]
        doi = normalize_doi(f"{ARXIV_DOI_PREFIX}{arxiv_id}")
        if doi is None or arxiv_id_from_doi(doi) is None:
            raise ValueError(f"not an arXiv identifier: {arxiv_id!r}")
        return f"/works/doi:{quote(doi, safe='/.()-_;')}"
    if (doi := normalize_doi(text)) is not None:
        return f"/works/doi:{quote(doi, safe='/.()-_;')}"
    return f"/works/{entity_id(text, 'W')}"
