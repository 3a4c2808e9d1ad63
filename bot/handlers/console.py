"""The console adapter: the same `/radar` lines as Slack, in a terminal.

Interactive on a terminal (a prompt, history via readline where available);
when standard input is a pipe or file it reads one command per line and
prints each reply, so sessions can be scripted and tested (``--echo`` prints
each command before its reply; a script with a refused line exits 1). It is
also the reference fake for the whole command flow: tests drive it with lines
and read what a person would read.

The person at the terminal is ``bot.core.actor.LOCAL``: they may change the
radar under any ``[permissions]`` policy (it is their own), and changes are
announced as "You added …", as Slack and Discord name whoever made them. Cards
it shows are recorded like a platform's card messages, so `/radar ask 2 …`
asks about the card 02 the terminal showed last.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

from bot.core.actor import LOCAL, Actor
from bot.core.cards import Reply, ReplyKind
from bot.core.channel import ChannelRef
from bot.core.outgoing import Notice, Outgoing
from bot.dispatch import Dispatcher
from bot.handlers import render_text
from bot.service import RadarService

PLATFORM = "console"
PROMPT = "radar> "


def channel_ref(name: str, workspace: str = "local") -> ChannelRef:
    return ChannelRef(PLATFORM, workspace, name, name)


class ConsolePoster:
    """Delivery to a terminal: each message rendered as text, kept in order
    (``printed``); private replies and thread answers alike, since a terminal
    has one reader and no threads."""

    def __init__(self) -> None:
        self.printed: list[str] = []

    async def send(self, ref: ChannelRef, out: Outgoing, thread: str | None = None) -> str:
        if out.card is not None and thread is None:
            text = "\n".join(render_text.render_card(out.card))
        else:
            text = render_text.render(out.reply)
        self.printed.append(text)
        # The marker is unique in the channel, so the id is too: a question
        # about this card must never reach another card's conversation.
        return f"console:{out.marker}"[:128]

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        return None  # a terminal keeps no history to reconcile against

    async def send_private(self, ref: ChannelRef, reply: Reply) -> None:
        self.printed.append(render_text.render(reply))

    async def acknowledge(self, notice: Notice | None) -> None:
        return None  # what was posted says it all


class ConsoleAdapter:
    def __init__(self, service: RadarService, ref: ChannelRef, out: TextIO | None = None) -> None:
        self.service, self.ref = service, ref
        self.dispatch = Dispatcher(service)
        self.out = out or sys.stdout

    def answer(self, line: str) -> tuple[Reply, str]:
        """Handle one line as Slack or Discord would (the same front door, the
        same delivery), returning the core's reply and the text a person reads."""
        poster = ConsolePoster()

        async def local(full: bool) -> Actor:
            return LOCAL

        done = asyncio.run(self.dispatch.command(self.ref, line, poster, local))
        return done.outbound.reply, "\n\n".join(poster.printed)

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
            errors += reply.kind is ReplyKind.ERROR
            if not first:
                self.out.write("\n")
            first = False
            if echo:
                self.out.write(f"{PROMPT}{line.strip()}\n")
            self.out.write(text + "\n")
            self.out.flush()
        return errors

    def repl(self, stdin: TextIO | None = None, echo: bool = False) -> int:
        """A prompt on a terminal; otherwise each line of ``stdin`` in turn
        (echoed first when ``echo``). Returns how many lines read from a pipe
        or file were refused, so a script can fail on them; a person at a
        prompt sees each refusal as it comes, and it counts as none."""
        stdin = stdin or sys.stdin
        if not stdin.isatty():
            return self.run(stdin, echo=echo)
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
                return 0
            if line.strip() in ("quit", "exit"):
                return 0
            if line.strip():
                self.out.write(self.say(line) + "\n\n")
