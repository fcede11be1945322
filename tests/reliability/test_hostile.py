"""Hostile input through every text entry point: a fixed corpus of over a hundred nasty texts,
plus Hypothesis-generated ones.

Invariants, for every request:

* never a 5xx or an unhandled exception — every HTTP status is 200 and the JSON log stream
  (captured through the product's own `configure_logging`, so structlog events *and* Bolt's
  stdlib error lines are seen) holds no `listener_failed` / `listener_failed_after_ack` line;
* within the entry point's limit the text is stored exactly (read back from the store) and
  exported exactly (the brag document file);
* over the limit it is refused cleanly, with nothing stored;
* no Web API call, response_url body or HTTP reply holds a live special mention
  (`<!channel`, `<!here`, `<!everyone`, `<!subteam`) or a live `<@id` / `<#id` / `<http…`
  for an id or link the PM typed. Input `initial_value`s (the edit form shows the PM's own text
  back verbatim) and `private_metadata` are never rendered and are not scanned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.fakeslack import FakeSlack, payloads
from bot.surfaces.blocks import (
    ACTION_PICK_CLARITY,
    ACTION_PICK_SHIPPED,
    ACTION_UNDO,
    FIELD_BENEFICIARY,
    FIELD_DATE,
    FIELD_LANE,
    FIELD_LINK,
    FIELD_TEXT,
)
from bot.surfaces.coach_blocks import ACTION_HISTORY_MENU
from bot.surfaces.home import FIELD_PROMPT
from bot.surfaces.nudge_blocks import FIELD_ANSWER
from tests.conftest import TEAM
from tests.driver import Response, SlackDriver, find_action, visible_text
from tests.reliability.conftest import LogCapture, live_mentions, settle

MAX_TEXT = 3000
MAX_PROMPT = 280
MAX_BENEFICIARY = 200
LANE_WORDS = {"shipped", "ship", "s", "🚀", ":rocket:", "clarity", "c", "🧭", ":compass:"}

# The corpus --------------------------------------------------------------------------------

MENTIONS = [
    "<@U0VICTIM>",
    "thanks <@U0VICTIM|victim> for the review",
    "<@W0VICTIM2> enterprise user",
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0TEAM1>",
    "<!subteam^S0TEAM1|@product> please look",
    "<!channel|channel> hey all",
    "<!here|here> quick one",
    "<!date^1392734382^{date}|Feb 18>",
    "<#C0SECRET>",
    "see <#C0SECRET|secret-plans>",
    "<http://x|y>",
    "<https://evil.example/login|Click to verify your account>",
    "<mailto:ceo@example.com|the CEO>",
    "<@U0VICTIM> <!here> <#C0SECRET> <!subteam^S0TEAM1> all at once",
    "<<!channel>>",
    "<!chan<!here>nel>",
    "< !channel >",
    "<!CHANNEL> shouting",
    "<@u0victim> lowercase id",
    "＜!channel＞ fullwidth brackets",
    "<\u200b!channel> zero width inside",
]
ENTITIES_AND_HTML = [
    "&amp;",
    "&lt;",
    "&gt;",
    "&lt;!channel&gt; pre-escaped",
    "&amp;lt;!here&amp;gt; double-escaped",
    "&#60;!channel&#62; numeric entities",
    "<script>alert(1)</script>",
    "<b>bold</b> <i>it</i>",
    "<img src=x onerror=alert(1)>",
    "<!-- comment --> <![CDATA[x]]>",
    "&nbsp;&copy;&",
]
CONTROL = [
    "nul \x00 in the middle",
    "\x00",
    "ctrl \x01\x02\x03\x04 chars",
    "bell\x07 backspace\x08 escape\x1b[31mred\x1b[0m",
    "del \x7f char",
    "cr\ronly",
    "crlf\r\nline",
    "vt\x0bff\x0c",
    "\x1c\x1d\x1e\x1f separators then text",
    "next\x85line",
    "line\u2028sep\u2029para",
]
BIDI_AND_INVISIBLE = [
    "\u202eevil\u202c right-to-left override",
    "\u202dLRO\u202c left-to-right override",
    "\u2066isolate\u2069 \u2067rli\u2069 \u2068fsi\u2069",
    "\u200fRLM \u200eLRM marks",
    "invoice\u202egnp.exe",
    "\u061c arabic letter mark",
    "a\u200bb\u200cc\u200dd zero widths",
    "\u00ad soft hyphen",
    "\u200b",
    "\u200d\u2060\ufeff",
    "\u3164",
]
COMBINING_AND_EMOJI = [
    "e\u0301\u0301\u0301\u0301 stacked accents",
    "Z\u0337\u0322\u031b\u032aa\u0338l\u0334g\u0337o\u0335 " * 20,
    "\u0301 starts with a combining mark",
    "\u0301\u0302\u0303",
    "👩\u200d👩\u200d👧\u200d👦 family",
    "🏳️\u200d🌈 flag",
    "🇺🇳🇩🇪🇯🇵 flags",
    "👍🏽 toned",
    "🧑🏿\u200d🚀 shipped to space",
    "1️⃣ keycap",
    "🚀" * 50,
]
LUA_JSON_INJECTION = [
    "redis.call('FLUSHALL')",
    "]] redis.call('DEL', KEYS[1]) [[",
    "return redis.call('KEYS', '*')",
    "--[[ comment ]] local x = 1",
    "cjson.decode('{')",
    "%s %d %% \\0 lua patterns .* [%]",
    "')) ; FLUSHALL ; --",
    "*1\r\n$8\r\nFLUSHALL\r\n",
    '{"text": "x", "lane": "shipped", "id": "w1"}',
    '[1, 2, {"a": null}]',
    '{"__proto__": {"is_admin": true}}',
    '"\\u0000"',
    "null",
    '{"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"<!channel>"}}]}',
    "{text} {0} %s %(x)s {{}}",
    "${jndi:ldap://x.example/a}",
    "'; DROP TABLE wins; --",
    "../../etc/passwd",
    "pmc:v1:{T0TEAM:U0ALICE}:wins",
    "* ? [a-z] glob",
]
MARKDOWN = [
    "*bold*",
    "_italic_",
    "~strike~",
    "`code`",
    "```fence```",
    "```\nmulti line fence\n```",
    "> quote",
    ">>> block quote",
    "# heading",
    "- list item",
    "1. ordered",
    "---",
    "***",
    "___",
    "[link](http://x.example)",
    "![img](http://x.example/i.png)",
    "| a | b |\n|---|---|",
    "\\*escaped\\*",
    "*unclosed _mixed ~all `",
    "first line\n# not a heading\n- nor a list\n> nor a quote",
    "    indented code",
    "line one\n\n\nline four\n",
]
UNICODE = [
    "日本語のテキスト",
    "العربية مع <!here>",
    "עברית",
    "𝕿𝖊𝖝𝖙 𝔣𝔯𝔞𝔨𝔱𝔲𝔯",
    "İstanbul ı ß",
    "\ufffd replacement",
    "\U0010ffff last code point",
    "\ue000 private use",
    "tag \U000e0001\U000e0041 chars",
    "\uffff noncharacter",
]
WHITESPACE = [
    "   leading and trailing   ",
    "\ttabs\tinside\t",
    "\u00a0nbsp\u00a0",
    "\u3000ideographic space",
    "   ",
    "\n\n",
]
LANE_LOOKING = ["clarity: yes", "s: x", ":rocket: go", "ship", "CLARITY"]
LENGTHS = [
    "a" * 500,
    "supercalifragilistic" * 100,
    "x" * 2999,
    "x" * 3000,
    "x" * 3001,
    "&" * 3000,
    "<" * 3000,
    "&<>" * 1000,
    "é" * 3000,
    "e\u0301" * 1500,
    "👍" * 3000,
    "👍" * 3001,
    "<!channel> " * 272 + "<!here>",  # 2,999 characters of broadcasts
    "y" * 100_000,
]
CORPUS: list[str] = (
    MENTIONS
    + ENTITIES_AND_HTML
    + CONTROL
    + BIDI_AND_INVISIBLE
    + COMBINING_AND_EMOJI
    + LUA_JSON_INJECTION
    + MARKDOWN
    + UNICODE
    + WHITESPACE
    + LANE_LOOKING
    + LENGTHS
)
assert len(CORPUS) >= 100 and len(set(CORPUS)) == len(CORPUS), len(CORPUS)


# Oracles: what each entry point must do with a text (from the product's rules) ------------


# Characters a reader does not see (README: text made only of spaces, control or format
# characters, or marks is blank), each named. Every blank text the corpus and the generated
# texts hold is made of these; every other text holds a character a reader sees.
INVISIBLE = {
    " ": "space",
    "\t": "tab",
    "\n": "line feed",
    "\r": "carriage return",
    "\u00a0": "no-break space",
    "\u3000": "ideographic space",
    "\u2028": "line separator",
    "\x00": "NUL",
    "\x1b": "escape",
    "\x7f": "delete",
    "\u00ad": "soft hyphen",
    "\u200b": "zero width space",
    "\u200c": "zero width non-joiner",
    "\u200d": "zero width joiner",
    "\u200e": "left-to-right mark",
    "\u202e": "right-to-left override",
    "\u2060": "word joiner",
    "\ufeff": "zero width no-break space",
    "\u0301": "combining acute accent",
    "\u0302": "combining circumflex accent",
    "\u0303": "combining tilde",
    "\u20dd": "combining enclosing circle",
    "\u0903": "devanagari sign visarga (a spacing mark)",
}


def visible(text: str) -> bool:
    """Whether a reader sees anything of `text` (see INVISIBLE)."""
    return any(char not in INVISIBLE for char in text)


def win_text_ok(text: str) -> bool:
    return bool(text) and visible(text) and len(text) <= MAX_TEXT


def looks_like_lane(text: str) -> bool:
    """Whether `/win <text>` would read the first word as a lane instead of asking."""
    words = text.split()
    if not words:
        return True
    first = words[0].lower()
    return first in LANE_WORDS or (
        first.endswith(":") and not first.startswith(":") and first[:-1] in LANE_WORDS
    )


def typed_targets(texts: list[str]) -> list[str]:
    """Live-looking things the PM typed: `<@id`, `<#id`, `<http…` (links they wrapped)."""
    found: set[str] = set()
    for text in texts:
        found.update(f"<@{m}" for m in re.findall(r"<@([A-Za-z0-9]+)", text))
        found.update(f"<#{m}" for m in re.findall(r"<#([A-Za-z0-9]+)", text))
        found.update(f"<{m}" for m in re.findall(r"<((?:https?|mailto):[^|>\s]{1,40})", text))
    return sorted(found)


def scan(fake: FakeSlack, replies: list[Response], typed: list[str]) -> list[tuple[str, str]]:
    """Live broadcasts anywhere the app spoke, and live versions of what the PM typed."""
    settle(0.2)
    problems = []
    for call in list(fake.calls):
        problems += [(call.method, m) for m in live_mentions(call.args)]
        problems += [(call.method, m) for m in _typed_live(call.args, typed)]
    for reply in replies:
        body = reply.json if reply.body else {}
        problems += [("http_reply", m) for m in live_mentions(body)]
        problems += [("http_reply", m) for m in _typed_live(body, typed)]
    return problems


def _typed_live(obj: Any, typed: list[str]) -> list[str]:
    out = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in ("initial_value", "private_metadata"):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, str):
            out.extend(t for t in typed if t in node)

    walk(obj)
    return out


def exported(content: str, text: str, *, quoted: bool = False) -> bool:
    """Whether the brag document holds `text`: a single-line win verbatim; a multi-line one
    (or a reflection, whose every line is a block quote) line by line, ignoring the
    backslashes that escape Markdown structure."""
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    if not quoted and len(lines) <= 1 and "\r" not in text and "\n" not in text:
        return text in content
    bare = content.replace("\\", "")
    return all(line.strip(" \t").replace("\\", "") in bare for line in lines)


def all_values(client: Any) -> str:
    """Every key and value in Redis as one string (to prove a text was stored nowhere)."""
    parts = []
    for key in client.scan_iter("*", count=1000):
        kind = client.type(key)
        if kind == "string":
            parts.append(str(client.get(key)))
        elif kind == "hash":
            parts.append(json.dumps(client.hgetall(key), ensure_ascii=False))
        elif kind == "zset":
            parts.append(json.dumps(client.zrange(key, 0, -1), ensure_ascii=False))
        elif kind == "set":
            parts.append(json.dumps(sorted(client.smembers(key)), ensure_ascii=False))
        elif kind == "list":
            parts.append(json.dumps(client.lrange(key, 0, -1), ensure_ascii=False))
        parts.append(str(key))
    return "\n".join(parts)


def assert_healthy(replies: list[Response], logs: LogCapture) -> None:
    """Every request answered 200, no listener failed, and the log capture was alive."""
    assert [r.status for r in replies if r.status != 200] == []
    assert logs.errors() == []
    assert logs.lines(), "the log capture saw nothing at all"


# Fixtures and drivers --------------------------------------------------------------------


USERS = {
    "lane": "U0HLANE",
    "ask": "U0HASK",
    "form": "U0HFORM",
    "edit": "U0HEDIT",
    "reflect": "U0HREFL",
    "rmodal": "U0HRMOD",
    "coach": "U0HCOACH",
}


@pytest.fixture(name="hostile")
def _hostile(slack: SlackDriver, fake: FakeSlack) -> Iterator[SlackDriver]:
    for user in USERS.values():
        fake.add_user(user, name=user.lower(), tz="Europe/Berlin")
    for i in range(8):
        fake.add_user(f"U0HPRC{i}", tz="Europe/Berlin")
        fake.add_user(f"U0HPRM{i}", tz="Europe/Berlin")
    yield slack


@pytest.fixture(name="prompt_writers")
def _prompt_writers(hostile: SlackDriver) -> SlackDriver:
    """`hostile`, with the prompts tests' PMs and the reflecting PMs enrolled: only a win
    enrols, prompts are settings a PM without a profile cannot save, and a reflection is not
    saved for one either."""
    for i in range(8):
        for user in (f"U0HPRC{i}", f"U0HPRM{i}"):
            assert "Logged" in hostile.command("/win", "shipped Set up", user=user).text
    enrol_reflectors(hostile)
    return hostile


def enrol_reflectors(slack: SlackDriver) -> None:
    """The PMs who reflect log a win first: a reflection never enrols anyone."""
    for user in (USERS["reflect"], USERS["rmodal"]):
        assert "Logged" in slack.command("/win", "shipped Set up", user=user).text
    slack.settle()


def form(
    text: Any, lane: str = "clarity", link: Any = None, beneficiary: Any = None, day: Any = None
) -> dict[str, Any]:
    return {
        FIELD_TEXT: {"value": {"type": "plain_text_input", "value": text}},
        FIELD_LANE: {"value": {"type": "radio_buttons", "selected_option": {"value": lane}}},
        FIELD_DATE: {"value": {"type": "datepicker", "selected_date": day}},
        FIELD_LINK: {"value": {"type": "url_text_input", "value": link}},
        FIELD_BENEFICIARY: {"value": {"type": "plain_text_input", "value": beneficiary}},
    }


def win_by_reply(slack: SlackDriver, reply: dict[str, Any], user: str) -> Any:
    """The win a confirmation is about: its Undo button carries the win id."""
    undo = find_action(reply.get("blocks", []), ACTION_UNDO)
    return slack.store.wins.get_win(TEAM, user, undo["value"])


def export_content(slack: SlackDriver, fake: FakeSlack, user: str, args: str = "") -> str:
    before = len(fake.files(user))
    reply = slack.command("/coach", f"export {args}".strip(), user=user)
    assert reply.status == 200
    slack.hook_posts(reply)
    files = fake.files(user)
    assert len(files) == before + 1, reply.text
    return bytes(files[-1]["content"]).decode("utf-8")


def open_edit_form(slack: SlackDriver, fake: FakeSlack, win_id: str, user: str) -> dict[str, Any]:
    """Edit from `/coach history`: the win's overflow menu → Edit opens a prefilled form."""
    before = len(fake.calls_to("views.open"))
    action = {
        "type": "overflow",
        "action_id": ACTION_HISTORY_MENU,
        "block_id": "b",
        "selected_option": {
            "text": {"type": "plain_text", "text": "Edit"},
            "value": f"edit:{win_id}",
        },
    }
    hook = f"edit-{win_id}-{before}"
    body, content_type = payloads.block_actions(
        [action],
        team_id=TEAM,
        user_id=user,
        response_url=fake.response_url(hook),
        channel_id="C0GENERAL",
        is_ephemeral=True,
    )
    assert slack.post(body, content_type).status == 200
    call = fake.wait_for("views.open", count=before + 1)[-1]
    assert call.response.get("ok") is True, call.response
    return dict(call.args["view"])


