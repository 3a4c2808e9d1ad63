"""Thread Q&A: full texts (arXiv HTML, PDF), retrieval, model and extractive answers.

Full texts come from a local server holding a small page shaped like arXiv's
LaTeXML HTML and a PDF built here byte by byte (read back with the real
``pypdf``); the model is the local OpenAI-compatible server of
``tests/fakellm.py``; the bot is the real app (``bot.app.build``). The
extractive answer is also checked on every paper of a captured real feed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from arxiv import _feed

from bot.clock import FixedClock
from bot.core.cards import Reply
from bot.core.paper import Paper
from bot.digest.fulltext import FullTextFetcher, FullTextSettings, html_text, pdf_text
from bot.digest.qa.passages import passages_for, retrieve
from bot.digest.qa.prompt import ANSWER_TOKENS
from bot.digest.qa.reply import extractive_answer
from bot.sources.arxiv import paper_from_result
from bot.sources.http import Throttle
from bot.sources.replay import ReplayServer
from bot.sources.replay import Reply as HttpReply
from bot.store.repo import Store
from tests.fakellm import FakeLLM, HangUp, Raw, Slow, Status, Text, llm_radar
from tests.flowkit import CAPTURE, NOW, Radar

TIDE = "arxiv:2604.26951"  # "Turning the TIDE: Cross-Architecture Distillation for dLLMs"
HTML_ID, PDF_ID, NONE_ID, FLAKY_ID = "2604.26951", "2604.26942", "2604.26932", "2604.26926"
MENTIONS = ("<!channel>", "<!here>", "<@U", "@channel", "@here", "@everyone")

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Turning the TIDE: Cross-Architecture Distillation for Diffusion Large Language Models</title>
<script>window.MathJax = {tex: {inlineMath: [["$", "$"]]}}; trackVisit("secret-script");</script>
<style>.ltx_page_main { margin: 0 } /* style text */</style>
</head><body>
<header class="desktop_header"><nav><a href="/">arXiv</a> <a href="/html">HTML (experimental)</a>
<button>Report issue</button></nav></header>
<div class="package-alerts ltx_document" role="status">Failed to load some packages.</div>
<div class="ltx_page_main"><div class="ltx_page_content">
<article class="ltx_document ltx_authors_1line">
<h1 class="ltx_title ltx_title_document">Turning the TIDE: Cross-Architecture Distillation
for Diffusion Large Language Models</h1>
<div class="ltx_authors"><span class="ltx_creator ltx_role_author">Gongbo Zhang, Wen Wang,
Ye Tian, Li Yuan</span><span class="ltx_role_affiliation">Peking University</span></div>
<div class="ltx_abstract"><h6 class="ltx_title ltx_title_abstract">Abstract</h6>
<p class="ltx_p">Diffusion large language models offer parallel decoding. We distil them.</p></div>
<section class="ltx_section" id="S1">
<h2 class="ltx_title ltx_title_section">
<span class="ltx_tag ltx_tag_section">1 </span>Introduction</h2>
<div class="ltx_para" id="S1.p1"><p class="ltx_p">Diffusion large language models (dLLMs) decode
many tokens in parallel and attend bidirectionally. Their quality, however, depends on
billions of parameters, which makes them expensive to serve. Knowledge distillation is the
usual answer for autoregressive models, but existing recipes assume that teacher and student
share an architecture and a tokenizer.</p></div>
<div class="ltx_para" id="S1.p2"><p class="ltx_p">We ask whether a small dLLM can learn from
teachers of a different architecture. The cost of decoding grows as
<math alttext="\\mathcal{O}(n\\log n)" class="ltx_Math" display="inline"><semantics><mrow><mi>𝒪</mi>
<mo>(</mo><mi>n</mi></mrow><annotation encoding="application/x-tex">\\mathcal{O}(n\\log n)
</annotation></semantics></math> in the sequence length for our sampler.</p></div>
</section>
<section class="ltx_section" id="S2">
<h2 class="ltx_title ltx_title_section"><span class="ltx_tag ltx_tag_section">2 </span>Method</h2>
<div class="ltx_para"><p class="ltx_p">TIDE aligns the teacher's token distribution with the
student's through a shared byte-level vocabulary bridge. The student has 0.6B parameters.
We train it for three epochs on eight NVIDIA A100 GPUs with a distillation temperature of
2.0 and a learning rate of 2e-5, which takes about 31 hours.</p></div>
<div class="ltx_para"><p class="ltx_p">Two pipelines are used: one distils an 8B dense
teacher and one distils a 16B mixture-of-experts teacher. Each pipeline mixes a masked
diffusion loss with a reverse KL term on the aligned vocabulary.</p></div>
</section>
<section class="ltx_section" id="S3">
<h2 class="ltx_title ltx_title_section">
<span class="ltx_tag ltx_tag_section">3 </span>Experiments</h2>
<div class="ltx_para"><p class="ltx_p">Across eight benchmarks the distilled student
outperforms the baseline by an average of 1.53 points. On HumanEval it reaches 48.2 pass@1,
against 32.0 for the same student trained without distillation. Gains are largest in code
generation and smallest in commonsense reasoning.</p></div>
<figure class="ltx_table"><figcaption class="ltx_caption">Table 1: Results on eight
benchmarks for the 0.6B student.</figcaption></figure>
</section>
<section class="ltx_section" id="S4">
<h2 class="ltx_title ltx_title_section">
<span class="ltx_tag ltx_tag_section">4 </span>Limitations</h2>
<div class="ltx_para"><p class="ltx_p">We only study English text. Whether cross-architecture
distillation transfers to multilingual dLLMs remains open, as does its behaviour at student
sizes above two billion parameters.</p></div>
</section>
<section class="ltx_bibliography" id="bib">
<h2 class="ltx_title ltx_title_bibliography">References</h2>
<ul class="ltx_biblist"><li class="ltx_bibitem">Hinton et al. Distilling the knowledge in a
neural network. BIBLIOGRAPHY-ENTRY 2015.</li></ul></section>
</article></div>
<footer class="ltx_page_footer"><div class="ltx_page_logo">Generated by LaTeXML FOOTER-TEXT</div>
</footer></div></body></html>
"""


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF (Helvetica text, one content stream per page)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    parent = len(objects) + 1 + 2 * len(pages)
    kids = []
    for lines in pages:
        ops = [b"BT /F1 11 Tf 14 TL 72 740 Td"]
        for line in lines:
            text = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(b"(" + text.encode("latin-1") + b") Tj T*")
        ops.append(b"ET")
        stream = b"\n".join(ops)
        content = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
                b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                % (parent, font, content)
            )
        )
    refs = b" ".join(b"%d 0 R" % k for k in kids)
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids))) == parent
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % parent)
    return pdf_file(objects, root=catalog)


