"""Represent harvested papers once, for every channel, and store the vectors.

Ranking a channel's radar only takes dot products with stored vectors, so
paper text is read here and nowhere else: right after a harvest stores its
papers (``Harvester(vectorizer=...)``); in the background right after a
command stores some (a new chip's backfill, a paper liked by id:
``Harvester.keep`` -> :meth:`Vectorizer.later`), so the person waiting for the
reply does not wait for the embedder too; and by :func:`vectorize_missing` for
whatever a pass could not do (the embeddings server was down, the model was
changed in the configuration, the bot was upgraded onto an older store).
Ranking itself computes what is still missing when it needs it, as the last
safety net (``bot.service.relevance.Ranker.vectors``).

A paper is represented again only when its stored vectors are stale: another
vector space (``tfidf_id``/``model_id``, i.e. the IDF table or the embedding
model changed) or another text (a new arXiv version with a new abstract; see
:func:`text_hash`). So a second harvest of the same papers computes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from datetime import datetime

from bot.core.paper import Paper
from bot.errors import RadarError
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
    """Computes and stores the vectors of papers that lack current ones.

    Now (``papers``, ``stored``) or on its own background thread (``later``);
    one thread, made on first use, so background work never competes with
    itself for the embedder or the two CPUs.
    """

    def __init__(
        self, relevance: RelevanceStore, representer: Representer, batch: int = BATCH
    ) -> None:
        self.relevance, self.representer, self.batch = relevance, representer, max(1, batch)
        self._lock = threading.Lock()
        self._worker: ThreadPoolExecutor | None = None
        self._pending: set[Future[int]] = set()
        self._closed = False

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

    def later(self, store: Store, keys: Sequence[str]) -> Future[int] | None:
        """``stored(store, keys)`` on the background thread; returns at once.

        For papers a command just stored: the reply should not wait for the
        embedder (a second for WordLlama's first load, up to the timeouts of an
        embeddings server that is down). Never raises and never fails the
        command: a failure is logged, the papers stay stored without vectors,
        and ranking computes them when it needs them. None: nothing to do, or
        closed.
        """
        wanted = list(dict.fromkeys(k for k in keys if k))
        if not wanted:
            return None
        with self._lock:
            if self._closed:
                return None
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vectors")
            future = self._worker.submit(self._stored_quietly, store, wanted)
            self._pending.add(future)
        future.add_done_callback(self._finished)
        return future

    def _stored_quietly(self, store: Store, keys: list[str]) -> int:
        try:
            return self.stored(store, keys)
        except RadarError as err:  # an embeddings server down, the store busy
            log.warning("vectors skipped papers=%d (computed when ranked): %s", len(keys), err)
        except Exception:  # a background thread's failure is otherwise silent
            log.exception("vectors failed papers=%d (computed when ranked)", len(keys))
        return 0

    def _finished(self, future: Future[int]) -> None:
        with self._lock:
            self._pending.discard(future)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background work asked for so far is done (or ``timeout``
        seconds passed); True when it is all done."""
        with self._lock:
            pending = list(self._pending)
        return not wait_for(pending, timeout).not_done

    def close(self) -> None:
        """Stop the background thread: work not started yet is dropped (ranking and
        ``vectorize_missing`` catch up), a batch under way finishes first."""
        with self._lock:
            self._closed = True
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=True, cancel_futures=True)


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