# The corpus, entry point by entry point ---------------------------------------------------


def test_corpus_through_win_with_a_lane(
    hostile: SlackDriver, fake: FakeSlack, logs: LogCapture
) -> None:
    """`/win shipped|clarity <text>` stores every acceptable text exactly (stripped of the
    separator's whitespace), refuses the rest with nothing stored, exports them exactly and
    never lets a mention go live."""
    slack, user = hostile, USERS["lane"]
    replies, kept = [], []
    for i, text in enumerate(CORPUS):
        lane = "shipped" if i % 2 else "clarity"
        reply = slack.command("/win", f"{lane} {text}", user=user)
        replies.append(reply)
        expected = text.strip()
        if win_text_ok(expected):
            assert "Logged" in reply.text, (text[:80], reply.text[:200])
            win = win_by_reply(slack, reply.json, user)
            assert win is not None and win.text == expected, text[:80]
            assert win.lane.value == lane
            kept.append(expected)
        else:
            assert "Logged" not in reply.text, text[:80]
            if len(expected) > MAX_TEXT:
                assert "limit is 3,000" in reply.text, reply.text[:200]
    stored = sorted(w.text for w in slack.store.wins.user_wins(TEAM, user))
    assert stored == sorted(kept)
    assert len(kept) >= 80
    content = export_content(slack, fake, user)
    assert [t[:60] for t in kept if not exported(content, t)] == []
    assert scan(fake, replies, typed_targets(CORPUS)) == []
    assert_healthy(replies, logs)