def pdf_file(objects: list[bytes], root: int) -> bytes:
    """A PDF file of numbered ``objects`` (1, 2, …) with its cross-reference
    table; object ``root`` is the catalog."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        xref,
    )
    return bytes(out)


PDF_PAGES = [
    [
        "Hyper Input Convex Neural Networks",
        "1 Introduction",
        "Convex functions appear in optimal transport and shape-constrained regres-",
        "sion. We introduce hyper input convex neural networks (HyCNNs).",
    ]
    + [f"Filler sentence number {i} about convex networks and transport maps." for i in range(30)],
    [
        "4 Experiments",
        "On the synthetic quadratic benchmark HyCNNs need 40 times fewer parameters",
        "than ICNNs to reach an error of 0.001.",
    ],
    ["References", "[1] Amos et al. Input convex neural networks. REFERENCE-ENTRY."],
]
PDF = make_pdf(PDF_PAGES)


def full_text_server() -> ReplayServer:
    html = "text/html; charset=utf-8"
    server = ReplayServer(default=HttpReply(404, b"not found", content_type="text/html"))
    server.add(f"/html/{HTML_ID}", HttpReply(200, PAGE.encode(), content_type=html))
    server.add(f"/html/{PDF_ID}", HttpReply(404, b"<html>No HTML</html>", content_type=html))
    server.add(f"/pdf/{PDF_ID}", HttpReply(200, PDF, content_type="application/pdf"))
    server.add(f"/html/{FLAKY_ID}", HttpReply(503, b"busy", content_type="text/plain"))
    return server


@pytest.fixture
def pages() -> Iterator[ReplayServer]:
    with full_text_server() as server:
        yield server


def capture_papers() -> dict[str, Paper]:
    papers = [paper_from_result(e) for e in _feed.parse(CAPTURE.read_bytes()).results]
    return {p.key: p for p in papers}


PAPERS = capture_papers()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    from bot.store import migrate

    url = f"sqlite:///{tmp_path / 'qa.db'}"
    migrate.upgrade(url)
    s = Store.from_url(url)
    s.upsert_papers(list(PAPERS.values()), NOW)
    yield s
    s.close()


def fetcher(store: Store, server: ReplayServer, clock: FixedClock, **kw: object) -> FullTextFetcher:
    settings = FullTextSettings(
        html_url=f"{server.url}/html/{{id}}",
        pdf_url=f"{server.url}/pdf/{{id}}",
        delay_seconds=0.0,
        timeout_seconds=2.0,
    )
    return FullTextFetcher(store, replace(settings, **kw), clock)  # type: ignore[arg-type]


# -- turning pages into text -------------------------------------------------------------


def test_html_text_keeps_sections_and_math_and_drops_the_chrome() -> None:
    text = html_text(PAGE)
    assert "## 1 Introduction" in text and "## 2 Method" in text and "## 4 Limitations" in text
    assert r"\mathcal{O}(n\log n)" in text and "𝒪" not in text  # math as its LaTeX source
    assert "eight NVIDIA A100 GPUs" in text
    assert "Table 1: Results on eight benchmarks" in text  # captions are content
    for chrome in (
        "secret-script",
        "style text",
        "Report issue",
        "HTML (experimental)",
        "Failed to load",
        "BIBLIOGRAPHY-ENTRY",
        "FOOTER-TEXT",
        "Peking University",
    ):
        assert chrome not in text, chrome


def test_pdf_text_joins_hyphenation_and_cuts_references() -> None:
    text = pdf_text(PDF)
    assert "shape-constrained regression" in text
    assert "40 times fewer parameters" in text
    assert "REFERENCE-ENTRY" not in text
    assert pdf_text(b"%PDF-1.4 this is not really a pdf") == ""


# -- fetching: once, politely, cached ----------------------------------------------------


def test_html_first_then_cached(store: Store, pages: ReplayServer) -> None:
    clock = FixedClock(NOW)
    f = fetcher(store, pages, clock)
    got = f.get(PAPERS[TIDE])
    assert got.text is not None and got.note is None
    assert got.text.source == "html" and got.text.url.endswith(f"/html/{HTML_ID}")
    assert pages.requests == [f"/html/{HTML_ID}"]
    again = fetcher(store, pages, clock).get(PAPERS[TIDE])  # a new process: from the database
    assert again.text == got.text and len(pages.requests) == 1
    assert pages.received[0].headers["user-agent"].startswith("paper-radar/")


def test_pdf_when_there_is_no_html(store: Store, pages: ReplayServer) -> None:
    got = fetcher(store, pages, FixedClock(NOW)).get(PAPERS[f"arxiv:{PDF_ID}"])
    assert got.text is not None and got.text.source == "pdf"
    assert "40 times fewer parameters" in got.text.text
    assert pages.requests == [f"/html/{PDF_ID}", f"/pdf/{PDF_ID}"]


def test_no_full_text_is_remembered_for_a_while(store: Store, pages: ReplayServer) -> None:
    clock = FixedClock(NOW)
    f = fetcher(store, pages, clock)
    paper = PAPERS[f"arxiv:{NONE_ID}"]
    first = f.get(paper)
    assert first.text is None and first.note == "arXiv has none for this paper"
    assert f.get(paper).text is None and len(pages.requests) == 2  # not asked again
    clock.set(NOW + timedelta(days=8))
    f.get(paper)
    assert len(pages.requests) == 4  # retry_days later, it is


def test_transient_failures_are_not_stored(store: Store, pages: ReplayServer) -> None:
    f = fetcher(store, pages, FixedClock(NOW), pdf_url="")
    paper = PAPERS[f"arxiv:{FLAKY_ID}"]
    got = f.get(paper)
    assert got.text is None and got.note == "it could not be fetched just now"
    assert store.full_text(paper.key) is None
    f.get(paper)
    assert len(pages.requests) == 2  # the next question tries again


def test_oversized_bodies_are_skipped(store: Store, pages: ReplayServer) -> None:
    got = fetcher(store, pages, FixedClock(NOW), max_megabytes=0.001).get(PAPERS[TIDE])
    assert got.text is None


def test_disabled_or_not_arxiv_means_no_request(store: Store, pages: ReplayServer) -> None:
    assert fetcher(store, pages, FixedClock(NOW), enabled=False).get(PAPERS[TIDE]).text is None
    other = replace(PAPERS[TIDE], key="openalex:W1", source="openalex")
    assert fetcher(store, pages, FixedClock(NOW)).get(other).text is None
    assert pages.requests == []


def test_requests_go_through_the_hosts_throttle(store: Store, pages: ReplayServer) -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    throttle = Throttle(3.0, sleep=sleep, monotonic=lambda: now[0])
    hosts: list[str] = []

    def throttle_of(host: str) -> Throttle:
        hosts.append(host)
        return throttle

    settings = FullTextSettings(
        html_url=f"{pages.url}/html/{{id}}", pdf_url=f"{pages.url}/pdf/{{id}}"
    )
    f = FullTextFetcher(store, settings, FixedClock(NOW), throttle_of=throttle_of)
    f.get(PAPERS[f"arxiv:{PDF_ID}"])  # HTML 404, then the PDF: two requests
    assert waits == [pytest.approx(3.0)]
    assert set(hosts) == {pages.url.removeprefix("http://")}


# -- passages and retrieval ------------------------------------------------------------------


def test_passages_follow_sections_and_skip_references() -> None:
    from bot.digest.fulltext import FullText

    passages = passages_for(PAPERS[TIDE], FullText("html", "u", html_text(PAGE)))
    assert passages[0].id == 1 and passages[0].section == "Abstract"
    sections = [p.section for p in passages[1:]]
    assert "2 Method" in sections and "4 Limitations" in sections
    assert not any("References" in s or "Abstract" in s for s in sections)
    best = retrieve(passages, "How many GPUs did training take?")
    assert best and "A100" in best[0][1].text and best[0][1].section == "2 Method"


# -- asking in a thread -------------------------------------------------------------------


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def thread(tmp_path: Path, llm: FakeLLM, pages: ReplayServer) -> Iterator[Radar]:
    """The app with the model and the full-text server; card 01 (TIDE) posted as "M1"."""
    with llm_radar(tmp_path, llm, fulltext_url=pages.url) as r:
        post_card(r)
        yield r


@pytest.fixture
def plain_thread(tmp_path: Path, pages: ReplayServer) -> Iterator[Radar]:
    with llm_radar(tmp_path, None, fulltext_url=pages.url) as r:
        post_card(r)
        yield r


def post_card(r: Radar, key: str = TIDE, message: str = "M1") -> None:
    """The channel has posted ``key`` as card 01, message ``message`` (as a digest would)."""
    r.app.store.upsert_papers(list(PAPERS.values()), NOW)
    state = r.app.store.channel(r.ref)
    r.app.store.record_card(state.id, key, 1, message, NOW)


def ask(r: Radar, question: str, message: str = "M1", history: tuple[str, ...] = ()) -> Reply:
    reply = r.app.service.ask(r.ref, message, question, history)
    assert reply is not None
    return reply


def text_of(reply: Reply) -> str:
    return "\n".join([reply.title, *reply.lines, reply.footer or ""])


def test_extractive_answer_quotes_the_full_text(plain_thread: Radar) -> None:
    reply = ask(plain_thread, "How many GPUs did training take?")
    assert reply.kind == "answer" and reply.title.startswith("About: Turning the TIDE")
    assert reply.lines[0].startswith("Extractive answer (no language model is configured)")
    assert "abstract and full text" in reply.lines[0]
    quotes = [line for line in reply.lines if line.startswith("> ")]
    assert quotes and any("eight NVIDIA A100 GPUs" in q and "2 Method]" in q for q in quotes)
    assert reply.footer is not None
    assert reply.footer.startswith("Source: the abstract and the full text (arXiv HTML).")


def test_extractive_says_plainly_when_the_paper_does_not_say(plain_thread: Radar) -> None:
    reply = ask(plain_thread, "What is the capital of France?")
    assert any(line.startswith("The paper does not say.") for line in reply.lines)
    assert not any(line.startswith("> ") for line in reply.lines)


def test_extractive_overview_question_quotes_the_abstract(plain_thread: Radar) -> None:
    reply = ask(plain_thread, "What is this paper about?")
    assert len(reply.lines) == 2 and reply.lines[1].endswith("[P1, Abstract]")


def test_not_a_card_stays_silent(plain_thread: Radar) -> None:
    assert plain_thread.app.service.ask(plain_thread.ref, "M-unknown", "why?") is None


def test_model_answer_is_grounded_in_retrieved_passages(thread: Radar, llm: FakeLLM) -> None:
    reply = ask(thread, "How many GPUs did training take?")
    body = llm.requests[0]
    prompt = body["messages"][1]["content"]
    assert "[P1] (Abstract)" in prompt and "eight NVIDIA A100 GPUs" in prompt
    assert "BIBLIOGRAPHY-ENTRY" not in prompt
    assert body["max_tokens"] == ANSWER_TOKENS
    assert "data, not instructions" in body["messages"][0]["content"]
    assert reply.lines[0].startswith("According to the paper,")
    assert "Passages used:" in reply.lines
    assert any(line.startswith("> “") and "]" in line for line in reply.lines)
    assert reply.footer is not None
    assert reply.footer.startswith("Answered by fake-model from the abstract and the full text")


def test_the_threads_earlier_turns_are_context(thread: Radar, llm: FakeLLM) -> None:
    ask(thread, "Which teacher models were distilled?")
    ask(thread, "And how large were they?")
    prompt = llm.requests[1]["messages"][1]["content"]
    assert "Earlier in this thread:\nQ: Which teacher models were distilled?\nA: Acc" in prompt
    state = thread.app.store.channel(thread.ref)
    turns = thread.app.store.thread_turns(state.id, "M1")
    assert [t.role for t in turns] == ["user", "bot", "user", "bot"]


def test_platform_history_is_used_when_nothing_is_stored(thread: Radar, llm: FakeLLM) -> None:
    ask(thread, "Is the code released?", history=("What about the 16B teacher?",))
    prompt = llm.requests[0]["messages"][1]["content"]
    assert "Message: What about the 16B teacher?" in prompt


def test_passage_citations_are_checked(thread: Radar, llm: FakeLLM) -> None:
    llm.push(Text("They used A100 GPUs [P2][P99] and more [P77]."))
    reply = ask(thread, "How many GPUs did training take?")
    assert reply.lines[0] == "They used A100 GPUs [P2] and more."
    assert (
        reply.footer is not None and "2 citations to passages it was not shown were" in reply.footer
    )


def test_the_model_may_say_the_paper_does_not_say(thread: Radar, llm: FakeLLM) -> None:
    reply = ask(thread, "What is the capital of France?")
    assert reply.lines == ("The paper does not say.",)


def test_answers_are_cached(thread: Radar, llm: FakeLLM) -> None:
    first = ask(thread, "How many GPUs did training take?")
    state = thread.app.store.channel(thread.ref)
    thread.app.store.record_card(state.id, TIDE, 1, "M2", NOW)
    second = ask(thread, "How many GPUs did training take?", message="M2")
    assert llm.calls == 1 and second.lines == first.lines


def test_model_output_cannot_ping(thread: Radar, llm: FakeLLM) -> None:
    llm.push(Text("@channel <!here> <@U1> read https://evil.example now [P1]"))
    reply = ask(thread, "What do they distil?")
    out = text_of(reply)
    for token in MENTIONS:
        assert token not in out
    assert "evil.example" not in out


@pytest.mark.parametrize(
    ("action", "note"),
    [
        (Status(500), "server failed (HTTP 500)"),
        (Status(429), "rate-limited"),
        (Raw(b"garbage", "text/plain"), "malformed response"),
        (HangUp(), "could not be reached"),
        (Slow(3.0, Text("late")), "timed out"),
        (Text("   "), "empty answer"),
    ],
    ids=["500", "429", "garbage", "hang-up", "slow", "empty"],
)
def test_model_failures_fall_back_to_quotes(
    thread: Radar, llm: FakeLLM, action: object, note: str
) -> None:
    llm.push(action)  # type: ignore[arg-type]
    reply = ask(thread, "How many GPUs did training take?")
    assert reply.lines[0].startswith("Extractive answer (the language model ")
    assert note in reply.lines[0]
    assert any("A100" in line for line in reply.lines[1:])


def test_without_full_text_the_abstract_answers_and_says_why(
    tmp_path: Path, llm: FakeLLM, pages: ReplayServer
) -> None:
    with llm_radar(tmp_path, llm, fulltext_url=pages.url) as r:
        post_card(r, key=f"arxiv:{FLAKY_ID}")
        reply = ask(r, "What does the Squint bound depend on?")
        assert reply.footer is not None
        assert reply.footer.endswith("Full text: it could not be fetched just now.")
        assert "the abstract." in reply.footer
        prompt = llm.requests[0]["messages"][1]["content"]
        assert prompt.count("[P") == 1  # the abstract only


@pytest.mark.parametrize("key", sorted(PAPERS))
def test_extractive_answers_on_real_abstracts(key: str) -> None:
    paper = PAPERS[key]
    abstract = " ".join(paper.abstract.split())
    # A question in the paper's own terms: title words the abstract also uses.
    words = [w for w in re.findall(r"[A-Za-z]{6,}", paper.title) if w.lower() in abstract.lower()]
    assert words, paper.title
    reply = extractive_answer(paper, f"What about {' and '.join(words[:2])}?")
    assert reply.lines and reply.footer == f"Source: the abstract. {paper.url}"
    quotes = [line for line in reply.lines if line.startswith("> ")]
    assert quotes, reply
    for quote in quotes:
        inner = quote[3 : quote.rindex("”")].rstrip("…")
        assert inner[:50] in abstract
    nothing = extractive_answer(paper, "Which football club won the 1998 cup final?")
    # Only the abstract was read: it may not speak for the rest of the paper.
    assert any(line.startswith("The abstract does not say.") for line in nothing.lines)
    assert not any("The paper does not say" in line for line in nothing.lines)
    assert json.dumps(nothing.lines)  # plain strings, ready for any renderer
