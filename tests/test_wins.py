"""Parsing `/win`, validating input, and suggesting a lane."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain.wins import (
    Lane,
    WinCommand,
    WinInputError,
    parse_win_command,
    suggest_lane,
    validate_backdate,
    validate_link,
    validate_text,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("shipped Launched onboarding", WinCommand(Lane.SHIPPED, "Launched onboarding")),
        ("ship Launched", WinCommand(Lane.SHIPPED, "Launched")),
        ("s Launched", WinCommand(Lane.SHIPPED, "Launched")),
        ("🚀 Launched", WinCommand(Lane.SHIPPED, "Launched")),
        (":rocket: Launched", WinCommand(Lane.SHIPPED, "Launched")),
        ("SHIPPED: Launched", WinCommand(Lane.SHIPPED, "Launched")),
        ("clarity Framed the bet", WinCommand(Lane.CLARITY, "Framed the bet")),
        ("c Framed", WinCommand(Lane.CLARITY, "Framed")),
        ("🧭 Framed", WinCommand(Lane.CLARITY, "Framed")),
        (":compass:\tFramed\nthe   bet", WinCommand(Lane.CLARITY, "Framed\nthe   bet")),
        ("Framed the bet", WinCommand(None, "Framed the bet")),
        ("shipments are late", WinCommand(None, "shipments are late")),
        ("", WinCommand(None, "")),
        ("   ", WinCommand(None, "")),
    ],
)
def test_parse_win_command(raw: str, expected: WinCommand) -> None:
    """Lane aliases are recognised; the rest of the text is kept as typed."""
    assert parse_win_command(raw) == expected


def test_lane_without_text_is_an_error() -> None:
    with pytest.raises(WinInputError) as info:
        parse_win_command("clarity   ")
    assert info.value.code == "blank_with_lane" and info.value.detail == "clarity"


def test_text_limits() -> None:
    assert validate_text("x" * 3000) == "x" * 3000
    with pytest.raises(WinInputError, match="too_long"):
        validate_text("x" * 3001)
    with pytest.raises(WinInputError, match="blank"):
        validate_text(" \n\t ")


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "ftp://x",
        "https://",
        "https://a b",
        "https://x.y/<!channel>",
        "https://example.com/\u202egnp.exe",  # a right-to-left override disguises the target
        "https://example.com/a\x00b",
        "https://exa\u200bmple.com/",
    ],
)
def test_bad_links_refused(link: str) -> None:
    with pytest.raises(WinInputError, match="bad_link"):
        validate_link(link)


def test_good_link_kept() -> None:
    assert validate_link(" https://docs.example.com/x?y=1 ") == "https://docs.example.com/x?y=1"
    assert validate_link("") is None


def test_backdate_window() -> None:
    today = date(2026, 11, 25)
    assert validate_backdate(date(2026, 1, 1), today) == date(2026, 1, 1)
    with pytest.raises(WinInputError, match="future_date"):
        validate_backdate(date(2026, 11, 26), today)
    with pytest.raises(WinInputError, match="date_too_old"):
        validate_backdate(date(2025, 11, 1), today)


@pytest.mark.parametrize(
    ("text", "lane"),
    [
        ("Aligned sales and eng on why we do the Q3 bet", Lane.CLARITY),
        ("Decided to cut scope of v2 after framing the problem", Lane.CLARITY),
        ("Unblocked the data team with a clear strategy memo", Lane.CLARITY),
        ("Launched the new onboarding flow", Lane.SHIPPED),
        ("Fixed the login bug and released 2.3", Lane.SHIPPED),
        ("Shipped dark mode", Lane.SHIPPED),
        ("Had lunch", None),
    ],
)
def test_suggest_lane(text: str, lane: Lane | None) -> None:
    """The wording suggests a lane with a confidence; no hint gives no suggestion."""
    suggestion = suggest_lane(text)
    assert suggestion.lane == lane
    assert (suggestion.confidence > 0) == (lane is not None)