def test_corpus_through_win_then_a_lane_button(
    hostile: SlackDriver, fake: FakeSlack, logs: LogCapture
) -> None:
    """`/win <text>` asks for the lane quoting the text inertly; the button stores it exactly;
    over-long and blank texts are refused before any draft is kept."""
    slack, user = hostile, USERS["ask"]
    replies, kept = [], []
    for i, text in enumerate(CORPUS):
        if looks_like_lane(text):
            continue  # `/win clarity: yes` logs directly: covered by the test above
        question = slack.command("/win", text, user=user)
        replies.append(question)
        expected = text.strip()
        if not win_text_ok(expected):
            assert "Which lane" not in question.text and "Logged" not in question.text
            continue
        assert "Which lane" in question.text, (text[:80], question.text[:200])
        button = ACTION_PICK_SHIPPED if i % 2 else ACTION_PICK_CLARITY
        click = slack.click(question, button, user=user)
        replies.append(click)
        [posted] = slack.hook_posts(click)
        assert "Logged" in visible_text(posted), text[:80]
        win = win_by_reply(slack, posted, user)
        assert win is not None and win.text == expected, text[:80]
        kept.append(expected)
    assert sorted(w.text for w in slack.store.wins.user_wins(TEAM, user)) == sorted(kept)
    assert not list(slack.store.redis.scan_iter(f"*{{{TEAM}:{user}}}:draft:*"))
    assert len(kept) >= 75
    content = export_content(slack, fake, user)
    assert [t[:60] for t in kept if not exported(content, t)] == []
    assert scan(fake, replies, typed_targets(CORPUS)) == []
    assert_healthy(replies, logs)


