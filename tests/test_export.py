"""The export: range parsing, the brag document's structure, Markdown safety and file names."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.export import (
    ExportRange,
    ExportRangeError,
    Reflection,
    brag_document,
    bullet_text,
    escape_block_line,
    export_filename,
    markdown_url,
    parse_export_range,
)
from bot.domain.wins import Lane, Win

TODAY = date(2026, 11, 16)
GENERATED = datetime(2026, 11, 16, 13, 5, tzinfo=UTC)


def make_win(
    at: datetime,
    text: str = "Did a thing",
    lane: Lane = Lane.CLARITY,
    *,
    link: str | None = None,
    beneficiary: str | None = None,
    win_id: str | None = None,
) -> Win:
    return Win(
        id=win_id or f"w{at.timestamp():.0f}{lane.value}",
        team_id="T1",
        user_id="U1",
        lane=lane,
        text=text,
        at=at,
        week="2026-W01",  # not used by the export
        logged_at=at,
        link=link,
        beneficiary=beneficiary,
    )


def utc(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def document(
    wins: list[Win],
    rng: ExportRange,
    tz: str = "UTC",
    *,
    reflections: list[Reflection] | None = None,
    include_reflections: bool = False,
) -> str:
    return brag_document(
        wins,
        rng,
        tz=tz,
        person="Dana",
        generated_at=GENERATED,
        reflections=reflections or [],
        include_reflections=include_reflections,
    )


# Range parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "today", "start", "end", "label"),
    [
        # This month (the default), ending today, however it is spelled.
        ("", TODAY, date(2026, 11, 1), TODAY, "November 2026"),
        ("this month", TODAY, date(2026, 11, 1), TODAY, "November 2026"),
        ("  THIS   Month ", TODAY, date(2026, 11, 1), TODAY, "November 2026"),
        ("month", TODAY, date(2026, 11, 1), TODAY, "November 2026"),
        ("this", TODAY, date(2026, 11, 1), TODAY, "November 2026"),
        ("this month", date(2026, 11, 1), date(2026, 11, 1), date(2026, 11, 1), "November 2026"),
        ("this month", date(2024, 2, 29), date(2024, 2, 1), date(2024, 2, 29), "February 2024"),
        # Last month: the whole previous month, across a year end and a leap February.
        ("last", TODAY, date(2026, 10, 1), date(2026, 10, 31), "October 2026"),
        ("last month", date(2026, 1, 10), date(2025, 12, 1), date(2025, 12, 31), "December 2025"),
        ("Last Month", date(2024, 3, 31), date(2024, 2, 1), date(2024, 2, 29), "February 2024"),
        ("last month", date(2026, 3, 1), date(2026, 2, 1), date(2026, 2, 28), "February 2026"),
        # Quarters: Q1 = Jan–Mar; "this" ends today, "last" is the whole previous quarter.
        ("this quarter", TODAY, date(2026, 10, 1), TODAY, "Q4 2026"),
        ("quarter", date(2026, 3, 31), date(2026, 1, 1), date(2026, 3, 31), "Q1 2026"),
        ("this quarter", date(2026, 4, 1), date(2026, 4, 1), date(2026, 4, 1), "Q2 2026"),
        ("last quarter", date(2026, 2, 10), date(2025, 10, 1), date(2025, 12, 31), "Q4 2025"),
        ("last quarter", date(2026, 7, 1), date(2026, 4, 1), date(2026, 6, 30), "Q2 2026"),
        ("last quarter", date(2026, 6, 30), date(2026, 1, 1), date(2026, 3, 31), "Q1 2026"),
        # Years.
        ("this year", TODAY, date(2026, 1, 1), TODAY, "2026"),
        ("YEAR", date(2026, 1, 1), date(2026, 1, 1), date(2026, 1, 1), "2026"),
        ("last year", date(2026, 1, 1), date(2025, 1, 1), date(2025, 12, 31), "2025"),
        # Explicit ranges, inclusive, with or without spaces around "..".
        (
            "2026-01-05..2026-02-10",
            TODAY,
            date(2026, 1, 5),
            date(2026, 2, 10),
            "2026-01-05 to 2026-02-10",
        ),
        (
            " 2026-01-05 .. 2026-02-10 ",
            TODAY,
            date(2026, 1, 5),
            date(2026, 2, 10),
            "2026-01-05 to 2026-02-10",
        ),
        (
            "2024-02-29..2024-02-29",
            TODAY,
            date(2024, 2, 29),
            date(2024, 2, 29),
            "2024-02-29 to 2024-02-29",
        ),
        # Exactly three years is still allowed.
        (
            "2023-11-17..2026-11-16",
            TODAY,
            date(2023, 11, 17),
            date(2026, 11, 16),
            "2023-11-17 to 2026-11-16",
        ),
    ],
)
def test_parse_export_range(args: str, today: date, start: date, end: date, label: str) -> None:
    """Each accepted spelling maps to the right inclusive local dates and label."""
    rng = parse_export_range(args, today)
    assert (rng.start, rng.end, rng.label) == (start, end, label)
    assert rng.end <= today or rng.label.count(" to ") == 1


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ("next month", "bad_range"),
        ("lastmonth", "bad_range"),
        ("last week", "bad_range"),
        ("november", "bad_range"),
        ("2026-01-05", "bad_range"),
        ("2026-1-5..2026-2-10", "bad_range"),
        ("2026-01-05...2026-02-10", "bad_range"),
        ("2026-02-30..2026-03-01", "bad_range"),
        ("2025-02-29..2025-03-01", "bad_range"),
        ("٢٠٢٦-٠١-٠٥..٢٠٢٦-٠٢-١٠", "bad_range"),  # non-ASCII digits
        ("2026-02-10..2026-01-05", "reversed"),
        ("2026-12-10..2026-12-01", "reversed"),  # reversed wins over future
        ("2023-11-16..2026-11-16", "too_long"),
        ("2020-01-01..2026-01-01", "too_long"),
        ("2026-11-17..2026-12-01", "future"),
    ],
)
def test_parse_export_range_errors(args: str, code: str) -> None:
    """Every input that cannot be exported raises ExportRangeError with its specific code."""
    with pytest.raises(ExportRangeError) as info:
        parse_export_range(args, TODAY)
    assert info.value.code == code
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("args", "today", "filename"),
    [
        ("", TODAY, "pm-coach-brag-2026-11.md"),
        ("last month", date(2026, 1, 3), "pm-coach-brag-2025-12.md"),
        ("this quarter", TODAY, "pm-coach-brag-2026-Q4.md"),
        ("last quarter", date(2026, 2, 1), "pm-coach-brag-2025-Q4.md"),
        ("this year", TODAY, "pm-coach-brag-2026.md"),
        ("last year", TODAY, "pm-coach-brag-2025.md"),
        ("2026-01-05..2026-02-10", TODAY, "pm-coach-brag-2026-01-05_2026-02-10.md"),
    ],
)
def test_export_filename(args: str, today: date, filename: str) -> None:
    """The upload's file name names the period by its kind: month, quarter, year or dates."""
    assert export_filename(parse_export_range(args, today)) == filename


