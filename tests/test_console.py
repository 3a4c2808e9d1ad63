"""The console as a newcomer and a script meet it: `/radar ask`, `--echo`, exit
status, and `paper-radar demo --interactive`.

``/radar ask`` runs on the real app (tests/flowkit.py: SQLite file, the real
arXiv capture replayed locally, pinned clock); the command-line cases run
``bot.cli.main`` in-process with a piped standard input, and the interactive
demo once as a real process fed through a pipe, as a person would script it.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.core.actor import Actor
from bot.core.channel import ChannelRef
from bot.core.outgoing import Audience
from tests.flowkit import Radar, card_ids, flat, radar

ROOT = Path(__file__).resolve().parent.parent
CS_CL = ["2604.26951", "2604.26904", "2604.26880", "2604.26866", "2604.26841", "2604.26835"]
TITLES = {
    "2604.26951": "Turning the TIDE: Cross-Architecture Distillation for Diffusion Large",
    "2604.26904": "ClawGym: A Scalable Framework for Building Effective Claw Agents",
    "2604.26932": "Learning Over-Relaxation Policies for ADMM with Convergence Guarantees",
}
SLACK = ChannelRef("slack", "T1", "C1", "lab")
ALICE = Actor("U1ALICE", "Alice")


@pytest.fixture
def r(tmp_path: Path) -> Iterator[Radar]:
    with radar(tmp_path) as bot:
        bot.app.service.fulltext = None  # answers from the abstract: no arxiv.org
        yield bot


def about(out: str) -> str:
    """The paper an answer is about, from its first line."""
    first = out.splitlines()[0]
    assert first.startswith("About: "), out
    return first.removeprefix("About: ")


# -- /radar ask ---------------------------------------------------------------------------


def test_ask_a_card_number_means_the_card_this_channel_showed_last(r: Radar) -> None:
    shown = card_ids(r.say("/radar category cs.CL"))
    assert shown == CS_CL[:5]
    out = r.say("/radar ask 2 what do they build?")
    assert about(out).startswith(TITLES["2604.26904"])
    assert "You asked: what do they build?" in out
    assert "Extractive answer" in out

    digest = card_ids(r.say("/radar digest"))
    assert digest == ["2604.26835"]  # the one cs.CL paper the chip reply left out
    assert about(r.say("/radar ask 01. what is this?")).startswith("HalluCiteChecker")
    # Card 02 is still the chip reply's: no later message showed a card 02.
    assert about(r.say("/radar ask 2 and this?")).startswith(TITLES["2604.26904"])


def test_asking_again_about_a_card_continues_its_conversation(r: Radar) -> None:
    r.say("/radar category cs.CL")
    r.say("/radar ask 1 which teacher models were distilled?")
    r.say("/radar ask 1 and how large were they?")
    state = r.app.store.channel(r.ref)
    posted = r.app.store.posted_card(state.id, number=1)
    assert posted is not None
    turns = r.app.store.thread_turns(state.id, posted[0])
    assert [t.role for t in turns] == ["user", "bot", "user", "bot"]
    assert turns[2].text == "and how large were they?"


def test_each_digests_card_has_its_own_conversation(r: Radar) -> None:
    """Two digests' cards 01 are two messages: a question about today's card 01
    must not inherit what was asked about yesterday's."""
    r.say("/radar category cs.LG")
    r.say("/radar cap 1")
    state = r.app.store.channel(r.ref)
    threads = []
    for question in ("what is the first one about?", "what is the second one about?"):
        assert len(card_ids(r.say("/radar digest"))) == 1
        r.say(f"/radar ask 1 {question}")
        posted = r.app.store.posted_card(state.id, number=1)
        assert posted is not None
        threads.append(posted[0])
        turns = r.app.store.thread_turns(state.id, posted[0])
        assert [t.text for t in turns if t.role == "user"] == [question]
    assert threads[0] != threads[1]


def test_ask_by_arxiv_id_answers_about_any_stored_paper(r: Radar) -> None:
    r.say("/radar category cs.CL")  # the backfill stored the whole capture
    for ref in ("2604.26932", "arXiv:2604.26932v1", "https://arxiv.org/abs/2604.26932"):
        assert about(r.say(f"/radar ask {ref} what do they learn?")).startswith(
            TITLES["2604.26932"][:60]
        )


def test_ask_about_what_is_not_there_says_so_and_changes_nothing(r: Radar) -> None:
    before = r.snapshot()
    out = r.say("/radar ask 3 why?")
    assert out.startswith("! No card 03 has been posted in this channel yet")
    assert r.snapshot() == before  # not even a channel row
    r.say("/radar keyword distillation")  # two cards
    before = r.snapshot()
    assert r.say("/radar ask 3 why?").startswith("! No card 03 has been posted")
    out = r.say("/radar ask 2612.00001 why?")  # not stored: arXiv is asked, has none
    assert out.startswith("! arXiv has no paper 2612.00001; check the id.")
    assert r.snapshot() == before
    assert r.say("/radar ask 2").startswith("! What would you like to know about `2`?")


