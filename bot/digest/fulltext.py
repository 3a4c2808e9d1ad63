"""A paper's full text, fetched once, politely, and kept in the database.

Thread answers are much better grounded in the paper than in its abstract, so
a question first looks for the full text: arXiv's HTML rendering (LaTeXML,
clean sections and real headings) and, when a paper has none, its PDF read
with ``pypdf``. Both URLs are configurable (``[fulltext]``), so tests and
mirrors point elsewhere.

Cost and manners:

* every request goes through the process-wide throttle for its host (the
  one ``bot.sources.throttle`` gives the arXiv API), so questions from any
  number of channels never hammer arxiv.org;
* a fetched text is stored (``full_texts``) and reused by every channel and
  every later question; a paper with no HTML and no PDF is remembered as
  missing for ``retry_days``; transient failures (timeouts, 5xx) are not
  stored, so the next question tries again;
* bodies are read up to ``max_megabytes``, PDFs up to ``max_pages``.

Text format: plain paragraphs separated by blank lines; a section heading is
its own line starting with ``## `` (HTML only; a PDF has no reliable
headings). ``bot.digest.qa`` chunks it into passages.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import requests

from bot.clock import Clock
from bot.core.paper import Paper
from bot.settings import FullTextSettings
from bot.sources.throttle import Throttle, throttle_for
from bot.store.repo import Store

log = logging.getLogger(__name__)

USER_AGENT = "paper-radar/0.1 (full text for thread questions; one request at a time)"
#: Texts shorter than this are not a paper (an error page, a stub): try the next source.
MIN_CHARS = 1500
MAX_CHARS = 400_000


@dataclass(frozen=True)
class FullText:
    source: str  # "html" | "pdf"
    url: str
    text: str


@dataclass(frozen=True)
class Outcome:
    """What a question gets: the text, or None and a short note saying why not."""

    text: FullText | None
    note: str | None = None


class _Transient(Exception):
    """A failure worth trying again later (timeout, connection, 429, 5xx)."""


class FullTextFetcher:
    def __init__(
        self,
        store: Store,
        settings: FullTextSettings,
        clock: Clock,
        *,
        throttle_of: Callable[[str], Throttle] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._throttle_of = throttle_of or (lambda host: throttle_for(host, settings.delay_seconds))
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.fetches = 0  # HTTP requests made, for tests and the benchmark

    def close(self) -> None:
        self._session.close()

    def get(self, paper: Paper) -> Outcome:
        """The paper's full text: stored, else fetched (and stored). Never raises for
        network trouble; the outcome's note says why there is no text."""
        # Any paper keyed by arXiv (also one OpenAlex reported) has arXiv's texts.
        if not self.settings.enabled or not paper.key.startswith("arxiv:"):
            return Outcome(None)
        with self._one_fetch(paper.key):
            stored = self.store.full_text(paper.key)
            now = self.clock.now()
            if stored is not None:
                if stored.status == "ok":
                    return Outcome(FullText(stored.source, stored.url, stored.text))
                if now - stored.fetched_at < timedelta(days=self.settings.retry_days):
                    return Outcome(None, "arXiv has none for this paper")
            try:
                found = self._fetch(paper)
            except _Transient as err:
                log.warning("full text of %s not fetched: %s", paper.key, err)
                return Outcome(None, "it could not be fetched just now")
            if found is None:
                self.store.save_full_text(paper.key, "missing", "", "", "", now)
                return Outcome(None, "arXiv has none for this paper")
            self.store.save_full_text(paper.key, "ok", found.source, found.url, found.text, now)
            return Outcome(found)

    @contextmanager
    def _one_fetch(self, key: str) -> Iterator[None]:
        """Two questions about one paper at once fetch it once."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield

    def _fetch(self, paper: Paper) -> FullText | None:
        arxiv_id = paper.source_id
        transient: _Transient | None = None
        for source, template in (("html", self.settings.html_url), ("pdf", self.settings.pdf_url)):
            if not template:
                continue
            url = template.replace("{id}", arxiv_id)
            try:
                body, content_type = self._download(url)
            except _Transient as err:
                transient = err
                continue
            if body is None:
                continue
            if body.startswith(b"%PDF"):
                text = pdf_text(body, self.settings.max_pages)
                source = "pdf"
            elif "html" in content_type or body.lstrip()[:1] == b"<":
                text = html_text(body.decode("utf-8", "replace"))
                source = "html"
            else:
                continue
            if len(text) >= MIN_CHARS:
                return FullText(source, url, text[:MAX_CHARS])
        if transient is not None:
            raise transient
        return None

    def _download(self, url: str) -> tuple[bytes | None, str]:
        """The body at ``url`` (None for a definite "not here": 404, 410, 4xx)."""
        host = urlsplit(url).netloc
        limit = int(self.settings.max_megabytes * 1_000_000)
        with self._throttle_of(host).slot():
            self.fetches += 1
            try:
                with self._session.get(
                    url, timeout=self.settings.timeout_seconds, stream=True
                ) as resp:
                    status = resp.status_code
                    if status == 429 or status >= 500:
                        raise _Transient(f"HTTP {status} from {host}")
                    if status != 200:
                        return None, ""
                    chunks, size = [], 0
                    for chunk in resp.iter_content(65536):
                        size += len(chunk)
                        if size > limit:
                            log.warning("full text at %s is over %d bytes; skipped", url, limit)
                            return None, ""
                        chunks.append(chunk)
                    return b"".join(chunks), resp.headers.get("Content-Type", "").lower()
            except requests.Timeout:
                raise _Transient(f"timed out ({host})") from None
            except requests.RequestException as err:
                raise _Transient(f"{type(err).__name__} ({host})") from None


# -- HTML (arXiv's LaTeXML rendering) -----------------------------------------------

_VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()  # noqa: SIM905
)
_SKIP_TAGS = frozenset(
    "script style nav header footer noscript svg button form head template".split()  # noqa: SIM905
)
_SKIP_CLASSES = frozenset(
    {
        "ltx_bibliography",
        "ltx_page_header",
        "ltx_page_footer",
        "ltx_authors",
        "ltx_dates",
        "ltx_TOC",
        "ltx_role_affiliation",
        "package-alerts",
        "ltx_pagination",
    }
)
_BLOCKS = frozenset(
    "p div section article li ul ol table tr figcaption figure blockquote dd dt".split()  # noqa: SIM905
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


class _HtmlText(HTMLParser):
    """Paragraph text and headings from a paper's HTML; math as its LaTeX source."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._buf: list[str] = []
        self._skip = 0  # depth inside a skipped element
        self._math = 0  # depth inside <math>, whose alttext was already emitted
        self._heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if tag == "br" and not self._skip:
                self._buf.append(" ")
            return
        if self._skip:
            self._skip += 1
            return
        if self._math:
            self._math += 1
            return
        attr = dict(attrs)
        classes = set((attr.get("class") or "").split())
        if tag in _SKIP_TAGS or classes & _SKIP_CLASSES:
            self._skip = 1
            return
        if tag == "math":
            alt = attr.get("alttext") or ""
            self._buf.append(f" {alt} ")
            self._math = 1
            return
        if tag in _HEADINGS:
            self._flush()
            self._heading = True
        elif tag in _BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if self._skip:
            self._skip -= 1
            return
        if self._math:
            self._math -= 1
            return
        if tag in _HEADINGS or tag in _BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip and not self._math:
            self._buf.append(data)

    def _flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        self._buf = []
        if self._heading:
            self._heading = False
            if text:
                self.blocks.append("## " + text)
            return
        if len(text) > 1:
            self.blocks.append(text)

    def close(self) -> None:
        super().close()
        self._flush()


def html_text(html: str) -> str:
    """The readable text of an HTML paper: paragraphs and ``## `` headings."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return "\n\n".join(parser.blocks)


# -- PDF ------------------------------------------------------------------------

_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")
_REFERENCES = re.compile(r"\n\s*(References|REFERENCES|Bibliography)\s*\n")


def pdf_text(data: bytes, max_pages: int = 60) -> str:
    """The text of a PDF (``pypdf``), hyphenation joined, references cut off.

    A PDF pypdf cannot read yields an empty string: the paper is then treated
    as having no full text, not as an error.
    """
    from pypdf import PdfReader  # imported here: only questions need it

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages[:max_pages]]
    except Exception as err:  # pypdf raises many types on broken files
        log.warning("pdf unreadable: %s", type(err).__name__)
        return ""
    text = "\n".join(pages)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    cut = [m.start() for m in _REFERENCES.finditer(text)]
    if cut and cut[-1] > len(text) // 2:
        text = text[: cut[-1]]
    paragraphs = re.split(r"\n\s*\n", text)
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())