# The document -----------------------------------------------------------------------------------

NOV_Q = ExportRange(date(2026, 10, 1), date(2026, 12, 31), "Q4 2026", "quarter")


def test_grouped_by_lane_then_month_with_clarity_first() -> None:
    """Clarity comes before shipped; inside each lane months and wins are in time order."""
    wins = [  # ids sort against time, so only the time can give the order
        make_win(utc(2026, 11, 20), "Shipped the importer", Lane.SHIPPED, win_id="a"),
        make_win(utc(2026, 11, 3), "Framed the pricing question", win_id="b"),
        make_win(utc(2026, 10, 7), "Released search v2", Lane.SHIPPED, win_id="c"),
        make_win(utc(2026, 10, 2), "Cut the admin scope", win_id="e"),
        make_win(utc(2026, 11, 1), "Aligned sales on the roadmap", win_id="d"),
    ]
    doc = document(wins, NOV_Q)
    markers = [
        "## 🧭 Created clarity (3)",
        "### October 2026",
        "- Oct 2 — Cut the admin scope",
        "### November 2026",
        "- Nov 1 — Aligned sales on the roadmap",
        "- Nov 3 — Framed the pricing question",
        "## 🚀 Shipped (2)",
        "### October 2026",
        "- Oct 7 — Released search v2",
        "### November 2026",
        "- Nov 20 — Shipped the importer",
        "Generated by PM Coach",
    ]
    positions: list[int] = []
    for marker in markers:
        found = doc.find(marker, positions[-1] + 1 if positions else 0)
        assert found >= 0, f"{marker!r} missing or out of order"
        positions.append(found)
    assert doc.startswith("# Brag document — Q4 2026\n")
    assert "**5 wins: 3 🧭 created clarity, 2 🚀 shipped (60% clarity)**" in doc
    assert doc.count("### ") == 4


