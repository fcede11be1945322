"""Settings: the only reader of the environment (and of `.env`).

Names are the operator contract in PRODUCT.md; keep them. Secrets are `SecretStr` so that
printing or logging a `Settings` never shows their values.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_BASE_URL = "https://slack.com/api/"
REDIS_SCHEMES = ("redis", "rediss", "unix")
# What a value copied from an example rather than from Slack looks like: `.env.example`'s
# `xoxb-your-bot-token` and `your-signing-secret`, "changeme", "<token>", "xoxb-…".
PLACEHOLDER = re.compile(r"(?:^|[-_])your[-_]|change[-_]?me|replace[-_]?me|<[^>]*>|…|\.\.\.", re.I)


class Settings(BaseSettings):
    """Everything the process is configured with, validated once at start."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    slack_bot_token: SecretStr = Field(description="Bot token (xoxb-…)")
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Signing secret; required in HTTP mode"
    )
    slack_app_token: SecretStr | None = Field(
        default=None, description="App-level token (xapp-…); when set, Socket Mode is used"
    )
    slack_api_base_url: str = DEFAULT_API_BASE_URL
    redis_url: str = "redis://localhost:6379/0"
    port: int = Field(default=3000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] | None = None
    balance_target: int = Field(default=50, ge=1, le=100)
    slack_post_rate: float = Field(
        default=4.0, gt=0, le=10_000, description="messages per second per workspace, all processes"
    )
    slack_post_burst: int = Field(default=20, ge=1, le=1000)
    admin_user_ids: str = ""

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("slack_signing_secret")
    @classmethod
    def _empty_secret_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None
        return value

    @field_validator("slack_api_base_url")
    @classmethod
    def _base_url_shape(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("redis_url")
    @classmethod
    def _redis_url_shape(cls, value: str) -> str:
        # What redis-py's from_url would refuse with a traceback, said here in one line (and
        # never echoing the URL, which may hold a password).
        parts = urlsplit(value.strip())
        if parts.scheme not in REDIS_SCHEMES:
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        try:
            parts.port  # noqa: B018  # raises for a port that is not a number
        except ValueError:
            raise ValueError("has a port that is not a number from 1 to 65535") from None
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("names no host (e.g. redis://localhost:6379/0)")
        db = parts.path.strip("/")
        if parts.scheme != "unix" and db and not db.isdigit():
            raise ValueError("has a database that is not a number (e.g. redis://host:6379/0)")
        return value.strip()

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _blank_format_is_auto(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower() or None
        return value

    @model_validator(mode="after")
    def _http_mode_needs_signing_secret(self) -> Settings:
        if self.slack_app_token is None and self.slack_signing_secret is None:
            raise ValueError(
                "SLACK_SIGNING_SECRET is required in HTTP mode (set it, or set SLACK_APP_TOKEN "
                "for Socket Mode)"
            )
        return self

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def admin_ids(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.admin_user_ids.split(",") if part.strip())

    def placeholders(self) -> list[str]:
        """The settings (by their environment names) that still hold a placeholder, such as
        `.env.example`'s `xoxb-your-bot-token`: valid in shape, never a real value."""
        values = {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "SLACK_APP_TOKEN": self.slack_app_token,
        }
        return [
            name
            for name, value in values.items()
            if value is not None and PLACEHOLDER.search(value.get_secret_value())
        ]

    def secret_values(self) -> list[str]:
        """Every secret value, for the log redactor."""
        secrets = [self.slack_bot_token, self.slack_signing_secret, self.slack_app_token]
        return [s.get_secret_value() for s in secrets if s is not None]


def describe_error(exc: Exception) -> str:
    """One clear line naming the setting that is missing or invalid."""
    if not isinstance(exc, ValidationError):
        return f"invalid configuration: {exc}"
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p]
        name = loc[0].upper() if loc else ""
        msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "missing":
            parts.append(f"setting {name} is missing")
        elif name:
            parts.append(f"setting {name} is invalid: {msg}")
        else:
            parts.append(msg)
    return "; ".join(parts)
