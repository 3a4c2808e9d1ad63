"""The console adapter: the same `/radar` lines as Slack, in a terminal.

Interactive on a terminal (a prompt, history via readline where available);
when standard input is a pipe or file it reads one command per line and
prints each reply, so sessions can be scripted and tested. It is also the
reference fake for the whole command flow: tests drive it with lines and read
what a person would read.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

from bot.core.cards import Reply
from bot.core.channel import ChannelRef
from bot.digest.deliver import Outgoing, deliver_run
from bot.handlers import render_text
from bot.service import RadarService

PLATFORM = "console"
PROMPT = "radar> "


def channel_ref(name: str, workspace: str = "local") -> ChannelRef:
    return ChannelRef(PLATFORM, workspace, name, name)


class ConsolePoster:
    """Delivery to a terminal: each message is rendered text, kept in order."""

    def __init__(self) -> None:
        self.printed: list[str] = []

    async def send(self, ref: ChannelRef, out: Outgoing) -> str:
        if out.card is not None:
            text = "\n".join(render_text.render_card(out.card))
        else:
            text = render_text.render(out.reply)
        self.printed.append(text)
        return f"console:{ref.channel}:{len(self.printed)}"

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        return None  # a terminal keeps no history to reconcile against


class ConsoleAdapter:
    def __init__(self, service: RadarService, ref: ChannelRef, out: TextIO | None = None) -> None:
        self.service, self.ref = service, ref
        self.out = out or sys.stdout

    def answer(self, line: str) -> tuple[Reply, str]:
        """Handle one line as Slack or Discord would, returning the reply and the
        text a person reads. A digest goes through the shared delivery path."""
        reply = self.service.handle(self.ref, line)
        run_id = reply.extra.get("run_id")
        if run_id is None:
            return reply, render_text.render(reply)
        poster = ConsolePoster()
        asyncio.run(
            deliver_run(
                self.service.store,
                poster,
                self.service.clock,
                self.ref,
                int(reply.extra["channel_id"]),
                int(run_id),
                reply,
            )
        )
        return reply, "\n\n".join(poster.printed)

    def say(self, line: str) -> str:
        """Handle one line and return what a person reads."""
        return self.answer(line)[1]

    def run(self, lines: Iterable[str], echo: bool = False) -> int:
        """Answer each non-blank line; returns how many replies were errors."""
        errors = 0
        first = True
        for raw in lines:
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.strip() in ("quit", "exit"):
                break
            reply, text = self.answer(line)
            errors += reply.kind == "error"
            if not first:
                self.out.write("\n")
            first = False
            if echo:
                self.out.write(f"{PROMPT}{line.strip()}\n")
            self.out.write(text + "\n")
            self.out.flush()
        return errors

    def repl(self, stdin: TextIO | None = None) -> None:
        stdin = stdin or sys.stdin
        if not stdin.isatty():
            self.run(stdin)
            return
        with contextlib.suppress(ImportError):  # line editing and history when present
            import readline  # noqa: F401
        self.out.write(
            f"Paper Radar console, channel #{self.ref.channel}. Type /radar help, or quit.\n"
        )
        while True:
            try:
                line = input(PROMPT)
            except (EOFError, KeyboardInterrupt):
                self.out.write("\n")
                return
            if line.strip() in ("quit", "exit"):
                return
            if line.strip():
                self.out.write(self.say(line) + "\n\n")
