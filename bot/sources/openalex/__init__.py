"""OpenAlex: journals, conferences and preprint servers beyond arXiv, and author identities.

- ``query``: what we ask (validated ids, disarmed free text, filter syntax);
- ``records``: OpenAlex's work and author JSON to ``Paper`` and ``AuthorCandidate``;
- ``client``: ``OpenAlexSource``, which sends the questions politely (through
  ``bot.sources.http``) and converts the answers.
"""

from bot.sources.openalex.client import OpenAlexSource
from bot.sources.openalex.query import search_text
from bot.sources.openalex.records import (
    abstract_from_inverted_index,
    candidate_from_author,
    clean_markup,
    paper_from_work,
)

__all__ = [
    "OpenAlexSource",
    "abstract_from_inverted_index",
    "candidate_from_author",
    "clean_markup",
    "paper_from_work",
    "search_text",
]
