"""Conversions between the store's Python values and what Redis holds: epoch milliseconds,
JSON, flat field/value replies. Imports the domain model and `bot.store.records` only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.domain.numbers import is_number
from bot.domain.streaks import counts_from_items
from bot.domain.wins import Win
from bot.store.records import PMState

# One encoder for the JSON the store writes (json.dumps with an option builds one per call).
dump_json = json.JSONEncoder(ensure_ascii=False).encode


def ms(instant: datetime) -> int:
    """`instant` as epoch milliseconds, the scores and times the store writes."""
    return int(instant.timestamp() * 1000)


def from_ms(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value) / 1000, tz=UTC)


def to_dict(flat: Sequence[Any] | Mapping[str, Any]) -> dict[str, str]:
    """A hash as a dict of str, from a mapping or a script's flat field/value list."""
    if isinstance(flat, Mapping):
        return {str(k): str(v) for k, v in flat.items()}
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}


def load_wins(raws: Sequence[Any]) -> list[Win]:
    """The wins of stored win JSON values, skipping those that are gone (None)."""
    return [Win.from_json_dict(json.loads(r)) for r in raws if r]


def pm_state(weeks: Any, paused: Any, target: Any) -> PMState:
    """A PMState from the weeks hash (a mapping, or a script's flat field/value list), the
    paused weeks and the target field."""
    target_text = str(target or "")
    fields = (
        weeks.items() if isinstance(weeks, Mapping) else zip(weeks[::2], weeks[1::2], strict=True)
    )
    return PMState(
        counts=counts_from_items(fields),
        paused=frozenset(map(str, paused)),
        target=int(target_text) if is_number(target_text) else None,
    )
