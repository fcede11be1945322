"""The export: a brag document in Markdown over a date range. Pure: no clock, no I/O.

`/coach export [range]` → :func:`parse_export_range` → :func:`brag_document`, uploaded privately
as :func:`export_filename`. Wins are grouped by lane (🧭 created clarity first, since that is what
the product is about), then by the local month they happened in, in the PM's own time zone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from bot.domain.weeks import zone
from bot.domain.wins import Lane, Win

MAX_RANGE_YEARS = 3
FILENAME_PREFIX = "pm-coach-brag"

RangeKind = Literal["month", "quarter", "year", "custom"]

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# Clarity first: the document leads with the work the product is about.
LANE_ORDER = (Lane.CLARITY, Lane.SHIPPED)


# Ranges -----------------------------------------------------------------------------------------


class ExportRangeError(ValueError):
    """The PM's range cannot be exported; `code` picks the friendly explanation.

    Codes: ``bad_range`` (not understood), ``reversed`` (end before start), ``too_long`` (over
    three years), ``future`` (starts after today).
    """

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ExportRange:
    """Inclusive local dates and a human label ("November 2026", "Q4 2026", "2026", …)."""

    start: date
    end: date
    label: str
    kind: RangeKind = "custom"


_DATE = r"([0-9]{4}-[0-9]{2}-[0-9]{2})"
_DATE_RANGE = re.compile(rf"{_DATE}(?:\s*\.\.\s*|\s+to\s+){_DATE}", re.ASCII)

_Which = Literal["this", "last"]
_Unit = Literal["month", "quarter", "year"]
_WHICH: tuple[_Which, ...] = ("this", "last")
_UNITS: tuple[_Unit, ...] = ("month", "quarter", "year")
_PERIOD_WORDS: dict[str, tuple[_Which, _Unit]] = {
    "": ("this", "month"),
    "this": ("this", "month"),
    "last": ("last", "month"),
    **{unit: ("this", unit) for unit in _UNITS},
    **{f"{which} {unit}": (which, unit) for which in _WHICH for unit in _UNITS},
}


def _month_end(year: int, month: int) -> date:
    first_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return first_next - timedelta(days=1)


def _quarter_of(day: date) -> int:
    return (day.month - 1) // 3 + 1


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return date(day.year + years, 3, 1)


def _calendar_range(which: _Which, unit: _Unit, today: date) -> ExportRange:
    """A calendar period; "this …" ends today (never in the future), "last …" is whole."""
    if unit == "month":
        start = today.replace(day=1)
        if which == "last":
            start = (start - timedelta(days=1)).replace(day=1)
        end = _month_end(start.year, start.month)
        label = f"{_MONTHS[start.month - 1]} {start.year}"
    elif unit == "quarter":
        quarter, year = _quarter_of(today), today.year
        if which == "last":
            quarter, year = (4, year - 1) if quarter == 1 else (quarter - 1, year)
        start = date(year, 3 * quarter - 2, 1)
        end = _month_end(year, 3 * quarter)
        label = f"Q{quarter} {year}"
    else:
        year = today.year - (1 if which == "last" else 0)
        start, end = date(year, 1, 1), date(year, 12, 31)
        label = str(year)
    return ExportRange(start=start, end=min(end, today), label=label, kind=unit)


EARLIEST_YEAR = 2000


def parse_export_range(args: str, today: date) -> ExportRange:
    """What follows `/coach export`, as an inclusive range of the PM's local dates.

    Accepts "" (this month), "this|last month|quarter|year", "month|quarter|year" (this one),
    "this"/"last" alone (a month), and "YYYY-MM-DD..YYYY-MM-DD" (also "… to …"). Case and extra
    spaces do not matter. Raises :class:`ExportRangeError` otherwise.
    """
    words = " ".join(args.split()).lower()
    period = _PERIOD_WORDS.get(words)
    if period is not None:
        return _calendar_range(period[0], period[1], today)
    match = _DATE_RANGE.fullmatch(words)
    if match is None:
        raise ExportRangeError("bad_range", args.strip())
    try:
        start, end = date.fromisoformat(match.group(1)), date.fromisoformat(match.group(2))
    except ValueError as exc:  # e.g. 2026-02-30
        raise ExportRangeError("bad_range", args.strip()) from exc
    if start.year < EARLIEST_YEAR:  # nothing was logged then; also keeps date math in range
        raise ExportRangeError("bad_range", args.strip())
    if end < start:
        raise ExportRangeError("reversed", f"{start.isoformat()}..{end.isoformat()}")
    if start > today:
        raise ExportRangeError("future", start.isoformat())
    if end >= _add_years(start, MAX_RANGE_YEARS):
        raise ExportRangeError("too_long", f"{start.isoformat()}..{end.isoformat()}")
    label = f"{start.isoformat()} to {end.isoformat()}"
    return ExportRange(start=start, end=end, label=label, kind="custom")


def export_filename(rng: ExportRange) -> str:
    """The upload's file name, e.g. ``pm-coach-brag-2026-11.md`` or ``…-2026-Q4.md``."""
    if rng.kind == "month":
        stem = f"{rng.start.year}-{rng.start.month:02d}"
    elif rng.kind == "quarter":
        stem = f"{rng.start.year}-Q{_quarter_of(rng.start)}"
    elif rng.kind == "year":
        stem = str(rng.start.year)
    else:
        stem = f"{rng.start.isoformat()}_{rng.end.isoformat()}"
    return f"{FILENAME_PREFIX}-{stem}.md"


