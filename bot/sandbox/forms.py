"""The open form as Slack would hold it: what a field becomes when the person sets it
(`:set 2 b`), the `view.state.values` a submission carries (typed values over the form's
initial ones), and what the renderer shows as each field's value. Pure: no I/O. It defines
`SandboxError`, the sandbox's word for a line it cannot carry out, and imports nothing else
of the product.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["SandboxError", "display_values", "field_state", "pick_option", "state_values"]


class SandboxError(Exception):
    """A line the sandbox could not carry out (shown, and counted as a failed line)."""


def pick_option(options: list[dict[str, Any]], choice: str) -> dict[str, Any]:
    """The option a person named: by letter (a, b, …), by 1-based number, or by its value."""
    choice = choice.strip().lower()
    if len(choice) == 1 and choice.isalpha() and ord(choice) - ord("a") < len(options):
        return options[ord(choice) - ord("a")]
    if choice.isdigit() and 1 <= int(choice) <= len(options):
        return options[int(choice) - 1]
    for option in options:
        if option.get("value", "").lower() == choice:
            return option
    last = chr(ord("a") + len(options) - 1)
    raise SandboxError(f"no option {choice!r}; pick a letter a–{last}")


def field_state(element: dict[str, Any], value: str) -> dict[str, Any]:
    """The state Slack holds for an input element once the person has set it to `value`."""
    kind = element.get("type")
    state: dict[str, Any] = {"type": kind}
    if kind in ("radio_buttons", "static_select", "checkboxes"):
        options = element.get("options") or []
        chosen = (
            [pick_option(options, part) for part in re.split(r"[,\s]+", value.strip()) if part]
            if kind == "checkboxes"
            else [pick_option(options, value.strip())]
        )
        if kind == "checkboxes":
            state["selected_options"] = chosen
        else:
            state["selected_option"] = chosen[0]
    elif kind == "datepicker":
        state["selected_date"] = value.strip() or None
    elif kind == "timepicker":
        state["selected_time"] = value.strip() or None
    else:
        state["value"] = value
    return state


def state_values(modal: dict[str, Any], typed: dict[str, Any]) -> dict[str, Any]:
    """What Slack would send as view.state.values: typed values over the defaults."""
    values: dict[str, Any] = {}
    for block in modal.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        block_id, action_id = block.get("block_id", ""), element.get("action_id", "value")
        state: dict[str, Any] = {"type": element.get("type")}
        if "initial_value" in element:
            state["value"] = element["initial_value"]
        if "initial_option" in element:
            state["selected_option"] = element["initial_option"]
        if "initial_options" in element:
            state["selected_options"] = element["initial_options"]
        if "initial_date" in element:
            state["selected_date"] = element["initial_date"]
        if "initial_time" in element:
            state["selected_time"] = element["initial_time"]
        values[block_id] = {action_id: state}
    values.update(typed)
    return values


def display_values(typed: dict[str, Any]) -> dict[str, Any]:
    """What the person typed, per block_id, as the renderer shows a field's value."""
    shown: dict[str, Any] = {}
    for block_id, by_action in typed.items():
        for state in by_action.values():
            if "value" in state:
                shown[block_id] = state["value"]
            elif state.get("selected_option"):
                shown[block_id] = state["selected_option"]["text"]["text"]
            elif "selected_options" in state:
                shown[block_id] = ", ".join(o["text"]["text"] for o in state["selected_options"])
            else:
                shown[block_id] = state.get("selected_date") or state.get("selected_time")
    return shown
