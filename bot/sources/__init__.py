"""Paper sources: where new papers come from.

``arxiv`` harvests and backfills from the arXiv API through the ``arxiv``
package; ``openalex`` (query building, record conversion, the client) adds
journals, preprint servers and author identities; ``http`` is the one polite
way both (and full-text fetching) talk to an upstream: a named session, one
request at a time per host across the process, which failures are retried,
``Retry-After``, and the retry policy with its deadline; ``replay`` is a small
local HTTP server that serves recorded real responses, so tests and the
offline demo drive the very same source code without touching the internet.
"""
