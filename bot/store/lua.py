"""The store's Lua scripts, read once from `bot/store/scripts/*.lua` (package data). Each file's
comment header says its KEYS, ARGV, reply and what it guarantees. Imports nothing of the store.
"""

from __future__ import annotations

from importlib import resources


def load(name: str) -> str:
    """The source of `scripts/<name>.lua`."""
    path = resources.files("bot.store").joinpath("scripts", f"{name}.lua")
    return path.read_text(encoding="utf-8")


# Wins
LOG_WIN = load("log_win")
DELETE_WIN = load("delete_win")
EDIT_WIN = load("edit_win")
# Profiles and settings
ENROL = load("enrol")
ADD_PROMPT = load("add_prompt")
REMOVE_PROMPT = load("remove_prompt")
RESUME = load("resume")
SET_TZ = load("set_tz")
UPDATE_PROFILE = load("update_profile")
FORGET_SETTER = load("forget_setter")
# The nudge schedule (one due-index shard each) and the shared send budget
CLAIM = load("claim")
COMPLETE = load("complete")
RESCHEDULE = load("reschedule")
NUDGE_STATE = load("nudge_state")
GUARD = load("guard")
MARK_SENT = load("mark_sent")
MARK_UNKNOWN = load("mark_unknown")
RELEASE_GUARD = load("release_guard")
RESERVE = load("reserve")
PENALIZE = load("penalize")
# Recaps
CLAIM_RECAPS = load("claim_recaps")
RELEASE = load("release")
