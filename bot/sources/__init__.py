"""Paper sources: where new papers come from.

``arxiv`` harvests and backfills from the arXiv API through the ``arxiv``
package; ``throttle`` keeps every request to one upstream host polite and
serialised across the whole process; ``replay`` is a small local HTTP server
that serves recorded real responses, so tests and the offline demo drive the
very same source code without touching the internet.
"""