def test_on_a_platform_the_answer_belongs_in_the_cards_thread(r: Radar) -> None:
    """A `/radar ask` answer is posted in the thread of the card's message
    (``Audience.THREAD``), where the same conversation goes on."""
    service, store = r.app.service, r.app.store
    chip = service.handle(SLACK, "category cs.CL", ALICE)
    state = store.channel(SLACK)
    for card in chip.cards:  # what the Slack adapter records for the card messages it posted
        store.record_card(state.id, card.key, card.number, f"17000.{card.number}", r.clock.now())
    post = service.respond(SLACK, "ask 2 what do they build?", ALICE)
    reply = post.reply
    assert reply.kind == "answer" and not reply.ephemeral
    assert post.audience is Audience.THREAD and post.thread == "17000.2"
    assert reply.lines[0] == "Alice asked: what do they build?"
    follow_up = service.ask(SLACK, "17000.2", "and is it open source?")
    assert follow_up is not None and follow_up.title == reply.title
    assert [t.text for t in store.thread_turns(state.id, "17000.2")][::2] == [
        "what do they build?",
        "and is it open source?",
    ]
    # A paper this channel never got as a card has no thread to answer in.
    unposted = service.respond(SLACK, "ask 2604.26932 what is it?", ALICE)
    assert unposted.reply.kind == "answer"
    assert unposted.audience is Audience.CHANNEL and unposted.thread is None


# -- the console on the command line ------------------------------------------------------


def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdin: str, *argv: str
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out


def test_echo_prints_each_command_before_its_reply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = ("--db", f"sqlite:///{tmp_path / 'radar.db'}")
    script = "/radar keyword -survey\n\n# a comment\n/radar help shuffle\n"
    rc, out = run_cli(capsys, monkeypatch, script, *db, "console", "--channel", "lab", "--echo")
    assert rc == 0
    assert out.splitlines()[:2] == ["radar> /radar keyword -survey", "You added exclusion -survey."]
    lines = out.splitlines()
    at = lines.index("radar> /radar help shuffle")
    assert lines[at + 1].startswith("/radar shuffle")
    assert "# a comment" not in out

    rc, plain = run_cli(capsys, monkeypatch, "/radar\n", *db, "console", "--channel", "lab")
    assert rc == 0 and "radar>" not in plain and plain.startswith("This channel's radar")


def test_a_script_with_a_refused_line_exits_1_after_answering_every_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = ("--db", f"sqlite:///{tmp_path / 'radar.db'}")
    script = "/radar schedule 25:00\n/radar keyword -survey\n"
    rc, out = run_cli(capsys, monkeypatch, script, *db, "console", "--channel", "lab")
    assert rc == 1
    assert "! `25:00` is not a time of day" in out
    assert "You added exclusion -survey." in out  # the script went on
    rc, _ = run_cli(capsys, monkeypatch, "/radar\n", *db, "console", "--channel", "lab")
    assert rc == 0


# -- the interactive demo -------------------------------------------------------------


def test_demo_interactive_reads_a_pipe_after_the_script(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = "/radar ask 1 what is the main contribution?\n/radar shuffle 2\nquit\n/radar clear\n"
    rc, out = run_cli(capsys, monkeypatch, typed, "demo", "--interactive")
    assert rc == 0
    script, _, mine = out.partition("\nYour turn: #lab keeps this radar")
    assert "arXiv requests served locally" in script
    assert "radar> /radar author au:x OR cat:*" in script  # the script ran first, whole
    assert "`/radar ask 1 what is the main contribution?`" in mine  # suggested first
    answer = mine.split("radar> /radar ask 1 what is the main contribution?\n", 1)[1]
    # Card 01 is the one the script showed last: the filter's first card.
    assert answer.startswith("About: " + TITLES["2604.26951"])
    assert "You asked: what is the main contribution?" in answer
    assert "radar> /radar shuffle 2\nShuffle: 2 of" in mine
    assert "/radar clear" not in mine.split("`; `quit` ends.")[1]  # `quit` ended it

    rc, out = run_cli(capsys, monkeypatch, "/radar ask 42 why?\n", "demo", "-i")
    assert rc == 1 and "! No card 42 has been posted" in out


def test_demo_interactive_as_a_real_process_with_a_pipe(tmp_path: Path) -> None:
    """What README shows: the whole demo, offline, even with a model key in the
    environment (answers and briefings stay extractive and say so)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PAPER_RADAR_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    env["OPENAI_API_KEY"] = "sk-not-a-real-key"
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env[var] = "http://127.0.0.1:9"  # anything not local goes to a dead proxy
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--interactive"],
        input="/radar ask 2604.26932 what do they learn?\n/radar schedule 09:00 Europe/Berlin\n",
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    mine = proc.stdout.partition("\nYour turn:")[2]
    assert flat(TITLES["2604.26932"]) in flat(mine)
    assert "Extractive answer (no language model is configured)" in mine
    assert "You set the daily digest to 09:00 Europe/Berlin." in mine
    assert "Extractive" in proc.stdout.partition("radar> /radar brief\n")[2].split("radar>")[0]
    assert list(cwd.iterdir()) == [], "the demo must not write into the current folder"