def test_corpus_through_the_win_form(
    hostile: SlackDriver, fake: FakeSlack, logs: LogCapture
) -> None:
    """The `/win` form keeps the text exactly as typed (not stripped), the beneficiary stripped,
    and a link only when it is a plain http(s) URL; anything else is an error under its field."""
    slack, user = hostile, USERS["form"]
    assert slack.command("/win", "", user=user).status == 200
    view = fake.wait_for("views.open")[-1].args["view"]
    replies, kept = [], []
    for i, text in enumerate(CORPUS):
        done = slack.submit(view, form(text, "clarity"), user=user, view_id=f"V0TEXT{i}")
        replies.append(done)
        if win_text_ok(text):
            assert done.json.get("response_action") == "update", (text[:80], done.json)
            kept.append(text)
        else:
            assert done.json.get("response_action") == "errors", text[:80]
            assert FIELD_TEXT in done.json["errors"]
    assert sorted(w.text for w in slack.store.wins.user_wins(TEAM, user)) == sorted(kept)

    # Who benefited: stored stripped up to 200 characters, refused beyond.
    for i, text in enumerate(CORPUS):
        done = slack.submit(
            view, form("For someone", beneficiary=text), user=user, view_id=f"V0B{i}"
        )
        replies.append(done)
        if len(text) > MAX_BENEFICIARY:
            assert done.json["response_action"] == "errors", text[:80]
            assert FIELD_BENEFICIARY in done.json["errors"]
            continue
        assert done.json.get("response_action") == "update", (text[:80], done.json)
    by_text = [w for w in slack.store.wins.user_wins(TEAM, user) if w.text == "For someone"]
    expected = sorted(t.strip() for t in CORPUS if len(t) <= MAX_BENEFICIARY and t.strip())
    assert sorted(w.beneficiary for w in by_text if w.beneficiary is not None) == expected

    # A link made of the hostile text: kept only if it stays a plain URL with no <, >, |.
    for i, text in enumerate(CORPUS):
        link = f"https://x.example/{text}"
        done = slack.submit(view, form("Linked", link=link), user=user, view_id=f"V0L{i}")
        replies.append(done)
        if done.json.get("response_action") == "errors":
            assert set(done.json["errors"]) <= {FIELD_LINK}, done.json
    links = [w.link for w in slack.store.wins.user_wins(TEAM, user) if w.text == "Linked"]
    assert links, "no hostile-looking link was accepted at all"
    for link in links:
        assert not any(c in link for c in "<>| \n\t"), link[:80]
        assert link.startswith("https://x.example/")
    content = export_content(slack, fake, user)
    assert [t[:60] for t in kept if not exported(content, t)] == []
    assert scan(fake, replies, typed_targets(CORPUS)) == []
    assert_healthy(replies, logs)