@pytest.mark.parametrize(
    ("clarity", "shipped", "summary"),
    [
        (6, 8, "14 wins: 6 🧭 created clarity, 8 🚀 shipped (43% clarity)"),
        (1, 7, "8 wins: 1 🧭 created clarity, 7 🚀 shipped (13% clarity)"),  # 12.5 rounds up
        (0, 1, "1 win: 0 🧭 created clarity, 1 🚀 shipped (0% clarity)"),
        (2, 0, "2 wins: 2 🧭 created clarity, 0 🚀 shipped (100% clarity)"),
    ],
)
def test_summary_counts_and_clarity_share(clarity: int, shipped: int, summary: str) -> None:
    """The one-line summary counts each lane and gives the clarity share in whole percent."""
    start = utc(2026, 11, 1)
    wins = [make_win(start + timedelta(hours=i)) for i in range(clarity)]
    wins += [make_win(start + timedelta(hours=i), lane=Lane.SHIPPED) for i in range(shipped)]
    assert f"**{summary}**" in document(wins, NOV_Q)


def test_empty_lane_is_left_out() -> None:
    """A lane without wins in the period gets no section (nothing empty to paste)."""
    doc = document([make_win(utc(2026, 11, 3), "Shipped it", Lane.SHIPPED)], NOV_Q)
    assert "## 🚀 Shipped (1)" in doc
    assert "Created clarity (" not in doc


@pytest.mark.parametrize(
    ("tz", "month_heading", "day"),
    [
        ("Europe/Berlin", "### December 2026", "- Dec 1 — Late call"),
        ("America/New_York", "### November 2026", "- Nov 30 — Late call"),
        ("UTC", "### November 2026", "- Nov 30 — Late call"),
    ],
)
def test_local_month_across_zone_boundary(tz: str, month_heading: str, day: str) -> None:
    """A win is filed under the month and date it happened on the PM's own wall clock."""
    win = make_win(utc(2026, 11, 30, 23, 30), "Late call")
    doc = document([win], NOV_Q, tz=tz)
    assert month_heading in doc
    assert day in doc
    assert doc.count("### ") == 1


def test_range_filter_uses_local_dates() -> None:
    """Only wins whose local date is inside the inclusive range appear, whatever the caller sent."""
    november = ExportRange(date(2026, 11, 1), date(2026, 11, 30), "November 2026", "month")
    wins = [
        make_win(utc(2026, 11, 30, 23, 30), "Edge of the month"),  # Dec 1 in Berlin
        make_win(utc(2026, 10, 31, 23, 30), "Halloween night"),  # Nov 1 in Berlin
        make_win(utc(2026, 11, 30, 22, 59), "Last minute"),  # Nov 30, 23:59 in Berlin
        make_win(utc(2026, 10, 15), "Long before"),
    ]
    berlin = document(wins, november, tz="Europe/Berlin")
    assert "Halloween night" in berlin
    assert "Last minute" in berlin
    assert "Edge of the month" not in berlin
    assert "Long before" not in berlin
    new_york = document(wins, november, tz="America/New_York")
    assert "Edge of the month" in new_york
    assert "Halloween night" not in new_york  # Oct 31 evening in New York


def test_text_is_kept_exactly() -> None:
    """Slack tokens, ampersands, emoji, RTL marks and inline Markdown reach the doc untouched."""
    text = "Got <!channel> & <@U123> to agree 🎉 on \u200fשלום\u200e *the* `why` [x](y) 3 < 4"
    doc = document([make_win(utc(2026, 11, 3), text)], NOV_Q)
    assert f"- Nov 3 — {text}\n" in doc


def test_multiline_text_is_an_indented_continuation_with_structure_escaped() -> None:
    """Later lines stay inside the same bullet and cannot become headings, lists, quotes or code."""
    text = (
        "# Aligned on pricing\n"
        "## not a heading\n"
        "- option A\n"
        "* option B\n"
        "+ option C\n"
        "> a quote\n"
        "1. first\n"
        "12) twelfth\n"
        "```\n"
        "~~~\n"
        "===\n"
        "___\n"
        "   # indented heading\n"
        "\t# a tab after the bullet indent is only two columns\n"
        "    # four spaces is not a heading\n"
        "\n"
        "plain 2026 line\r\n"
        "last line"
    )
    doc = document([make_win(utc(2026, 11, 3), text)], NOV_Q)
    expected = (
        "- Nov 3 — # Aligned on pricing\n"
        "  \\## not a heading\n"
        "  \\- option A\n"
        "  \\* option B\n"
        "  \\+ option C\n"
        "  \\> a quote\n"
        "  1\\. first\n"
        "  12\\) twelfth\n"
        "  \\```\n"
        "  \\~~~\n"
        "  \\===\n"
        "  \\___\n"
        "     \\# indented heading\n"
        "  \t\\# a tab after the bullet indent is only two columns\n"
        "      # four spaces is not a heading\n"
        "\n"
        "  plain 2026 line\n"
        "  last line\n"
    )
    assert expected in doc


