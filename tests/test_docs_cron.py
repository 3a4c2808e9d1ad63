"""Cron examples in the docs must fire when they say they do.

A crontab entry's five time fields are read in the cron daemon's time zone
(or cronie's ``CRON_TZ``); ``TZ=...`` in front of the command only sets the
command's environment after it has fired. An example that sets ``TZ=`` there
and promises a local firing time is wrong on every server whose zone differs.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(?:cron|crontab)\n(.*?)^```", re.M | re.S)
_ENTRY = re.compile(r"^\s*(?:@\w+|(?:\S+\s+){5})(?P<command>.*)$")


def cron_blocks() -> list[tuple[Path, str]]:
    return [(doc, m[1]) for doc in DOCS for m in _BLOCK.finditer(doc.read_text("utf-8"))]


def test_the_docs_have_a_cron_example() -> None:
    assert any(doc.name == "operations.md" for doc, _ in cron_blocks())


def test_no_cron_entry_sets_its_zone_in_the_command() -> None:
    for doc, block in cron_blocks():
        for line in block.splitlines():
            if not line.strip() or line.lstrip().startswith("#") or "=" in line.split()[0]:
                continue  # comments and variable lines (CRON_TZ=..., MAILTO=...)
            entry = _ENTRY.match(line)
            assert entry is not None, f"{doc.name}: not a crontab entry: {line!r}"
            assert not re.search(r"(?:^|\s)TZ=", entry["command"]), (
                f"{doc.name}: TZ= in the command does not choose when cron fires: {line!r}"
            )


def test_a_zone_named_for_the_schedule_is_cron_tz() -> None:
    """Where an example promises a local firing time, the zone is set with CRON_TZ."""
    for doc, block in cron_blocks():
        if re.search(r"Berlin|Shanghai|New_York", block):
            assert re.search(r"^CRON_TZ=\S+/\S+$", block, re.M), doc.name
