"""Block Kit limits as Slack enforces them on chat.* and views.* calls.

Not a full schema: it checks the limits apps actually run into (block counts, text
lengths, ids, missing ``type``) and reports them the way Slack does, as
``"<reason> [json-pointer:/blocks/0/text/text]"``. Unknown block and element types are
accepted as long as they have a ``type``.
"""

from __future__ import annotations

from typing import Any, Literal

Surface = Literal["message", "modal", "home"]

MAX_BLOCKS: dict[str, int] = {"message": 50, "modal": 100, "home": 100}
MAX_ID = 255  # action_id, block_id, callback_id, external_id
MAX_PRIVATE_METADATA = 3000
MAX_VIEW_TITLE = 24  # modal title, submit and close texts

_TEXT_TYPES = ("plain_text", "mrkdwn")


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, reason: str, pointer: str) -> None:
        self.errors.append(f"{reason} [json-pointer:{pointer}]")

    def length(self, value: Any, limit: int, pointer: str, *, minimum: int = 0) -> None:
        if not isinstance(value, str):
            self.add("must be a string", pointer)
        elif len(value) > limit:
            self.add(f"must be less than {limit + 1} characters", pointer)
        elif len(value) < minimum:
            self.add(f"must be more than {minimum - 1} characters", pointer)

    def text(
        self, obj: Any, limit: int, pointer: str, *, plain_only: bool = False, required: bool = True
    ) -> None:
        """A composition text object: {"type": "plain_text"|"mrkdwn", "text": ...}."""
        if obj is None:
            if required:
                self.add("missing required field: text", pointer)
            return
        if not isinstance(obj, dict):
            self.add("must be an object", pointer)
            return
        kind = obj.get("type")
        if kind is None:
            self.add("missing required field: type", pointer)
        elif kind not in (("plain_text",) if plain_only else _TEXT_TYPES):
            self.add("failed to match all allowed schemas", pointer + "/type")
        if "text" not in obj:
            self.add("missing required field: text", pointer)
        else:
            self.length(obj["text"], limit, pointer + "/text", minimum=1)

    def identifier(self, obj: dict[str, Any], key: str, pointer: str) -> None:
        if key in obj:
            self.length(obj[key], MAX_ID, f"{pointer}/{key}")

    def items(self, obj: dict[str, Any], key: str, limit: int, pointer: str) -> list[Any]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.add("must be an array", f"{pointer}/{key}")
            return []
        if len(value) > limit:
            self.add(f"no more than {limit} items allowed", f"{pointer}/{key}")
        return value

    def option(self, obj: Any, pointer: str) -> None:
        if not isinstance(obj, dict):
            self.add("must be an object", pointer)
            return
        self.text(obj.get("text"), 75, pointer + "/text")
        self.length(obj.get("value", ""), 150, pointer + "/value")
        if "description" in obj:
            self.text(obj["description"], 75, pointer + "/description")

    def element(self, el: Any, pointer: str) -> None:
        if not isinstance(el, dict):
            self.add("must be an object", pointer)
            return
        kind = el.get("type")
        if kind is None:
            self.add("missing required field: type", pointer)
            return
        self.identifier(el, "action_id", pointer)
        if "placeholder" in el:
            self.text(el["placeholder"], 150, pointer + "/placeholder", plain_only=True)
        if kind == "button":
            self.text(el.get("text"), 75, pointer + "/text", plain_only=True)
            if "value" in el:
                self.length(el["value"], 2000, pointer + "/value")
            if "url" in el:
                self.length(el["url"], 3000, pointer + "/url")
        elif kind == "plain_text_input":
            for key in ("min_length", "max_length"):
                value = el.get(key)
                if isinstance(value, int) and not 0 <= value <= 3000:
                    self.add("must be less than or equal to 3000", f"{pointer}/{key}")
            if "initial_value" in el:
                self.length(el["initial_value"], 3000, pointer + "/initial_value")
        elif kind in (
            "static_select",
            "multi_static_select",
            "overflow",
            "checkboxes",
            "radio_buttons",
        ):
            limit = {"overflow": 5, "checkboxes": 10, "radio_buttons": 10}.get(kind, 100)
            for i, option in enumerate(self.items(el, "options", limit, pointer)):
                self.option(option, f"{pointer}/options/{i}")
        elif kind == "image":
            self.length(el.get("alt_text", ""), 2000, pointer + "/alt_text")

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict):
            self.add("must be an object", pointer)
            return
        kind = block.get("type")
        if kind is None:
            self.add("missing required field: type", pointer)
            return
        self.identifier(block, "block_id", pointer)
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.add("must provide either text or fields", pointer)
            if "text" in block:
                self.text(block["text"], 3000, pointer + "/text")
            for i, field in enumerate(self.items(block, "fields", 10, pointer)):
                self.text(field, 2000, f"{pointer}/fields/{i}")
            if "accessory" in block:
                self.element(block["accessory"], pointer + "/accessory")
        elif kind == "header":
            self.text(block.get("text"), 150, pointer + "/text", plain_only=True)
        elif kind == "context":
            for i, el in enumerate(self.items(block, "elements", 10, pointer)):
                if isinstance(el, dict) and el.get("type") in _TEXT_TYPES:
                    self.text(el, 3000, f"{pointer}/elements/{i}")
                else:
                    self.element(el, f"{pointer}/elements/{i}")
        elif kind == "actions":
            for i, el in enumerate(self.items(block, "elements", 25, pointer)):
                self.element(el, f"{pointer}/elements/{i}")
        elif kind == "input":
            self.text(block.get("label"), 2000, pointer + "/label", plain_only=True)
            if "hint" in block:
                self.text(block["hint"], 2000, pointer + "/hint", plain_only=True)
            if "element" not in block:
                self.add("missing required field: element", pointer)
            else:
                self.element(block["element"], pointer + "/element")
        elif kind == "image":
            self.length(block.get("alt_text", ""), 2000, pointer + "/alt_text")
            if "title" in block:
                self.text(block["title"], 2000, pointer + "/title", plain_only=True)