def test_corpus_through_edit_from_history(
    hostile: SlackDriver, fake: FakeSlack, logs: LogCapture
) -> None:
    """Editing a win from `/coach history`: the form shows the stored text back exactly, the
    edit stores the new text exactly or is refused leaving the old text, and the refreshed
    history never goes live."""
    slack, user = hostile, USERS["edit"]
    first = slack.command("/win", "clarity Original text", user=user)
    win = win_by_reply(slack, first.json, user)
    current = win.text
    replies = [first, slack.command("/coach", "history", user=user)]
    for text in CORPUS:
        view = open_edit_form(slack, fake, win.id, user)
        assert view["blocks"][0]["element"]["initial_value"] == current
        done = slack.submit(view, form(text, "shipped"), user=user)
        replies.append(done)
        if win_text_ok(text):
            assert done.json.get("response_action") == "update", (text[:80], done.json)
            current = text
        else:
            assert done.json.get("response_action") == "errors", text[:80]
        [stored] = slack.store.wins.user_wins(TEAM, user)
        assert stored.text == current, text[:80]
    replies.append(slack.command("/coach", "history", user=user))
    assert scan(fake, replies, typed_targets(CORPUS)) == []
    assert_healthy(replies, logs)


def test_corpus_through_reflect_command_and_form(
    hostile: SlackDriver, fake: FakeSlack, clock: Any, logs: LogCapture
) -> None:
    """`/reflect <text>` and the reflect form keep each answer exactly (up to 3,000 characters),
    refuse longer ones unsaved, and show them — with a hostile prompt — inertly in history and
    in the export with reflections."""
    slack = hostile
    enrol_reflectors(slack)
    replies: list[Response] = []
    kept: dict[str, list[str]] = {USERS["reflect"]: [], USERS["rmodal"]: []}
    for i, text in enumerate(CORPUS):
        clock.advance(seconds=1)
        reply = slack.command("/reflect", text, user=USERS["reflect"])
        replies.append(reply)
        if visible(text) and len(text) <= MAX_TEXT:
            assert "Saved privately" in reply.text, (text[:80], reply.text[:200])
            kept[USERS["reflect"]].append(text)
        elif visible(text):
            assert "Saved" not in reply.text and "3,000" in reply.text
        # else: nothing visible, so the form opens instead
        prompt = CORPUS[(i + 7) % len(CORPUS)][:300]
        view = {
            "type": "modal",
            "callback_id": "reflect_modal",
            "private_metadata": json.dumps({"prompt_id": "custom:1", "prompt": prompt}),
            "blocks": [],
        }
        values = {FIELD_ANSWER: {"value": {"type": "plain_text_input", "value": text}}}
        done = slack.submit(view, values, user=USERS["rmodal"])
        replies.append(done)
        if visible(text) and len(text) <= MAX_TEXT:
            assert done.status == 200 and "errors" not in done.json, (text[:80], done.json)
            kept[USERS["rmodal"]].append(text)
        else:
            assert done.json.get("response_action") == "errors", text[:80]
    for user, texts in kept.items():
        stored = [r["text"] for r in slack.store.profiles.reflections(TEAM, user)]
        assert sorted(stored) == sorted(texts), user
        replies.append(slack.command("/coach", "history", user=user))
        content = export_content(slack, fake, user, "with reflections")
        assert [t[:60] for t in texts if not exported(content, t, quoted=True)] == []
    assert scan(fake, replies, typed_targets(CORPUS)) == []
    assert_healthy(replies, logs)


