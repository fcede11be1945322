"""What PMs type and the URLs Slack hands out as capabilities never reach a log line.

The whole flow — a /win, a win through the lane question answered via its response_url, a
custom prompt, a nudge, a reflection, an export uploaded through an upload URL — runs at
LOG_LEVEL=DEBUG through the product's logging set-up (`configure_logging`, as `pm-coach run`
calls it), where Bolt writes the body of every answer and slack-sdk every request it sends.
"""

from __future__ import annotations

import json
import logging

import redis

from bot.fakeslack import FakeSlack
from bot.runtime.logs import REDACTED, Redactor, library_message
from bot.runtime.settings import Settings
from bot.surfaces.blocks import ACTION_PICK_CLARITY
from tests.conftest import Clock, serve_app
from tests.reliability.conftest import capture_json_logs
from tests.reliability.test_secrets import FRI_15_BERLIN

WIN = "Canary win qz7Tw shipped"
ASKED = "Canary asked qz7Tx aligned"
PROMPT = "Canary prompt qz7Ty what did you let go?"
REFLECTION = "Canary thought qz7Tz"
TYPED = [WIN, ASKED, PROMPT, REFLECTION, "qz7T"]


def test_debug_logs_hold_no_typed_text_and_no_capability_url(
    settings: Settings, rds: redis.Redis, fake: FakeSlack, clock: Clock
) -> None:
    """At DEBUG, with every line Bolt and slack-sdk write, no log line holds a win's text, a
    custom prompt, a reflection, a response_url or a file upload URL — although each of them
    went over the wire to Slack."""
    with capture_json_logs("DEBUG") as logs, serve_app(settings, rds, fake, clock) as slack:
        replies = [slack.command("/win", f"clarity {WIN}")]
        question = slack.command("/win", ASKED)
        picked = slack.click(question, ACTION_PICK_CLARITY)
        answered = slack.hook_posts(picked)
        replies += [question, picked]
        replies.append(slack.command("/coach", f"prompts add {PROMPT}"))
        replies.append(slack.command("/coach", "export"))
        fake.wait_for("files.completeUploadExternal")
        slack.settle()
        slack.ticker.tick(FRI_15_BERLIN)
        replies.append(slack.command("/reflect", REFLECTION))
        slack.settle()
    # What the PM typed really travelled: in answers, a response_url post, a file.
    assert WIN in replies[0].text
    assert ASKED in json.dumps(answered)
    assert PROMPT in replies[3].text
    assert fake.messages("U0ALICE")  # the welcome and the nudge
    uploads = fake.calls_to("files.getUploadURLExternal")
    assert uploads
    capability_urls = [r.response_url for r in replies if r.response_url]
    capability_urls += [str(call.response["upload_url"]) for call in uploads]
    text = logs.text
    assert [t for t in TYPED if t in text] == []
    leaked = [url for url in capability_urls if url in text]
    assert leaked == []
    assert "/hooks/" not in text and "/upload/v1/" not in text
    # The capture saw the chatty DEBUG lines, reduced to their first words.
    assert "Responding with status" in text
    assert "Sending a request" in text and "method=chat.postMessage" in text
    assert "win_logged" in text


def test_library_lines_keep_their_first_words_only() -> None:
    """A library's preformatted message keeps its words up to the first value (with the Web
    API method and a status, which hold nothing typed); a templated one keeps its template;
    a message that is nothing but data says so."""
    cases = [
        (
            'Responding with status: 200 body: "Logged qz7T" (3 millis)',
            "Responding with status (status=200)",
        ),
        (
            "Sending a request - url: https://slack.com/api/chat.postMessage, body_params: {}",
            "Sending a request - url (method=chat.postMessage)",
        ),
        (
            "Sending a request - url: https://hooks.slack.com/commands/T0/1/s3cr3t, body: {}",
            "Sending a request - url",
        ),
        ("Received the following response - status: 200, body: {}", None),
        ("Going to retry the same request: POST https://hooks.slack.com/x", None),
        ('{"text": "qz7T"}', "(a library line)"),
        ("Unhandled request ({'text': 'qz7T'})", "Unhandled request"),
    ]
    for message, expected in cases:
        kept = library_message(message, templated=False)
        assert "qz7T" not in kept and "hooks.slack.com" not in kept and "s3cr3t" not in kept
        if expected is not None:
            assert kept == expected
    assert library_message("Running job %s", templated=True) == "Running job %s"


def test_the_redactor_keeps_a_urls_host_only() -> None:
    """A URL in any line, plain, JSON-escaped or form-encoded, keeps its scheme and host."""
    redactor = Redactor()
    cases = {
        "posting to https://hooks.slack.com/commands/T0/12/ab?x=1 now": (
            f"posting to https://hooks.slack.com/{REDACTED} now"
        ),
        '{"response_url":"https:\\/\\/hooks.slack.com\\/actions\\/T0\\/1\\/x"}': (
            f'{{"response_url":"https:\\/\\/hooks.slack.com/{REDACTED}"}}'
        ),
        "response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0&x=1": (
            f"response_url=https%3A%2F%2Fhooks.slack.com/{REDACTED}&x=1"
        ),
        "base https://slack.com/": "base https://slack.com/",
    }
    for text, expected in cases.items():
        assert redactor.scrub(text) == expected


def test_a_record_from_any_library_is_reduced() -> None:
    """The filter sits on the handler: a record of a logger nobody configured is reduced too."""
    with capture_json_logs("DEBUG") as logs:
        logging.getLogger("some_new_library").debug(
            "Posting to https://x.example/secret/1: {'text': 'qz7T'}"
        )
        logging.getLogger("slack_sdk.webhook.client").info(
            "Going to retry the same request: POST http://127.0.0.1:1/hooks/cmd-1"
        )
    assert "qz7T" not in logs.text and "/hooks/" not in logs.text and "secret" not in logs.text
    assert "Going to retry the same request" in logs.text