# Markdown safety ---------------------------------------------------------------------------------

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# A line that Markdown would read as structure: heading, list item, thematic break, setext
# underline, block quote, or a code fence (ordered items and "___" breaks are matched below).
_BLOCK_START = re.compile(r"[#>*+=\-]|~~~|```")
_UNDERSCORE_BREAK = re.compile(r"(?:_[ \t]*){3,}")
_ORDERED_ITEM = re.compile(r"([0-9]{1,9})([.)])", re.ASCII)
_URL_UNSAFE = re.compile(r"[\s()<>\[\]\\\x00-\x1f\x7f]")
_HOST_UNSAFE = re.compile(r"[\s()<>\\\x00-\x1f\x7f]")  # brackets allowed: IPv6


def _indent_width(prefix: str, column: int) -> int:
    """Columns `prefix` spans when it starts at `column` (tab stops every 4 columns)."""
    end = column
    for c in prefix:
        end = (end // 4 + 1) * 4 if c == "\t" else end + 1
    return end - column


def escape_block_line(line: str, column: int = 0) -> str:
    """`line` unchanged, except a backslash where Markdown would start a block structure.

    `column` is where the line's content starts in the output (2 inside a bullet or a quote),
    which matters for how wide a leading tab is.
    """
    body = line.lstrip(" \t")
    lead = line[: len(line) - len(body)]
    if _indent_width(lead, column) >= 4:  # further in: continuation or code, never structure
        return line
    if _BLOCK_START.match(body) or _UNDERSCORE_BREAK.fullmatch(body):
        return f"{lead}\\{body}"
    ordered = _ORDERED_ITEM.match(body)
    if ordered:
        return f"{lead}{ordered.group(1)}\\{body[ordered.end(1) :]}"
    return line


def _lines(text: str) -> list[str]:
    lines = _LINE_BREAK.split(text)
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    while len(lines) > 1 and not lines[0].strip():
        lines.pop(0)
    return lines


def _one_line(text: str) -> str:
    return " ".join(text.split())


def bullet_text(text: str) -> str:
    """The PM's text as the body of a ``- `` bullet: kept exactly, but safe for the list.

    The first line follows the bullet's own prefix, so it cannot start a block; later lines
    are indented by two spaces (a continuation of the same item) and structure-escaped.
    """
    first, *rest = _lines(text)
    out = [first]
    out.extend(f"  {escape_block_line(line, 2)}" if line.strip() else "" for line in rest)
    return "\n".join(out)


def markdown_url(url: str) -> str | None:
    """`url` safe inside ``[link](…)``, or None when it is not an http(s) URL."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # Keep the host as is (an IPv6 host needs its brackets); encode the rest where needed.
    host_end = url.find(parts.netloc) + len(parts.netloc)
    head, tail = url[:host_end], url[host_end:]
    if _HOST_UNSAFE.search(head):
        return None
    return head + _URL_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m[0].encode()), tail)


def _code_span(text: str) -> str:
    text = _one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _emphasis(text: str) -> str:
    text = _one_line(text).replace("\\", "\\\\").replace("*", "\\*")
    return f"*{text}*" if text else ""


# The document -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reflection:
    """A private answer to a reflection prompt; exported only when the PM asks for it."""

    at: datetime
    prompt: str
    text: str


def _short_date(day: date) -> str:
    return f"{_MONTHS[day.month - 1][:3]} {day.day}"


def _long_date(day: date) -> str:
    return f"{_short_date(day)}, {day.year}"


def _period(rng: ExportRange) -> str:
    if rng.start == rng.end:
        return _long_date(rng.start)
    if rng.start.year == rng.end.year:
        return f"{_short_date(rng.start)} – {_long_date(rng.end)}"
    return f"{_long_date(rng.start)} – {_long_date(rng.end)}"


def _percent(part: int, whole: int) -> int:
    """`part` of `whole` in whole percent, halves rounded up (3 of 8 → 38)."""
    return (200 * part + whole) // (2 * whole)


def _summary(counts: dict[Lane, int]) -> str:
    total = sum(counts.values())
    clarity, shipped = counts[Lane.CLARITY], counts[Lane.SHIPPED]
    noun = "win" if total == 1 else "wins"
    return (
        f"{total} {noun}: {clarity} {Lane.CLARITY.emoji} created clarity, "
        f"{shipped} {Lane.SHIPPED.emoji} shipped ({_percent(clarity, total)}% clarity)"
    )


def _win_bullet(win: Win, day: date) -> str:
    line = f"- {_short_date(day)} — {bullet_text(win.text)}"
    if win.link:
        url = markdown_url(win.link)
        line += f" ([link]({url}))" if url else f" ({_code_span(win.link)})"
    if win.beneficiary and win.beneficiary.strip():
        line += f" — for {_one_line(win.beneficiary)}"
    return line


def _lane_section(lane: Lane, dated: list[tuple[date, Win]]) -> list[str]:
    out = [f"## {lane.emoji} {lane.label} ({len(dated)})"]
    month: tuple[int, int] | None = None
    for day, win in dated:
        if (day.year, day.month) != month:
            month = (day.year, day.month)
            out += ["", f"### {_MONTHS[day.month - 1]} {day.year}", ""]
        out.append(_win_bullet(win, day))
    return out


def _reflections_section(reflections: Sequence[Reflection], rng: ExportRange, tz: str) -> list[str]:
    tzinfo = zone(tz)
    dated = sorted(
        ((r.at.astimezone(tzinfo).date(), r) for r in reflections if _aware(r.at)),
        key=lambda pair: pair[1].at,
    )
    dated = [(day, r) for day, r in dated if rng.start <= day <= rng.end]
    out = ["## Reflections", ""]
    if not dated:
        return [*out, "_No reflections were answered in this period._"]
    for i, (day, reflection) in enumerate(dated):
        if i:
            out.append("")
        heading = f"**{_long_date(day)}**"
        prompt = _emphasis(reflection.prompt)
        out += [f"{heading} — {prompt}" if prompt else heading, ""]
        out += [
            f"> {escape_block_line(line, 2)}" if line.strip() else ">"
            for line in _lines(reflection.text)
        ]
    return out


def _aware(instant: datetime) -> bool:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("datetimes in an export must be timezone-aware")
    return True


def brag_document(
    wins: Sequence[Win],
    rng: ExportRange,
    *,
    tz: str,
    person: str,
    generated_at: datetime,
    reflections: Sequence[Reflection] = (),
    include_reflections: bool = False,
) -> str:
    """The PM's wins in `rng` (local dates in `tz`) as Markdown ready for a review document.

    Wins outside the range are ignored. Reflections appear only with `include_reflections`.
    """
    _aware(generated_at)
    tzinfo = zone(tz)
    dated = sorted(
        ((w.at.astimezone(tzinfo).date(), w) for w in wins if _aware(w.at)),
        key=lambda pair: (pair[1].at, pair[1].id),
    )
    dated = [(day, w) for day, w in dated if rng.start <= day <= rng.end]
    by_lane = {lane: [(d, w) for d, w in dated if w.lane is lane] for lane in LANE_ORDER}

    who = escape_block_line(_one_line(person))
    out = [f"# Brag document — {rng.label}", ""]
    out += [f"{who} · {_period(rng)}" if who else _period(rng), ""]
    if dated:
        out += [f"**{_summary({lane: len(ws) for lane, ws in by_lane.items()})}**", ""]
        for lane in LANE_ORDER:
            if by_lane[lane]:
                out += [*_lane_section(lane, by_lane[lane]), ""]
    else:
        out += [
            f"Nothing was logged for {rng.label} — no wins to show yet.",
            "",
            "Next time something moves, log it with `/win` (for example "
            "`/win clarity Framed the pricing question so the team could decide`), "
            "and it will be waiting for you here.",
            "",
        ]
    if include_reflections:
        out += [*_reflections_section(reflections, rng, tz), ""]
    local = generated_at.astimezone(tzinfo)
    out += [
        "---",
        "",
        f"_Generated by PM Coach on {_long_date(local.date())} at {local:%H:%M} ({tzinfo.key})._",
    ]
    return "\n".join(out) + "\n"