def test_corpus_through_prompts_command_and_form(
    prompt_writers: SlackDriver, fake: FakeSlack, logs: LogCapture
) -> None:
    """`/coach prompts add <text>` and the prompts form store a prompt stripped and exactly up
    to 280 characters, refuse longer ones unsaved, and list them inertly."""
    slack = prompt_writers
    replies: list[Response] = []
    kept: dict[str, list[str]] = {}
    view = {"type": "modal", "callback_id": "prompts_modal", "blocks": []}
    for i, text in enumerate(CORPUS):
        expected = text.strip()
        by_command, by_form = f"U0HPRC{i // 20}", f"U0HPRM{i // 20}"
        reply = slack.command("/coach", f"prompts add {text}", user=by_command)
        state = {FIELD_PROMPT: {"value": {"type": "plain_text_input", "value": text}}}
        done = slack.submit(view, state, user=by_form)
        replies += [reply, done]
        if visible(expected) and len(expected) <= MAX_PROMPT:
            assert "Added prompt" in reply.text, (text[:80], reply.text[:200])
            assert "errors" not in done.json, (text[:80], done.json)
            for user in (by_command, by_form):
                kept.setdefault(user, []).append(expected)
        else:
            assert "Added prompt" not in reply.text, text[:80]
            if expected:
                assert done.json.get("response_action") == "errors", text[:80]
    for user, texts in kept.items():
        assert [t for _, t in slack.store.profiles.custom_prompts(TEAM, user)] == texts, user
        replies.append(slack.command("/coach", "prompts", user=user))
    assert scan(fake, replies, typed_targets(CORPUS)) == []
    assert_healthy(replies, logs)