@pytest.mark.parametrize(
    ("line", "escaped"),
    [
        ("#tag at start", "\\#tag at start"),
        ("-", "\\-"),
        ("--- rule", "\\--- rule"),
        ("2026 was good", "2026 was good"),
        ("3.5x faster", "3\\.5x faster"),
        ("_emphasis_ stays", "_emphasis_ stays"),
        ("_ _ _", "\\_ _ _"),
        ("    # four spaces is not a heading", "    # four spaces is not a heading"),
        ("\t- a tab is four columns", "\t- a tab is four columns"),
        ("mid-line # and - are fine", "mid-line # and - are fine"),
        ("``inline`` code", "``inline`` code"),
    ],
)
def test_escape_block_line(line: str, escaped: str) -> None:
    """Only a line that Markdown would read as structure gets one backslash; others stay as is."""
    assert escape_block_line(line) == escaped


_STRUCTURE = re.compile(r" {0,3}(?:[#>*+=-]|[0-9]{1,9}[.)]|```|~~~|(?:_[ \t]*){3,}$)")


@given(st.text(alphabet=st.sampled_from("#-*+>=_`~1. \tab\n\r)"), min_size=1, max_size=60))
def test_bullet_text_never_breaks_the_list(text: str) -> None:
    """For any text, later lines are indented and unescaped structure never starts a line."""
    if not text.strip():
        return
    first, *rest = bullet_text(text).split("\n")
    assert "\r" not in first
    for line in rest:
        assert line == "" or line.startswith("  ")
        assert not _STRUCTURE.match(line.expandtabs(4)[2:]), line


def test_links_and_beneficiaries() -> None:
    """http(s) links become [link](url) with ')' and spaces encoded; others never become links."""
    wins = [
        make_win(
            utc(2026, 11, 3),
            "Wrote the why",
            link="https://docs.example.com/why (v2)",
            beneficiary="the Sales team",
        ),
        make_win(utc(2026, 11, 4), "Plain", beneficiary="Ops\nand Support"),
        make_win(utc(2026, 11, 5), "Sneaky", link="javascript:alert(1)"),
        make_win(utc(2026, 11, 6), "Docs", link="http://example.com/a]b"),
    ]
    doc = document(wins, NOV_Q)
    assert (
        "- Nov 3 — Wrote the why ([link](https://docs.example.com/why%20%28v2%29))"
        " — for the Sales team\n"
    ) in doc
    assert "- Nov 4 — Plain — for Ops and Support\n" in doc
    assert "- Nov 5 — Sneaky (`javascript:alert(1)`)\n" in doc
    assert "](javascript" not in doc
    assert "- Nov 6 — Docs ([link](http://example.com/a%5Db))\n" in doc


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.com/x?q=a b", "https://example.com/x?q=a%20b"),
        ("HTTPS://example.com/(a)", "HTTPS://example.com/%28a%29"),
        ("http://[::1]:8080/p", "http://[::1]:8080/p"),
        ("https://example.com/\u00e9", "https://example.com/\u00e9"),
        ("ftp://example.com/file", None),
        ("mailto:pm@example.com", None),
        ("not a url", None),
    ],
)
def test_markdown_url(url: str, safe: str | None) -> None:
    """Only http(s) URLs are linkable, with characters that would end the link encoded."""
    assert markdown_url(url) == safe


def test_reflections_only_when_asked() -> None:
    """Reflections stay out by default and appear as prompt plus quoted answer on request."""
    wins = [make_win(utc(2026, 11, 3), "Framed the problem")]
    reflections = [
        Reflection(utc(2026, 11, 12), "What did you *let go* of?", "The QA rota.\n# Still mine"),
        Reflection(utc(2026, 11, 5), "Why does this matter?", "Churn."),
        Reflection(utc(2025, 1, 5), "Out of range?", "Should not appear."),
    ]
    default = document(wins, NOV_Q, reflections=reflections)
    assert "Reflections" not in default
    assert "QA rota" not in default
    assert "Churn" not in default

    doc = document(wins, NOV_Q, reflections=reflections, include_reflections=True)
    section = doc[doc.index("## Reflections") :]
    assert "**Nov 5, 2026** — *Why does this matter?*\n\n> Churn.\n" in section
    assert (
        "**Nov 12, 2026** — *What did you \\*let go\\* of?*\n\n> The QA rota.\n> \\# Still mine\n"
    ) in section
    assert section.index("Nov 5, 2026") < section.index("Nov 12, 2026")
    assert "Should not appear" not in doc
    assert doc.index("## 🧭 Created clarity") < doc.index("## Reflections")


