"""The one command grammar: every line parses to a command or a short usage error."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import commands as c
from bot.core.chips import Chip, ChipKind
from bot.errors import UsageError


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", c.Show()),
        ("/radar", c.Show()),
        ("radar", c.Show()),
        ("/radar author Yehui Tang", c.AddChip(Chip(ChipKind.AUTHOR, "Yehui Tang"))),
        ("author   Tang,  Yehui ", c.AddChip(Chip(ChipKind.AUTHOR, "Tang, Yehui"))),
        ("/radar author Jörg Frochte", c.AddChip(Chip(ChipKind.AUTHOR, "Jörg Frochte"))),
        ("author Andrea Anderson", c.AddChip(Chip(ChipKind.AUTHOR, "Andrea Anderson"))),
        ("author Dr", c.AddChip(Chip(ChipKind.AUTHOR, "Dr"))),  # a surname alone stays one
        (
            'keyword "large language model" agents',
            c.AddChip(Chip(ChipKind.KEYWORD, '"large language model" agents')),
        ),
        (
            "keyword \u201cdiffusion model\u201d",  # Slack's smart quotes
            c.AddChip(Chip(ChipKind.KEYWORD, '"diffusion model"')),
        ),
        ("keyword -survey", c.AddChip(Chip(ChipKind.EXCLUDE, "survey"))),
        # arXiv's DOI is the arXiv paper, in any of a DOI's spellings
        ("like 10.48550/arXiv.2604.26951", c.Like(arxiv_id="2604.26951")),
        ("like https://doi.org/10.48550/arXiv.2604.26951", c.Like(arxiv_id="2604.26951")),
        ("ask doi:10.48550/arxiv.2604.26951 why?", c.Ask("why?", arxiv_id="2604.26951")),
        ("like 10.7717/peerj.4375", c.Like(doi="10.7717/peerj.4375")),
        ('keyword "C++ code"', c.AddChip(Chip(ChipKind.KEYWORD, '"C++ code"'))),
        ('keyword "state of the art"', c.AddChip(Chip(ChipKind.KEYWORD, '"state of the art"'))),
        ("keyword Notepad++", c.AddChip(Chip(ChipKind.KEYWORD, "Notepad++"))),
        ("keyword diffusion,", c.AddChip(Chip(ChipKind.KEYWORD, "diffusion"))),
        ('keyword "trial or error"', c.AddChip(Chip(ChipKind.KEYWORD, '"trial or error"'))),
        ("digest", c.RunDigest()),
        ("schedule 09:00 America/New York", c.SetSchedule("09:00", "America/New_York")),
        ("schedule Europe/Berlin 9:30", c.SetSchedule("09:30", "Europe/Berlin")),
        ("schedule 09:00 CET", c.SetSchedule("09:00", "CET")),  # IANA's, with summer time
        ("/radar digest now", c.RunDigest()),  # as the help puts it: "post a digest now"
        ('keyword -"position paper"', c.AddChip(Chip(ChipKind.EXCLUDE, '"position paper"'))),
        ("category CS.cl", c.AddChip(Chip(ChipKind.CATEGORY, "cs.CL"))),
        ("category quant-ph", c.AddChip(Chip(ChipKind.CATEGORY, "quant-ph"))),
        # A category by its name, or with the dot typed otherwise.
        ("category computation and language", c.AddChip(Chip(ChipKind.CATEGORY, "cs.CL"))),
        ("category Robotics", c.AddChip(Chip(ChipKind.CATEGORY, "cs.RO"))),
        ("category cs-CL", c.AddChip(Chip(ChipKind.CATEGORY, "cs.CL"))),
        ("category astro-ph_CO", c.AddChip(Chip(ChipKind.CATEGORY, "astro-ph.CO"))),
        ("category cs.CL.", c.AddChip(Chip(ChipKind.CATEGORY, "cs.CL"))),
        ("source arXiv", c.AddChip(Chip(ChipKind.SOURCE, "arxiv"))),
        ("source OpenAlex", c.AddChip(Chip(ChipKind.SOURCE, "openalex"))),
        (
            "author Joseph Mearman openalex:A5017898742",
            c.AddChip(Chip(ChipKind.AUTHOR, "Joseph Mearman", "openalex:A5017898742")),
        ),
        (
            "author Mearman OpenAlex:a5017898742",
            c.AddChip(Chip(ChipKind.AUTHOR, "Mearman", "openalex:A5017898742")),
        ),
        # The id as OpenAlex links it is the same id.
        (
            "author Joseph Mearman https://openalex.org/A5017898742",
            c.AddChip(Chip(ChipKind.AUTHOR, "Joseph Mearman", "openalex:A5017898742")),
        ),
        ("pick 2", c.Pick(2)),
        ("/radar pick 2 openalex:A5017898742", c.Pick(2, "A5017898742")),
        ("pick name", c.Pick(None)),
        ("pick Name", c.Pick(None)),
        ("choose 1", c.Pick(1)),
        ("remove 2", c.RemoveChip("2")),
        ("remove author Yehui Tang", c.RemoveChip("author Yehui Tang")),
        ("clear", c.ClearChips()),
        # "All" only says what these do anyway.
        ("clear all", c.ClearChips()),
        ("clear All Chips", c.ClearChips()),
        ("forget everything", c.Forget()),
        ("digest", c.RunDigest()),
        ("schedule 09:00 America/New York", c.SetSchedule("09:00", "America/New_York")),
        ("schedule Europe/Berlin 9:30", c.SetSchedule("09:30", "Europe/Berlin")),
        ("shuffle", c.Shuffle(None)),
        ("shuffle 7", c.Shuffle(7)),
        ("brief", c.Brief(None)),
        ("brief protein folding", c.Brief("protein folding")),
        ("brief every week", c.BriefCadence("week")),
        # The one word people write for a cadence is not a topic.
        ("brief weekly", c.BriefCadence("week")),
        ("brief Daily", c.BriefCadence("day")),
        ("brief off", c.BriefCadence(None)),
        ("schedule 9:05 asia/shanghai", c.SetSchedule("09:05", "Asia/Shanghai")),
        ("schedule 23:59 UTC", c.SetSchedule("23:59", "UTC")),
        ("schedule 07:30", c.SetSchedule("07:30", None)),
        ("schedule off", c.SetSchedule(None, None)),
        ("cap 15", c.SetCap(15)),
        # Alone, a setting is read, not changed.
        ("cap", c.ShowSetting("cap")),
        # What people type for "show me" or "search", taken as the command meant.
        ("list", c.Show()),
        ("status", c.Show()),
        ("search diffusion", c.Filter(c.FilterQuery(keywords=("diffusion",)))),
        ("summarize", c.Brief(None)),
        ("schedule", c.ShowSetting("schedule")),
        # 12-hour times, as people say them.
        ("schedule 9am Europe/Berlin", c.SetSchedule("09:00", "Europe/Berlin")),
        ("schedule 9:30 pm", c.SetSchedule("21:30", None)),
        # The words around the time that every schedule means anyway.
        ("schedule every day at 9am Europe/Berlin", c.SetSchedule("09:00", "Europe/Berlin")),
        ("schedule daily 07:30", c.SetSchedule("07:30", None)),
        ("schedule 12 a.m. UTC", c.SetSchedule("00:00", "UTC")),
        ("schedule 12PM", c.SetSchedule("12:00", None)),
        ("schedule Europe/Berlin 7.15pm", c.SetSchedule("19:15", "Europe/Berlin")),
        # Single quotes around whole words are a phrase too; an apostrophe in
        # or before a word stays in it.
        (
            "keyword 'graph neural networks'",
            c.AddChip(Chip(ChipKind.KEYWORD, '"graph neural networks"')),
        ),
        (
            "keyword 'Parkinson's disease'",
            c.AddChip(Chip(ChipKind.KEYWORD, '"Parkinson\'s disease"')),
        ),
        ("keyword Parkinson's disease", c.AddChip(Chip(ChipKind.KEYWORD, "Parkinson's disease"))),
        ("keyword '90s music", c.AddChip(Chip(ChipKind.KEYWORD, "'90s music"))),
        ("keyword -'deep learning'", c.AddChip(Chip(ChipKind.EXCLUDE, '"deep learning"'))),
        ("author 'Yehui Tang'", c.AddChip(Chip(ChipKind.AUTHOR, "Yehui Tang"))),
        ("author O'Brien", c.AddChip(Chip(ChipKind.AUTHOR, "O'Brien"))),
        # A citation's "et al." copied with the name.
        ("author Yehui Tang et al.", c.AddChip(Chip(ChipKind.AUTHOR, "Yehui Tang"))),
        ("author Tang, et al", c.AddChip(Chip(ChipKind.AUTHOR, "Tang"))),
        ("author Or Litany", c.AddChip(Chip(ChipKind.AUTHOR, "Or Litany"))),  # a given name
        ("remove 'graph neural networks'", c.RemoveChip('"graph neural networks"')),
        ("help", c.Help(None)),
        ("help filter", c.Help("filter")),
        ("help ask", c.Help("ask")),
        ("help /radar filter", c.Help("filter")),  # the command as it is typed
        ("help radar", c.Help(None)),
        ("ask 2 what data do they train on?", c.Ask("what data do they train on?", card=2)),
        ("/radar ask 02. why?", c.Ask("why?", card=2)),
        ("ask #12 and then?", c.Ask("and then?", card=12)),
        ("question 3 how big", c.Ask("how big", card=3)),
        ("ask 2604.26951 how big?", c.Ask("how big?", arxiv_id="2604.26951")),
        ("ask arXiv:2604.26951v3 how big?", c.Ask("how big?", arxiv_id="2604.26951")),
        ("ask https://arxiv.org/abs/2604.26951v1 q", c.Ask("q", arxiv_id="2604.26951")),
        ("ask https://arxiv.org/pdf/2604.26951.pdf q", c.Ask("q", arxiv_id="2604.26951")),
        ("ask hep-th/9901001v2 q", c.Ask("q", arxiv_id="hep-th/9901001")),
        ("ask 2 " + "why " * 120, c.Ask(("why " * 120).strip(), card=2)),  # a long question
        # The way people refer to a card in a sentence.
        ("ask 1: what is new?", c.Ask("what is new?", card=1)),
        ("ask card 3, why", c.Ask("why", card=3)),
        ("ask arXiv:2604.26951: why", c.Ask("why", arxiv_id="2604.26951")),
        ("like paper #2", c.Like(card=2)),
        ("brief card 2", c.BriefPaper(card=2)),
        ("brief card games", c.Brief("card games")),
        ("ask math.AG/0309136 q", c.Ask("q", arxiv_id="math/0309136")),
    ],
)
def test_lines_parse_to_commands(line: str, expected: c.Command) -> None:
    assert c.parse(line) == expected


def test_filter_terms_narrow_with_and() -> None:
    cmd = c.parse(
        'filter since:7d author:"Yehui Tang" cat:cs.cl -survey "graph neural" rl source:arxiv'
    )
    assert cmd == c.Filter(
        c.FilterQuery(
            since_days=7,
            authors=("Yehui Tang",),
            keywords=('"graph neural"', "rl"),
            categories=("cs.CL",),
            sources=("arxiv",),
            excludes=("survey",),
        )
    )
    assert c.parse("filter since:2026-06-01").query.since_date == date(2026, 6, 1)  # type: ignore[union-attr]
    assert c.parse("filter since:2w").query.since_days == 14  # type: ignore[union-attr]
    assert c.parse("filter since:1d").query.describe() == "last day"  # type: ignore[union-attr]
    # Spans and dates as people write them.
    for spelt, days in [("7days", 7), ("7 days", 7), ("1week", 7), ("3 months", 90)]:
        assert c.parse(f"filter since:{spelt}").query.since_days == days, spelt  # type: ignore[union-attr]
    assert c.parse("filter last:2w").query.since_days == 14  # type: ignore[union-attr]
    assert c.parse("filter after:2026-4-1").query.since_date == date(2026, 4, 1)  # type: ignore[union-attr]
    assert c.parse("filter since:3d").query.describe() == "last 3 days"  # type: ignore[union-attr]
    # "Surname, Given" unquoted is one author, however the space splits it.
    assert c.parse("filter author:Frochte, Jorg since:7d").query == c.FilterQuery(  # type: ignore[union-attr]
        since_days=7, authors=("Frochte, Jorg",)
    )
    assert c.parse("filter author:Frochte, author:Tang").query.authors == ("Frochte", "Tang")  # type: ignore[union-attr]
    assert c.parse("filter author:'Yehui Tang' 'language models'").query == c.FilterQuery(  # type: ignore[union-attr]
        authors=("Yehui Tang",), keywords=('"language models"',)
    )
    # A view may take a whole archive (every cs.* paper); a chip takes a category.
    assert c.parse("filter cat:CS").query.categories == ("cs",)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("author", "needs a name"),
        ("author " + "x" * 10_000, "too long"),
        ("keyword " + "deep " * 3000, "too long"),
        ("author au:x OR cat:*", "letters, spaces"),
        ("author (Tang)", "letters, spaces"),
        ("author Tang\x00Yehui", "control characters"),
        ("keyword a\x1b[31mred", "control characters"),
        ("keyword \u202eevil", "control characters"),
        ('keyword "unbalanced', "unbalanced quote"),
        ("keyword transformer OR attention", "one chip per alternative"),
        ("keyword C++", "`C++` would match the bare word `c`: `+` and `#` are not matched."),
        ("keyword C#", "the bare word `c`"),
        ("brief every", "Briefings can come `every day` or `every week`."),
        ("keyword the", "`the` is in nearly every abstract, so this chip would match every paper."),
        ('keyword "of the"', "would match every paper"),
        ("keyword -a", "would exclude every paper"),
        ("brief 0", "Cards are numbered from 01; there is no card 00."),
        ("brief #00.", "there is no card 00"),
        ("filter F#", 'Put it in a phrase, e.g. `"C++ code"`.'),
        ("filter transformer OR attention", "a filter's terms must all hold"),
        ("keyword ti:attention", "matched literally"),
        ("keyword cat:*", "matched literally"),
        ("keyword -", "empty term"),
        ("keyword diffusion -survey", "`/radar keyword diffusion`, then `/radar keyword -survey`"),
        (
            'keyword -survey -"position paper"',
            "One exclusion per chip: `/radar keyword -survey`, then "
            '`/radar keyword -"position paper"`',
        ),
        (
            'keyword "diffusion model" -survey agents -"position paper"',
            '`/radar keyword "diffusion model" agents`, then `/radar keyword -survey` and '
            '`/radar keyword -"position paper"`',
        ),
        ('keyword ""', "empty quoted phrase"),
        ("category cs.XX", "not an arXiv category"),
        ("category CS", "`cs` (Computer Science) is a whole arXiv archive"),
        ("category cs", "one of its 40 categories: `cs.AI`, `cs.AR`"),
        (
            "category astro-ph",
            "one of its 6 categories: `astro-ph.CO`, `astro-ph.EP`, `astro-ph.GA`, "
            "`astro-ph.HE`, `astro-ph.IM`, `astro-ph.SR`.",
        ),
        ("category cs.CL cs.LG", "One category per chip"),
        ('filter cat:"cs.CL cs.LG"', "One category per term, e.g. `cat:cs.CL cat:cs.LG`."),
        ('filter author:"Tang, Yehui, Frochte"', "One author per term"),
        ("author Tang, Yehui, Frochte", "One author per chip"),
        ("author Yehui Tang and Jorg Frochte", "One author per chip"),
        ('filter author:"Tang and Frochte"', "One author per term"),
        (
            "author Dr. Yehui Tang",
            "Leave out the title, bylines have none: `/radar author Yehui Tang`.",
        ),
        ("author prof Jorg Frochte", "`/radar author Jorg Frochte`"),
        ('filter author:"Dr Yehui Tang"', '`author:"Yehui Tang"`'),
        ("source biorxiv", "not a source I know"),
        ("shuffle 0", "from 1 to 20"),
        ("shuffle 21", "from 1 to 20"),
        ("shuffle many", "from 1 to 20"),
        ("schedule 25:00 UTC", "not a time of day"),
        ("brief monthly", "Briefings can come `every day` or `every week`."),
        ("schedule 09:00 Mars/Olympus_Mons", "not a time zone"),
        ("schedule 09:00 ../../etc/passwd", "not a time zone"),
        ("schedule 09:00 Europe/Berlin extra", "a time and a time zone"),
        (
            "schedule 09:00 Berlin",
            "`Berlin` is not a time zone I know; use an IANA name like "
            "Europe/Berlin. Did you mean `Europe/Berlin`?",
        ),
        (
            "schedule 09:00 new york",
            "`new york` is not a time zone I know; use an IANA name "
            "like Europe/Berlin. Did you mean `America/New_York`?",
        ),
        ("schedule 09:00 Istanbul", "Did you mean `Asia/Istanbul` or `Europe/Istanbul`?"),
        # What people say for a zone: EST is IANA's too, but UTC-5 in summer as well.
        ("schedule 09:00 EST", "`EST` is an abbreviation, which names no zone (or one fixed"),
        ("schedule 09:00 CST", "use `America/Chicago` or `Asia/Shanghai`."),
        (
            "schedule 09:00 Beijing",
            "`Beijing` is a place, not a zone name; its zone: `Asia/Shanghai`.",
        ),
        ("schedule 09:00 san francisco", "its zone: `America/Los_Angeles`."),
        ("schedule 09:00 UTC+2", "for the offset itself, `Etc/GMT-2` (POSIX's sign, reversed)."),
        ("schedule 09:00 UTC+05:30", "a city's zone (e.g. Europe/Berlin) follows daylight saving."),
        ("schedule 13pm UTC", "12-hour times go from 1 to 12"),
        ("schedule 0am", "12-hour times go from 1 to 12"),
        (
            "schedule 9 Europe/Berlin",
            "`9` alone is no time; write `09:00` or `9am`, `21:00` or `9pm`.",
        ),
        ("schedule 17", "`17` alone is no time; write `17:00`."),
        ("digest now please", "takes no arguments"),
        ("frobnicate", "Unknown command"),
        # Subscribing and stopping are chips and schedules: said exactly.
        ("add author Yehui Tang", "Did you mean `/radar author Yehui Tang`?"),
        ("follow Yehui Tang", "Did you mean `/radar author Yehui Tang`?"),
        ("subscribe cs.cl", "Did you mean `/radar category cs.CL`?"),
        ("watch", "Add a chip with `/radar author <name>`"),
        ("unsubscribe", "To stop the daily digest: `/radar schedule off`"),
        ("stop", "`/radar remove <n>` or `/radar clear`"),
        ("filter", "needs terms"),
        ("filter since:yesterday", "since:"),
        ("filter colour:red", "not a filter term"),
        ("filter author:", "needs a value"),
        ("author Yehui Tang or Jorg Frochte", "One author per chip"),
        ("author Yehui Tang & Jorg Frochte", "One author per chip"),
        ("author Yehui Tang; Jorg Frochte", "One author per chip"),
        ("category machine learning", "is the name of `cs.LG` or `stat.ML`; choose one."),
        ("category NLP", "Did you mean `cs.CL` (Computation and Language)?"),
        ("category cs.ML", "Did you mean `cs.LG` (Machine Learning)?"),
        ("category CL", "Did you mean `cs.CL` (Computation and Language)?"),
        ("filter diffusion or transformers", "`or` is not needed: a filter's terms must all hold"),
        # Alternatives are chips of their own: the commands to type, each.
        (
            "keyword diffusion, vision transformers",
            "one chip per alternative, `/radar keyword diffusion`, then "
            "`/radar keyword vision transformers`.",
        ),
        ("keyword diffusion or 'graph networks'", '`/radar keyword "graph networks"`'),
        # Identifiers pasted where words or names go: what they are, and what to type.
        (
            "keyword https://arxiv.org/abs/2604.26951v2",
            "is a paper, not words to watch for: for more papers like it, "
            "`/radar like 2604.26951`.",
        ),
        ("author 0000-0002-1825-0097", "ORCID iDs are not looked up here"),
        ("author Yehui Tang https://orcid.org/0000-0002-1825-009X", "ORCID iDs"),
        ("author https://openalex.org/A5017898742", "needs a name before the id"),
        ("filter since:7d since:3d", "One `since:` per filter"),
        ("filter since:7d last:3d", "One `since:` per filter"),
        ("filter before:2026-04-29", "`before:` sets no other end. E.g. `since:2026-06-01`."),
        ("filter until:2026-04-29", "A filter's window runs from `since:` to today"),
        # Grouping brackets from a search box are not carried into the commands.
        (
            "keyword (graph OR tree)",
            "one chip per alternative, `/radar keyword graph`, then `/radar keyword tree`.",
        ),
        ("keyword ,", "A keyword needs letters or digits."),
        ("keyword 🚀 rockets", "`🚀` has no letters or digits to match; leave it out."),
        ("help shufle", "No help for `shufle`. Did you mean `/radar help shuffle`?"),
        ("like", "`/radar like` needs a card number, an arXiv id or a DOI."),
        (
            "clear 2",
            "`/radar clear` removes every chip; to remove chip 2 alone, `/radar remove 2`.",
        ),
        ("clear the radar", "`/radar clear` takes no arguments."),
        ("schedule 9am weekdays", "Digests come every day at one time"),
        ("schedule 09:00 Europe/Berlin Mondays", "a day without new papers posts nothing new"),
        ("forget 2604.26951", "`/radar forget` takes no arguments."),
        ("brief card 0", "there is no card 00"),
        ("remove all", "`/radar clear` removes every chip."),
        ("like 1 2", "One paper per like: `/radar like 1`, then `/radar like 2`."),
        ("like 2604.26951, 2604.26904", "`/radar like 2604.26951`, then `/radar like 2604.26904`"),
        (
            "keyword -survey, -review",
            "One exclusion per chip: `/radar keyword -survey`, then `/radar keyword -review`.",
        ),
        ("filter since:7 diffusion", "`since:` takes a span like 7d"),
        ("filter since:7dweeks", "`since:` takes a span like 7d"),
        ("filter since:2026-13-01", "`since:` takes a span like 7d"),
        ("filter title:diffusion", "Keywords match the title and the abstract alike"),
        ("filter cat:cs.CL,cs.LG", "One category per term, e.g. `cat:cs.CL cat:cs.LG`."),
        ("category cs.CL, cs.LG", "One category per chip"),
        ("cap 0", "from 1 to 50"),
        ("help nothing", "No help"),
        ("ask", "needs a card number or an arXiv id"),
        ("ask 2", "What would you like to know"),
        ("ask 2604.26951", "What would you like to know"),
        ("ask 0 why", "neither a card number nor an arXiv id"),
        ("ask : why", "`:` is neither a card number"),
        ("ask 1000 why", "neither a card number nor an arXiv id"),
        ("ask Tang why", "neither a card number nor an arXiv id"),
        ("ask 2604.269 why", "neither a card number nor an arXiv id"),
        ("ask https://evil.example/abs/2604.26951 why", "neither a card number"),
        ("x" * 2000, "too long"),
    ],
)
def test_bad_input_gets_a_short_specific_message(line: str, says: str) -> None:
    with pytest.raises(UsageError) as info:
        c.parse(line)
    message = str(info.value)
    assert says in message
    assert len(message) < 400
    assert "Traceback" not in message


def test_unknown_command_suggests_the_close_one() -> None:
    with pytest.raises(UsageError, match="Did you mean `/radar shuffle`"):
        c.parse("shufle")


def test_bad_time_zone_suggests_the_close_one() -> None:
    with pytest.raises(UsageError, match="Europe/Berlin"):
        c.parse("schedule 09:00 Europe/Berln")


def usage_examples() -> list[tuple[str, str]]:
    """Every example a usage line offers after "e.g." (what people copy)."""
    out = []
    for name, usage in c.USAGE.items():
        if "e.g." in usage:
            tail = usage.split("e.g.", 1)[1]
            for example in re.findall(r"/radar [^,;|(]*[^,;|(\s]", tail):
                out.append((name, example))
    return out


def test_the_usage_lines_offer_examples() -> None:
    assert {name for name, _ in usage_examples()} >= {"author", "keyword", "filter", "ask"}
    assert ("keyword", "/radar keyword -survey") in usage_examples()


@pytest.mark.parametrize(("name", "example"), usage_examples())
def test_every_usage_example_is_accepted(name: str, example: str) -> None:
    """A usage line's example, typed as shown, is the command it illustrates
    (the keyword line once showed a mix of words and an exclusion that the
    parser refuses)."""
    command = c.parse(example)
    assert not isinstance(command, c.Help), example


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_command_or_a_usage_error(line: str) -> None:
    try:
        result = c.parse(line)
    except UsageError as err:
        assert str(err)
    else:
        assert isinstance(result, c.Command)


@pytest.mark.parametrize(
    "line",
    [
        "author Mearman openalex:A1|A2",
        "author Mearman openalex:A1,is_paratext:true",
        "author Mearman openalex:S123",
        "author Mearman openalex:A",
        "author openalex:A5017898742",
        "author Mearman openalex:A1 openalex:A2",
        "pick",
        "pick 0",
        "pick 10",
        "pick ²",
        "pick 1 2",
        "pick name openalex:A1",
        "pick 1 openalex:A1|A2",
        "pick 1 2 3",
    ],
)
def test_identities_and_picks_are_refused_unless_well_formed(line: str) -> None:
    with pytest.raises(UsageError):
        c.parse(line)


_WORDS = st.sampled_from(
    [
        "author",
        "pick",
        "keyword",
        "category",
        "source",
        "remove",
        "filter",
        "schedule",
        "shuffle",
        "brief",
        "cap",
        "help",
        "digest",
        "clear",
        "ask",
    ]
)
_ARGS = (
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
    | st.sampled_from(
        ['"', '""', "-", '-"x', "au:x OR cat:*", "since:", "09:00", "cs.CL", ":", "\u200d"]
    )
    | st.sampled_from(["openalex:A5017898742", "openalex:A1|A2", "OPENALEX:a1", "name", "2"])
)


@settings(max_examples=600, deadline=None)
@given(_WORDS, st.lists(_ARGS, max_size=4))
def test_subcommands_with_hostile_arguments_never_raise_anything_else(
    word: str, args: list[str]
) -> None:
    line = "/radar " + word + " " + " ".join(args)
    try:
        result = c.parse(line)
    except UsageError:
        return
    assert isinstance(result, c.Command)
    if isinstance(result, c.AddChip):
        # Whatever got through is a literal: no query syntax survives into a chip.
        assert not set(result.chip.value) & set(":()[]{}*?^~\\")
        ref = result.chip.ref
        assert ref is None or re.fullmatch(r"openalex:A[0-9]{1,12}", ref)
    if isinstance(result, c.Pick):
        assert result.author_id is None or re.fullmatch(r"A[0-9]{1,12}", result.author_id)
    if isinstance(result, c.Ask):
        assert result.question and (result.card is None) != (result.arxiv_id is None)
        assert result.arxiv_id is None or re.fullmatch(
            r"[0-9]{4}\.[0-9]{4,5}|[a-z-]+/[0-9]{7}", result.arxiv_id
        )


@pytest.mark.parametrize(
    ("line", "changes"),
    [
        ("author Yehui Tang", True),
        ("keyword distillation", True),
        ("keyword -survey", True),
        ("category cs.CL", True),
        ("source arxiv", True),
        ("pick 1", True),
        ("remove 2", True),
        ("clear", True),
        ("schedule 09:00 UTC", True),
        ("schedule off", True),
        ("cap 3", True),
        ("brief every week", True),
        ("brief off", True),
        ("", False),
        ("help", False),
        ("digest", False),
        ("shuffle 3", False),
        ("filter since:7d", False),
        ("brief", False),
        ("brief protein folding", False),
        ("ask 2 why?", False),
    ],
)
def test_changes_radar_names_exactly_the_commands_that_change_a_radar(
    line: str, changes: bool
) -> None:
    """Adapters and the core ask this one predicate which commands need the
    [permissions] policy's consent: reading, views, briefings and questions never do."""
    assert c.changes_radar(c.parse(line)) is changes