@pytest.mark.parametrize("subcommand", ["timezone", "export", "nudges", "recap"])
def test_corpus_as_coach_arguments(
    hostile: SlackDriver, fake: FakeSlack, logs: LogCapture, subcommand: str
) -> None:
    """`/coach timezone|export|nudges|recap <text>` (recap as a workspace admin) answer every
    hostile argument privately and inertly, and never store the text anywhere."""
    slack = hostile
    user = "U0ADMIN" if subcommand == "recap" else USERS["coach"]
    slack.command("/win", "clarity Something to export", user=user)
    replies = []
    for text in CORPUS:
        reply = slack.command("/coach", f"{subcommand} {text}", user=user)
        replies.append(reply)
        assert reply.json.get("response_type") == "ephemeral", (text[:80], reply.json)
    everything = all_values(slack.store.redis)
    leaked = [
        t[:60]
        for t in CORPUS
        if len(t.strip()) >= 12 and t.strip() != "Something to export" and t.strip() in everything
    ]
    assert leaked == []
    assert scan(fake, replies, typed_targets(CORPUS)) == []
    assert_healthy(replies, logs)


# Generated texts ---------------------------------------------------------------------------

SEEN_FRAGMENTS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0GEN>",
    "<@U0GENVICTIM>",
    "<#C0GEN>",
    "<http://gen.example|y>",
    "&",
    "&amp;",
    "<",
    ">",
    "*",
    "_",
    "~",
    "`",
    "```",
    "> ",
    "👩\u200d👩\u200d👧",
    "]]",
    "redis.call('FLUSHALL')",
    '{"a": 1}',
]
UNSEEN_FRAGMENTS = ["\n", "\r\n", "\t", "\x00", "\u202e", "\u200d", "\u0301", " "]
FRAGMENTS = SEEN_FRAGMENTS + UNSEEN_FRAGMENTS
_PIECES = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
    ),
    max_size=7,
).map("".join)
# Either a text with something a reader sees (anything around a fragment that is seen) or one
# with nothing (invisible characters only), so the oracle knows which by construction.
TEXTS = st.one_of(
    st.builds(lambda *parts: "".join(parts), _PIECES, st.sampled_from(SEEN_FRAGMENTS), _PIECES),
    st.text(st.sampled_from(sorted(INVISIBLE)), max_size=14),
)
GENERATED = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@GENERATED
@given(text=TEXTS, lane=st.sampled_from(["shipped", "clarity"]))
def test_generated_texts_through_win_and_the_lane_question(
    hostile: SlackDriver, fake: FakeSlack, logs: LogCapture, text: str, lane: str
) -> None:
    """Generated hostile texts via `/win <lane> <text>` and `/win <text>` + button: stored
    exactly when acceptable, refused otherwise, never live, never a failure."""
    slack, user = hostile, USERS["lane"]
    before = len(fake.calls)
    replies = [slack.command("/win", f"{lane} {text}", user=user)]
    expected = text.strip()
    if win_text_ok(expected):
        assert (
            slack.store.wins.get_win(
                TEAM, user, find_action(replies[0].json["blocks"], ACTION_UNDO)["value"]
            ).text
            == expected
        )
    else:
        assert "Logged" not in replies[0].text
    if not looks_like_lane(text):
        question = slack.command("/win", text, user=user)
        replies.append(question)
        if win_text_ok(expected):
            click = slack.click(question, ACTION_PICK_CLARITY, user=user)
            replies.append(click)
            [posted] = slack.hook_posts(click)
            assert win_by_reply(slack, posted, user).text == expected
        else:
            assert "Which lane" not in question.text
    typed = typed_targets([text, *FRAGMENTS])
    settle(0.05)
    new_calls = list(fake.calls)[before:]
    problems = [m for c in new_calls for m in live_mentions(c.args) + _typed_live(c.args, typed)]
    problems += [m for r in replies for m in live_mentions(r.json) + _typed_live(r.json, typed)]
    assert problems == []
    assert [r.status for r in replies] == [200] * len(replies)
    assert logs.errors() == []


