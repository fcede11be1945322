"""manifest.yml is a valid Slack app manifest and matches what the app handles."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT.parent / "shared" / "slack" / "manifest-schema"


@pytest.fixture(name="manifest")
def _manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


@pytest.fixture(name="validator")
def _validator() -> jsonschema.protocols.Validator:
    if not SCHEMAS.exists():
        pytest.skip("shared/slack/manifest-schema is not beside the checkout")
    root = json.loads((SCHEMAS / "manifest.schema.json").read_text())
    resources = []
    for path in (SCHEMAS / "schemas").glob("*.json"):
        schema = json.loads(path.read_text())
        url = (
            f"https://raw.githubusercontent.com/slackapi/manifest-schema/v0.5.0/schemas/{path.name}"
        )
        resources.append((url, Resource.from_contents(schema)))
    registry = Registry().with_resources(resources)
    cls = jsonschema.validators.validator_for(root)
    return cls(root, registry=registry)


def test_manifest_is_valid(manifest: dict, validator: jsonschema.protocols.Validator) -> None:
    """Slack's own JSON Schema accepts the manifest."""
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_validator_rejects_a_broken_manifest(
    manifest: dict, validator: jsonschema.protocols.Validator
) -> None:
    """The schema check can fail: a wrong type is caught."""
    manifest["settings"]["socket_mode_enabled"] = "yes"
    assert list(validator.iter_errors(manifest))


def test_manifest_declares_what_the_app_needs(manifest: dict) -> None:
    """Socket Mode, Home and Messages tabs, interactivity, the three commands, minimal scopes."""
    features = manifest["features"]
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True
    assert {c["command"] for c in features["slash_commands"]} == {"/win", "/reflect", "/coach"}
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "chat:write",
        "im:write",
        "im:history",
        "users:read",
        "channels:read",
        "groups:read",
        "files:write",
    }
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
