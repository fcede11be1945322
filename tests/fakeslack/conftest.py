"""Fixtures of the fake Slack's own tests: a started sample workspace and a slack_sdk client
on it, with proxy variables unset (slack_sdk reads them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.fakeslack import PROXY_VARS, FakeSlack
from tests.fakeslack.support import sample_fake


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with sample_fake() as f:
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.api_base_url, timeout=5)
