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
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

from bot.core.actor import LOCAL
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
        # The marker is unique in the channel, so the id is too: a question
        # about this card must never reach another card's conversation.
        return f"console:{out.marker}"[:128]

    async def find(self, ref: ChannelRef, marker: str, since: datetime) -> str | None:
        return None  # a terminal keeps no history to reconcile against


class ConsoleAdapter:
    def __init__(self, service: RadarService, ref: ChannelRef, out: TextIO | None = None) -> None:
        self.service, self.ref = service, ref
        self.out = out or sys.stdout

    def answer(self, line: str) -> tuple[Reply, str]:
        """Handle one line as Slack or Discord would, returning the reply and the
        text a person reads. A digest goes through the shared delivery path."""
        reply = self.service.handle(self.ref, line, LOCAL)
        run_id = reply.extra.get("run_id")
        if run_id is None:
            self._record_cards(reply)
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

    def _record_cards(self, reply: Reply) -> None:
        """Cards shown outside a digest (a chip's, a shuffle's, a filter's) are
        this channel's latest cards by those numbers, as a platform records
        its card messages; a digest's are recorded by its delivery."""
        if reply.ephemeral or not reply.cards:
            return
        store = self.service.store
        state = store.find_channel(self.ref) or store.channel(
            self.ref, self.service.config.radar.digest_cap
        )
        now = self.service.clock.now()
        for card in reply.cards:
            ref = f"console:{uuid.uuid4().hex}"
            store.record_card(state.id, card.key, card.number, ref, now)

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