def test_reflections_requested_but_none() -> None:
    """Asking for reflections in a period without any says so instead of an empty heading."""
    doc = document([], NOV_Q, include_reflections=True)
    assert "## Reflections\n\n_No reflections were answered in this period._" in doc


def test_empty_range_is_a_friendly_document() -> None:
    """A period without wins still yields a document that says so and points to /win."""
    wins = [make_win(utc(2026, 9, 30), "Outside the quarter")]
    doc = document(wins, NOV_Q)
    assert doc.startswith("# Brag document — Q4 2026\n")
    assert "Nothing was logged for Q4 2026" in doc
    assert "`/win`" in doc
    assert "Outside the quarter" not in doc
    assert "## " not in doc
    assert " wins:" not in doc


def test_footer_uses_local_time_and_zone_name() -> None:
    """The footer says when it was generated on the PM's clock and names the zone."""
    doc = document([], NOV_Q, tz="America/New_York")
    assert doc.endswith(
        "\n---\n\n_Generated by PM Coach on Nov 16, 2026 at 08:05 (America/New_York)._\n"
    )
    assert "_Generated by PM Coach on Nov 16, 2026 at 13:05 (UTC)._" in document(
        [], NOV_Q, tz="Not/AZone"
    )


def test_naive_datetimes_are_refused() -> None:
    """A naive generated_at or win time is a programming error, not a silent UTC guess."""
    naive = datetime(2026, 11, 16, 12, 0)
    with pytest.raises(ValueError, match="aware"):
        brag_document([], NOV_Q, tz="UTC", person="Dana", generated_at=naive)
    with pytest.raises(ValueError):
        document([make_win(naive)], NOV_Q)


def test_person_line_cannot_become_structure() -> None:
    """The PM's display name is shown under the title and escaped if it looks like Markdown."""
    doc = brag_document([], NOV_Q, tz="UTC", person="# Dana\nB", generated_at=GENERATED)
    assert "\n\\# Dana B · Oct 1 – Dec 31, 2026\n" in doc


def test_sample_document_exactly() -> None:
    """The whole document for a small month is exactly the expected Markdown (a golden sample)."""
    rng = parse_export_range("last month", date(2026, 12, 2))
    wins = [
        make_win(utc(2026, 11, 16, 9), "Shipped SSO to all EU customers", Lane.SHIPPED),
        make_win(
            utc(2026, 11, 3, 15),
            "Framed the pricing decision as three options\n- A: keep\n- B: tier",
            link="https://docs.example.com/pricing",
            beneficiary="Leadership",
        ),
        make_win(utc(2026, 11, 30, 23, 30), "Cut the reporting scope", beneficiary="Data team"),
        make_win(utc(2026, 10, 31, 22), "Not in November in Berlin"),
    ]
    doc = brag_document(
        wins,
        rng,
        tz="America/New_York",
        person="Dana Reyes",
        generated_at=utc(2026, 12, 2, 14, 30),
    )
    assert export_filename(rng) == "pm-coach-brag-2026-11.md"
    assert doc == (
        "# Brag document — November 2026\n"
        "\n"
        "Dana Reyes · Nov 1 – Nov 30, 2026\n"
        "\n"
        "**3 wins: 2 🧭 created clarity, 1 🚀 shipped (67% clarity)**\n"
        "\n"
        "## 🧭 Created clarity (2)\n"
        "\n"
        "### November 2026\n"
        "\n"
        "- Nov 3 — Framed the pricing decision as three options\n"
        "  \\- A: keep\n"
        "  \\- B: tier ([link](https://docs.example.com/pricing)) — for Leadership\n"
        "- Nov 30 — Cut the reporting scope — for Data team\n"
        "\n"
        "## 🚀 Shipped (1)\n"
        "\n"
        "### November 2026\n"
        "\n"
        "- Nov 16 — Shipped SSO to all EU customers\n"
        "\n"
        "---\n"
        "\n"
        "_Generated by PM Coach on Dec 2, 2026 at 09:30 (America/New_York)._\n"
    )
