"""Block Kit builders: escaping and Slack's length limits.

The expected escaping is not derived from the product's code: it is either a literal string, or
what `slack_reads` (a small model of how Slack reads mrkdwn) says a reader sees.
"""

from __future__ import annotations

import re

from bot.surfaces.blocks import escape, not_saved, quoted_win, section

_ENTITY = re.compile(r"&(amp|lt|gt);")
_SHOWN_AS = {"amp": "&", "lt": "<", "gt": ">"}


def slack_reads(mrkdwn: str) -> tuple[str, list[str]]:
    """How Slack reads a mrkdwn string: every `<…>` is a control sequence it acts on (a mention
    `<@U…>`, a broadcast `<!channel>`, a channel `<#C…>`, a link `<http…|label>`), and the
    entities `&amp;`, `&lt;` and `&gt;` show as `&`, `<` and `>` (in one pass: `&amp;lt;` shows
    as `&lt;`). Returns the text a reader sees and the control sequences."""
    controls = re.findall(r"<[^>]*>?", mrkdwn)
    shown = _ENTITY.sub(lambda entity: _SHOWN_AS[entity.group(1)], mrkdwn)
    return shown, controls


HOSTILE = [
    "<!channel> please look",
    "<!here|here> & <!everyone>",
    "thanks <@U0VICTIM|victim> and <@W0VICTIM2>",
    "see <#C0SECRET|secret-plans>",
    "<https://evil.example/login|Click to verify>",
    "<!subteam^S0TEAM1|@product>",
    "&lt;!channel&gt; typed pre-escaped",
    "&amp;lt;!here&amp;gt; typed double-escaped",
    "a < b && c > d",
    "<<!channel>>",
    "&",
    "<",
    ">",
]


def test_escape_as_slack_asks_for_user_text() -> None:
    assert escape("<!channel> & <@U0VICTIM|v>") == "&lt;!channel&gt; &amp; &lt;@U0VICTIM|v&gt;"
    assert escape("<https://x.example|y>") == "&lt;https://x.example|y&gt;"
    assert escape("&lt; typed") == "&amp;lt; typed"
    assert escape("plain *bold* _it_ ~s~ `c`") == "plain *bold* _it_ ~s~ `c`"


def test_a_section_shows_hostile_text_as_typed_and_acts_on_nothing() -> None:
    for text in HOSTILE:
        shown, controls = slack_reads(section(escape(text))["text"]["text"])
        assert controls == [], text
        assert shown == text


def test_not_saved_hands_back_the_whole_text() -> None:
    """Even a 3,000-character win with characters that grow when escaped comes back whole."""
    text = "&<>" * 1000
    _, blocks = not_saved(text)
    echoed = [block["text"]["text"] for block in blocks[1:]]
    assert echoed[0].startswith("```&amp;&lt;&gt;&amp;&lt;&gt;")
    assert all(part.startswith("```") and part.endswith("```") for part in echoed)
    reads = [slack_reads(part[3:-3]) for part in echoed]
    assert [controls for _, controls in reads if controls] == []
    assert "".join(shown for shown, _ in reads) == text
    assert all(len(block["text"]["text"]) <= 3000 for block in blocks)


def test_quoted_win_fits_its_budget_after_escaping() -> None:
    assert quoted_win("shipped <!here> & fixed", 100) == "shipped &lt;!here&gt; &amp; fixed"
    assert quoted_win("ab&cd", 8) == "ab&amp;…"
    for text in ["&" * 3000, "a b " * 750, "<@U1> " * 500, "x" * 3000]:
        quoted = quoted_win(text, 2500)
        assert len(quoted) <= 2500 and quoted.endswith("…")
        shown, controls = slack_reads(quoted[:-1])
        assert controls == [], text[:20]
        assert text.startswith(shown), text[:20]  # a prefix as typed, no entity cut in half
        assert len(quoted) > 2400  # the budget is used, not wasted
