"""Block Kit builders: escaping and Slack's length limits."""

from __future__ import annotations


def test_not_saved_hands_back_the_whole_text() -> None:
    """Even a 3,000-character win with characters that grow when escaped comes back whole."""
    from bot.surfaces.blocks import not_saved

    text = "&<>" * 1000
    _, blocks = not_saved(text)
    echoed = "".join(b["text"]["text"].strip("`") for b in blocks[1:])
    assert echoed == text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks)


def test_quoted_win_fits_its_budget_after_escaping() -> None:
    from bot.surfaces.blocks import quoted_win

    for text in ["&" * 3000, "a b " * 750, "<@U1> " * 500, "x" * 3000]:
        quoted = quoted_win(text, 2500)
        assert len(quoted) <= 2500 and quoted.endswith("…")
        assert "<" not in quoted and "&amp" not in quoted.replace("&amp;", "")
