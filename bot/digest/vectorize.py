"""Represent harvested papers once, for every channel, and store the vectors.

Ranking a channel's radar only takes dot products with stored vectors, so
paper text is read here and nowhere else: right after a harvest stores its
papers (``Harvester(vectorizer=...)``), and by :func:`vectorize_missing` for
whatever a pass could not do (the embeddings server was down, the model was
changed in the configuration, the bot was upgraded onto an older store).

A paper is represented again only when its stored vectors are stale: another
vector space (``tfidf_id``/``model_id``, i.e. the IDF table or the embedding
model changed) or another text (a new arXiv version with a new abstract; see
:func:`text_hash`). So a second harvest of the same papers computes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime

from bot.core.paper import Paper
from bot.relevance.represent import Representer
from bot.relevance.tfidf import paper_text
from bot.store.relevance import RelevanceStore
from bot.store.repo import Store

log = logging.getLogger(__name__)

#: Papers represented and stored per batch: bounds memory (a batch of 512 is a
#: few MB of vectors) and makes progress survive a failure half-way.
BATCH = 512


def text_hash(paper: Paper) -> str:
    """Names the text a paper's vectors are made from (changes with its title or abstract)."""
    return hashlib.sha256(paper_text(paper.title, paper.abstract).encode()).hexdigest()[:32]


class Vectorizer:
    """Computes and stores the vectors of papers that lack current ones."""

    def __init__(
        self, relevance: RelevanceStore, representer: Representer, batch: int = BATCH
    ) -> None:
        self.relevance, self.representer, self.batch = relevance, representer, max(1, batch)

    def papers(self, papers: Sequence[Paper]) -> int:
        """Represent those of ``papers`` (as stored) whose vectors are missing or
        stale; returns how many were computed. Papers not stored are skipped.

        Raises what the embedder raises (``UpstreamError`` from an embeddings
        server); batches stored before the failure stay stored.
        """
        unique = list({p.key: p for p in papers}.values())
        if not unique:
            return 0
        hashes = {p.key: text_hash(p) for p in unique}
        todo = set(
            self.relevance.missing_vectors(
                list(hashes), self.representer.tfidf_id, self.representer.model_id, hashes
            )
        )
        wanted = [p for p in unique if p.key in todo]
        for start in range(0, len(wanted), self.batch):
            chunk = wanted[start : start + self.batch]
            self.relevance.save_vectors(
                self.representer.papers(chunk), {p.key: hashes[p.key] for p in chunk}
            )
        if wanted:
            log.info(
                "vectors computed=%d of=%d model=%s",
                len(wanted),
                len(unique),
                self.representer.model_id,
            )
        return len(wanted)

    def stored(self, store: Store, keys: Sequence[str]) -> int:
        """Represent the stored papers of ``keys`` (what a harvest just stored).

        Reads them back rather than using the records a source returned: a
        record merged into another work is stored under that work's key and
        text, and that is what channels will rank.
        """
        found = store.papers_by_key(list(dict.fromkeys(keys)))
        return self.papers(list({p.key: p for p in found.values()}.values()))


def vectorize_missing(
    store: Store,
    relevance: RelevanceStore,
    representer: Representer,
    since: datetime,
    batch: int = BATCH,
) -> int:
    """Represent every paper published since ``since`` that lacks current vectors
    (for ``paper-radar``'s maintenance command and after a model change);
    returns how many were computed."""
    return Vectorizer(relevance, representer, batch).papers(store.papers_since(since))
