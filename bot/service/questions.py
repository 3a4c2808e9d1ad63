"""Questions about one paper: in the thread under its card, or `/radar ask`.

Every card the bot posts is recorded with its message id (its thread), so a
message in that thread is a question about that paper. The answer itself
(abstract and full text, through the model or extractively) is
``bot.digest.qa``'s; this module finds the paper, keeps the conversation's
turns for follow-ups, and counts the question against the daily caps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.core.actor import Actor
from bot.core.cards import Reply, ReplyKind
from bot.core.channel import ChannelRef, ChannelState
from bot.core.outgoing import Outbound, outbound
from bot.core.paper import Paper
from bot.digest import qa
from bot.digest.fulltext import Outcome
from bot.errors import NotFoundError, RadarError
from bot.service.base import ServiceBase, error_reply, workspace
from bot.store.records import Turn

#: Posted in a card's thread when someone presses its Ask button.
ASK_PROMPT = (
    "Ask your question about this paper here: reply in this thread "
    "(no need to mention me). I answer from its abstract and the thread so far."
)


class Questions(ServiceBase):
    def is_card(self, ref: ChannelRef, message_ref: str) -> bool:
        """Whether ``message_ref`` is one of this channel's card messages (or a
        thread recorded for one), so a question in its thread is about a paper."""
        state = self.store.find_channel(ref)
        return state is not None and self.store.paper_for_message(state.id, message_ref) is not None

    def remember_thread(self, ref: ChannelRef, key: str, number: int, thread_ref: str) -> None:
        """A thread opened for card ``number`` (paper ``key``) elsewhere than on
        the card's own message (one message held several cards): questions in
        it are about that paper."""
        state = self.store.find_channel(ref) or self._created(self._unsaved(ref))
        self.store.record_card(state.id, key, number, thread_ref, self.clock.now())

    def ask_prompt(self, ref: ChannelRef, message_ref: str) -> Outbound:
        """The Ask button on a card: an invitation in the card's thread; a short
        private note when the message is not one of this channel's cards."""
        if not self.is_card(ref, message_ref):
            return outbound(ref, error_reply("That card is not one I can answer about."))
        return outbound(ref, Reply(ASK_PROMPT, kind=ReplyKind.INFO), thread=message_ref)

    def ask(
        self,
        ref: ChannelRef,
        message_ref: str,
        question: str,
        history: Sequence[str] = (),
        user: Actor | str | None = None,
    ) -> Reply | None:
        """Answer a question asked in the thread under a card.

        ``message_ref`` is the card's message id on its platform; None comes back
        when that message is not one of this channel's cards (the thread is not
        about a paper the bot posted), so the adapter stays silent.

        The answer comes from the paper (abstract, plus the full text when it
        can be fetched) through the model when one is configured, else
        extractively (bot.digest.qa). The thread's turns are stored, so a
        follow-up has its context; ``history`` (the thread's earlier messages
        as the platform shows them) is used only when none are stored yet.
        ``user`` (who asked: an ``Actor`` or the platform's user id) counts the
        question against their daily cap; a used-up cap, like any error a
        person can meet, comes back as an error reply.
        """
        state = self.store.find_channel(ref)
        if state is None:
            return None
        paper = self.store.paper_for_message(state.id, message_ref)
        if paper is None:
            return None
        who = user.user_id if isinstance(user, Actor) else user
        try:
            return self._answer(state, paper, message_ref, question, history, user=who)
        except RadarError as err:
            return error_reply(str(err))

    def answer_in_thread(
        self,
        ref: ChannelRef,
        message_ref: str,
        question: str,
        history: Sequence[str] = (),
        user: Actor | str | None = None,
    ) -> Outbound | None:
        """``ask``, as what to post: the answer in the card's thread (an error
        privately); None when the thread is not about a card."""
        reply = self.ask(ref, message_ref, question, history, user)
        if reply is None:
            return None
        return outbound(ref, reply, thread=None if reply.ephemeral else message_ref)

    def ask_about(
        self,
        state: ChannelState,
        question: str,
        card: int | None,
        arxiv_id: str | None,
        who: str | None = None,
        user: str | None = None,
    ) -> Outbound:
        """``/radar ask <card | arXiv id> <question>``: a thread question, asked anywhere.

        A card number is the newest card posted in this channel with that
        number; an arXiv id is that paper (fetched by its id when it is not
        stored, ``arxiv_paper``). The answer is the thread's
        answer (``_answer``, the same turns): when the paper has a card here,
        it goes in that card's thread; a paper never posted here keeps its own
        conversation under ``ask:<key>``, answered in the channel.
        """
        paper, posted = self.named_paper(state, card, arxiv_id)
        thread = posted or f"ask:{paper.key}"
        if posted is None:
            state = self._created(state)  # the conversation is this channel's
        reply = self._answer(state, paper, thread, question, user=user)
        asked = " ".join(question.split())
        lines = (f"{who} asked: {asked}" if who else f"Question: {asked}", *reply.lines)
        reply = replace(reply, lines=lines)
        return outbound(
            state.ref,
            reply,
            channel_id=state.id,
            thread=posted if not reply.ephemeral else None,
        )

    def named_paper(
        self, state: ChannelState, card: int | None, arxiv_id: str | None
    ) -> tuple[Paper, str | None]:
        """The paper a typed card number or arXiv id names in this channel, and
        the message of its newest card here (None: a paper this channel was
        never shown). Raises ``NotFoundError`` saying what would help."""
        key = f"arxiv:{arxiv_id}" if arxiv_id is not None else None
        posted = self.store.posted_card(state.id, number=card, paper_key=key) if state.id else None
        if posted is not None:
            return posted[1], posted[0]
        if card is not None:
            raise NotFoundError(
                f"No card {card:02d} has been posted in this channel yet; cards come with "
                "`/radar digest`, `/radar shuffle` and new chips."
            )
        assert arxiv_id is not None
        return self.arxiv_paper(arxiv_id), None  # a paper never harvested: fetched by its id

    def _answer(
        self,
        state: ChannelState,
        paper: Paper,
        thread_ref: str,
        question: str,
        history: Sequence[str] = (),
        user: str | None = None,
    ) -> Reply:
        """The answer to ``question`` about ``paper`` in the conversation
        ``thread_ref`` of this channel, whose turns are kept for follow-ups;
        ``user`` asked it (their daily cap, ``_admit``)."""
        question = " ".join(question.split())[:2000]
        if not question:
            return Reply(
                f"About: {paper.title}",
                ("Ask a question about this paper in this thread.",),
                kind=ReplyKind.ANSWER,
            )
        self._admit(state, user)
        turns = self.store.thread_turns(state.id, thread_ref)
        if not turns:
            turns = [Turn("thread", h) for h in history[-6:] if h.strip()]
        outcome = self.fulltext.get(paper) if self.fulltext is not None else Outcome(None)
        now = self.clock.now()
        reply = qa.answer(
            paper,
            question,
            full=outcome.text,
            turns=turns,
            gateway=self.gateway,
            workspace=workspace(state.ref),
            now=now,
            fetch_note=outcome.note,
        )
        answered = qa.answer_text(reply)
        self.store.add_thread_turns(
            state.id, thread_ref, paper.key, [Turn("user", question), Turn("bot", answered)], now
        )
        return reply
