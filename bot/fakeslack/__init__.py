"""A fake Slack on loopback, for the test suite and the terminal sandbox.

The app under test talks to it exactly as to Slack: slack_sdk's ``WebClient(base_url=
fake.api_base_url)``, Bolt's ``respond()`` posting to ``fake.response_url(key)``, and the
Socket Mode client connecting to the ``ws://`` URL that ``apps.connections.open`` hands out.
Only the wire is fake: a real HTTP server on 127.0.0.1 (free port), no external network.

Emulated:

* Web API methods the bot uses: auth.test, users.info/list, conversations.open/members/info,
  chat.postMessage/postEphemeral/update/delete, views.open/push/update/publish, the
  external file upload flow (files.getUploadURLExternal, upload URL,
  files.completeUploadExternal), apps.connections.open; anything else answers
  ``unknown_method`` with HTTP 200, as Slack does.
* Slack's answers and error names (``channel_not_found``, ``not_in_channel``,
  ``is_archived``, ``user_not_found``, ``invalid_auth``, ``hash_conflict``, ...), cursor
  pagination, Block Kit limits (``invalid_blocks`` on chat.*, ``invalid_arguments`` with
  ``[ERROR] ... [json-pointer:...]`` messages on views.*), single-use trigger ids, the
  5-uses limit of a response_url.
* Fault injection: errors, 429 + Retry-After, 5xx, slow answers, a workspace-wide token
  bucket on chat.postMessage.
* Socket Mode: hello, envelopes, acks, redelivery (same envelope_id), disconnect requests.

Not emulated: OAuth and scopes, Enterprise Grid, per-method rate tiers (only what you
inject), message formatting/unfurling, threads' reply counts, what a response_url body
does to the original message, group DMs, event delivery retries on its own (send them
yourself), file downloads, and Slack's occasional short pages in cursor pagination.

What lives where (each module imports only modules listed after it):

* ``fake``: :class:`FakeSlack`, the facade: it composes the parts below and is all a test,
  the sandbox or the bench needs (``fake.methods``, ``fake.journal``, ``fake.workspace``,
  ``fake.faults`` and ``fake.socket_mode`` are there to extend it, as ``bench.fakeproc`` does);
* ``httpserver``: the HTTP transport (a threaded HTTP/1.1 server on loopback and its handler);
* ``endpoints``: what each URL answers: arguments, authentication, injected faults, the
  method handler, the journal entry; response_url hooks, upload URLs, the Socket Mode link;
* ``socketmode``: the Socket Mode transport (sessions, envelopes, acks) over ``websocket``
  (RFC 6455 frames);
* ``methods/``: the Web API method handlers, one module per family (auth, users,
  conversations, chat, views, files) and the dispatch table ``METHODS``;
* state: ``state`` (the :class:`Workspace`: directory, messages, views, files, tickets),
  ``journal`` (calls answered, arrivals, holds), ``faults`` (errors, 429, 5xx, delays, the
  workspace bucket);
* leaves: ``answers`` (``Reply``, ``SlackError``), ``shapes`` (users and channels as the
  API renders them), ``blockkit`` (Block Kit limits), ``payloads`` (what Slack sends an app,
  and its signature).

It imports nothing of the bot: the app under test only ever meets it over the wire.
"""

import os

from bot.fakeslack import payloads
from bot.fakeslack.answers import SlackError
from bot.fakeslack.blockkit import validate_blocks, validate_view
from bot.fakeslack.fake import FakeSlack
from bot.fakeslack.journal import Call, Journal
from bot.fakeslack.payloads import signed_headers

__all__ = [
    "PROXY_VARS",
    "Call",
    "FakeSlack",
    "Journal",
    "SlackError",
    "drop_proxies",
    "payloads",
    "signed_headers",
    "validate_blocks",
    "validate_view",
]


# slack-sdk honours these (its Socket Mode client even ignores NO_PROXY): traffic to the
# loopback fake must never go through a proxy.
PROXY_VARS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
)


def drop_proxies() -> None:
    """Unset the proxy variables in this process (tests, the sandbox, benchmarks)."""
    for name in PROXY_VARS:
        os.environ.pop(name, None)