@GENERATED
@given(text=TEXTS, beneficiary=TEXTS)
def test_generated_texts_through_the_forms_and_reflect(
    prompt_writers: SlackDriver, fake: FakeSlack, logs: LogCapture, text: str, beneficiary: str
) -> None:
    """Generated texts via the win form (text and beneficiary), `/reflect` and
    `/coach prompts add`: exact storage within limits, clean refusals beyond, nothing live."""
    slack = prompt_writers
    before = len(fake.calls)
    view = {"type": "modal", "callback_id": "win_modal", "blocks": []}
    done = slack.submit(view, form(text, beneficiary=beneficiary), user=USERS["form"])
    replies = [done]
    if win_text_ok(text) and len(beneficiary) <= MAX_BENEFICIARY:
        assert done.json.get("response_action") == "update", done.json
        win = win_by_reply(slack, done.json["view"], USERS["form"])
        assert win.text == text
        assert win.beneficiary == (beneficiary.strip() or None)
    else:
        assert done.json.get("response_action") == "errors"
    reflected = slack.command("/reflect", text, user=USERS["reflect"])
    replies.append(reflected)
    if visible(text) and len(text) <= MAX_TEXT:
        assert text in [r["text"] for r in slack.store.profiles.reflections(TEAM, USERS["reflect"])]
    added = slack.command("/coach", f"prompts add {text}", user="U0HPRC0")
    replies.append(added)
    match = re.search(r"Added prompt (\d+)", added.text)
    if visible(text) and len(text.strip()) <= MAX_PROMPT:
        assert match, added.text
        prompts = dict(slack.store.profiles.custom_prompts(TEAM, "U0HPRC0"))
        assert prompts[int(match.group(1))] == text.strip()
        slack.command("/coach", f"prompts remove {match.group(1)}", user="U0HPRC0")
    else:
        assert match is None
    typed = typed_targets([text, beneficiary, *FRAGMENTS])
    settle(0.05)
    new_calls = list(fake.calls)[before:]
    problems = [m for c in new_calls for m in live_mentions(c.args) + _typed_live(c.args, typed)]
    problems += [m for r in replies for m in live_mentions(r.json) + _typed_live(r.json, typed)]
    assert problems == []
    assert [r.status for r in replies] == [200] * len(replies)
    assert logs.errors() == []