def validate_blocks(
    blocks: Any, *, surface: Surface = "message", pointer: str = "/blocks"
) -> list[str]:
    """Errors Slack would report for these blocks on this surface; [] when valid.

    Each error reads like Slack's ``errors`` entries, e.g.
    ``"must be less than 3001 characters [json-pointer:/blocks/0/text/text]"``.
    """
    check = _Checker()
    if not isinstance(blocks, list):
        check.add("must be an array", pointer)
        return check.errors
    limit = MAX_BLOCKS[surface]
    if len(blocks) > limit:
        check.add(f"no more than {limit} items allowed", pointer)
    for i, block in enumerate(blocks):
        check.block(block, f"{pointer}/{i}")
    return check.errors


def validate_view(view: Any) -> list[str]:
    """Errors Slack would report for a ``view`` argument of views.open/push/update/publish."""
    check = _Checker()
    if not isinstance(view, dict):
        check.add("must be an object", "/view")
        return check.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        check.add("failed to match all allowed schemas", "/view/type")
        return check.errors
    if kind == "modal":
        check.text(view.get("title"), MAX_VIEW_TITLE, "/view/title", plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                check.text(view[key], MAX_VIEW_TITLE, f"/view/{key}", plain_only=True)
    for key in ("callback_id", "external_id"):
        check.identifier(view, key, "/view")
    if "private_metadata" in view:
        check.length(view["private_metadata"], MAX_PRIVATE_METADATA, "/view/private_metadata")
    if "blocks" not in view:
        check.add("missing required field: blocks", "/view")
    else:
        surface: Surface = "modal" if kind == "modal" else "home"
        check.errors += validate_blocks(view["blocks"], surface=surface, pointer="/view/blocks")
    return check.errors
