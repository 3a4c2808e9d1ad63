"""The sandboxed half of PDF reading: the child process that runs ``pypdf``.

A PDF is untrusted input that ``pypdf`` reads in pure Python, so a 35 KB file
whose compressed content stream expands to millions of operators keeps it busy
for minutes and grows it by hundreds of megabytes. That must not happen inside
the bot, whose threads answer every channel. ``bot.digest.fulltext.pdf_text``
therefore runs this file in a fresh interpreter::

    python -I bot/digest/pdftext.py MAX_PAGES MAX_CHARS CPU_SECONDS MEMORY_BYTES

with the PDF's bytes on stdin; the text comes back on stdout as UTF-8. Before
it reads a byte of input the child limits itself: ``RLIMIT_CPU`` (the kernel
sends SIGXCPU, then SIGKILL a second later), ``RLIMIT_AS`` (an allocation
past it is a ``MemoryError``, reported as exit status ``EXIT_MEMORY``) and no
core files. The parent adds a wall-clock deadline and kills the child when it
passes. Exit status 0 with empty output means pypdf could not read the file.

This file is run by path with ``-I`` (isolated: no PYTHON* variables, no
script directory or user site on ``sys.path``), so it imports nothing of the
bot and works however the bot was installed; only the standard library and
``pypdf``. The parent also gives it an empty environment: a parser of hostile
files has no business seeing the bot's tokens.
"""

from __future__ import annotations

import io
import logging
import re
import sys

#: Exit status of a child that ran out of its address space.
EXIT_MEMORY = 3
#: Exit status of a child started with unusable arguments (a bug, not the PDF).
EXIT_USAGE = 2

_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")
_REFERENCES = re.compile(r"\n\s*(References|REFERENCES|Bibliography)\s*\n")


def extract(data: bytes, max_pages: int) -> str:
    """The text of a PDF (``pypdf``), hyphenation joined, references cut off.

    A PDF pypdf cannot read yields an empty string: the paper is then treated
    as having no full text, not as an error. ``MemoryError`` is not caught: in
    the sandbox it means the file is too costly, which is a different answer.
    """
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages[:max_pages]]
    except MemoryError:
        raise
    except Exception:  # pypdf raises many types on broken files
        return ""
    text = "\n".join(pages)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    cut = [m.start() for m in _REFERENCES.finditer(text)]
    if cut and cut[-1] > len(text) // 2:
        text = text[: cut[-1]]
    paragraphs = re.split(r"\n\s*\n", text)
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def _limit_self(cpu_seconds: int, memory_bytes: int) -> None:
    import resource

    # Soft limit: SIGXCPU (fatal, as nothing handles it); hard limit one second
    # later: SIGKILL, in case something ever does.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU would dump core


def main(argv: list[str]) -> int:
    try:
        max_pages, max_chars, cpu_seconds, memory_bytes = (int(a) for a in argv)
    except ValueError:
        return EXIT_USAGE
    _limit_self(cpu_seconds, memory_bytes)
    # pypdf warns per broken object; nobody reads the child's stderr.
    logging.disable(logging.CRITICAL)
    try:
        data = sys.stdin.buffer.read()
        text = extract(data, max_pages)[:max_chars]
        sys.stdout.buffer.write(text.encode("utf-8", "replace"))
        sys.stdout.buffer.flush()
    except MemoryError:
        return EXIT_MEMORY
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
