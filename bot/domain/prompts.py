"""Reflection prompts: the built-in library, a PM's own prompts, and which one to show. Pure.

The library is data (``bot/domain/prompts.toml``), loaded lazily on first use and validated. Every
choice here is a function of its inputs: no clock, no global random state, no hash
randomisation (``sha256``, not ``hash()``), so every process picks the same prompt for the same
PM and week.

Selection (`pick_prompt`):

1. The PM's situation comes from the four-week window: nothing logged, all shipped, clarity
   below target, or balanced.
2. The pool is the built-in library plus the PM's custom prompts. Prompts already shown in the
   current cycle are never picked again until every prompt in the pool has been shown; then a
   new cycle starts (``Pick.new_cycle``) and the caller resets its shown set.
3. Among the unseen prompts, rank 0 are those whose kinds suit the situation *and* whose theme is
   preferred for it (custom prompts always are), rank 1 those whose kinds suit it, rank 2 the
   rest: the no-repeat rule wins over the preference.
4. Within the best rank the order is a hash of (seed, prompt id): deterministic, yet different
   for every PM and week when the seed holds both.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.resources import files
from itertools import zip_longest
from typing import Final, Literal

from bot.domain.streaks import WeekCount
from bot.domain.weeks import week_monday
from bot.domain.wins import has_visible_text

Situation = Literal["nothing_logged", "all_shipped", "low_clarity", "balanced"]

THEMES: Final = (
    "zoom_out",  # why are we doing this, where is it heading
    "enabling",  # creating the clarity that lets others decide
    "connecting",  # user needs and business goals, today and tomorrow, market and vision
    "leading",  # setting the pace versus keeping up
    "letting_go",  # handing execution over
    "weeds",  # what holds you in the details: the organisation or yourself
    "what_moved",  # gentle, for a PM who logged nothing
    "stretch",  # harder and forward-looking, for a PM on target
)
CUSTOM_THEME: Final = "custom"
KINDS: Final = ("all_shipped", "nothing_logged", "balanced", "any")

PREFERRED_THEMES: Final[Mapping[Situation, frozenset[str]]] = {
    "all_shipped": frozenset({"zoom_out", "connecting", "letting_go", "weeds"}),
    "low_clarity": frozenset({"zoom_out", "connecting", "letting_go", "weeds"}),
    "nothing_logged": frozenset({"what_moved"}),
    "balanced": frozenset({"stretch", "leading", "enabling"}),
}
# The `kinds` value that suits each situation ("any" suits all of them).
SITUATION_KIND: Final[Mapping[Situation, str]] = {
    "all_shipped": "all_shipped",
    "low_clarity": "all_shipped",
    "nothing_logged": "nothing_logged",
    "balanced": "balanced",
}
# Themes the team recap's prompt of the week is drawn from, in the order they take turns.
RECAP_THEMES: Final = ("zoom_out", "enabling", "connecting", "leading")

MAX_PROMPT_LEN: Final = 280
MAX_CUSTOM_PROMPTS: Final = 20
MAX_CUSTOM_PROMPT_LEN: Final = 280
# Characters that Slack would treat as markup or mentions; built-in prompts are plain text.
FORBIDDEN_CHARS: Final = "<>&@*_~`"

_ID_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_FIELDS = frozenset({"id", "theme", "kinds", "text"})
_TOP_LEVEL = frozenset({"prompt", "retired"})
_RECAP_SALT = "prompt-of-the-week"
_EPOCH_MONDAY = date(2000, 1, 3)  # Monday of 2000-W01: week numbers count from here


@dataclass(frozen=True)
class Prompt:
    id: str
    theme: str
    text: str
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class Pick:
    prompt: Prompt
    # True when every prompt in the pool had been shown: this pick starts a new cycle and the
    # caller should reset its shown set to {prompt.id}.
    new_cycle: bool


# Loading ---------------------------------------------------------------------------------------


def load_library(text: str, *, source: str = "prompts.toml") -> tuple[Prompt, ...]:
    """Parse and validate a prompt library; ValueError naming the file and prompt if broken."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise ValueError(f"{source}: unknown top-level key(s) {unknown}; expected [[prompt]]")
    retired = data.get("retired", [])
    if not isinstance(retired, list) or not all(isinstance(r, str) for r in retired):
        raise ValueError(f"{source}: `retired` must be a list of prompt ids")
    entries = data.get("prompt")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{source}: no [[prompt]] entries")
    first_seen: dict[str, int] = {}
    prompts: list[Prompt] = []
    for number, entry in enumerate(entries, start=1):
        prompt = _parse_entry(entry, f"{source}: prompt #{number}")
        where = f"{source}: prompt #{number} ({prompt.id!r})"
        if prompt.id in first_seen:
            raise ValueError(
                f"{where}: duplicate id, already used by prompt #{first_seen[prompt.id]}"
            )
        if prompt.id in retired:
            raise ValueError(f"{where}: this id is retired and must not be reused")
        first_seen[prompt.id] = number
        prompts.append(prompt)
    return tuple(prompts)


def _parse_entry(entry: object, where: str) -> Prompt:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: must be a table")
    missing, extra = sorted(_FIELDS - entry.keys()), sorted(entry.keys() - _FIELDS)
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    if extra:
        raise ValueError(f"{where}: unknown field(s) {extra}")
    prompt_id, theme, kinds, text = entry["id"], entry["theme"], entry["kinds"], entry["text"]
    if not isinstance(prompt_id, str) or not _ID_RE.fullmatch(prompt_id):
        raise ValueError(f"{where}: id {prompt_id!r} must be a slug like 'zo-outcome'")
    where = f"{where} ({prompt_id!r})"
    if theme not in THEMES:
        raise ValueError(f"{where}: unknown theme {theme!r}; expected one of {list(THEMES)}")
    if not isinstance(kinds, list) or not kinds:
        raise ValueError(f"{where}: kinds must be a non-empty list")
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"{where}: unknown kind {kind!r}; expected one of {list(KINDS)}")
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"{where}: kinds are repeated")
    if "any" in kinds and len(kinds) > 1:
        raise ValueError(f"{where}: 'any' already covers every situation; list it alone")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: text must be a non-empty string")
    if text != text.strip() or "\n" in text:
        raise ValueError(f"{where}: text must be one line without surrounding whitespace")
    if len(text) > MAX_PROMPT_LEN:
        raise ValueError(f"{where}: text is {len(text)} characters; the limit is {MAX_PROMPT_LEN}")
    bad = sorted({c for c in text if c in FORBIDDEN_CHARS})
    if bad:
        raise ValueError(f"{where}: text contains Slack markup character(s) {bad}")
    return Prompt(id=prompt_id, theme=theme, text=text, kinds=tuple(kinds))


@cache
def library() -> tuple[Prompt, ...]:
    """The built-in prompts from ``bot/domain/prompts.toml``, loaded and validated on first use."""
    text = (files("bot.domain") / "prompts.toml").read_text(encoding="utf-8")
    return load_library(text, source="bot/domain/prompts.toml")


# Custom prompts --------------------------------------------------------------------------------


def validate_custom_prompt(text: str) -> str:
    """The prompt text to store (stripped), or ValueError("blank"|"too_long")."""
    stripped = text.strip()
    if not stripped or not has_visible_text(stripped):
        raise ValueError("blank")
    if len(stripped) > MAX_CUSTOM_PROMPT_LEN:
        raise ValueError("too_long")
    return stripped


def custom_prompt(index: int, text: str) -> Prompt:
    """A PM's own prompt: suits every situation; `index` is the caller's stable number for it.

    Its text is the PM's and is not checked for Slack markup: escape it when rendering.
    """
    if index < 0:
        raise ValueError(f"custom prompt index must be >= 0, got {index}")
    return Prompt(id=f"custom:{index}", theme=CUSTOM_THEME, text=text, kinds=("any",))


# Selection -------------------------------------------------------------------------------------


def situation(window: WeekCount, target: float) -> Situation:
    """Where the PM stands over the four-week window; `target` is a share between 0 and 1."""
    if not 0 <= target <= 1:
        raise ValueError(f"target must be a share between 0 and 1, got {target!r}")
    if window.total <= 0:
        return "nothing_logged"
    if window.clarity <= 0:
        return "all_shipped"
    if window.clarity / window.total < target:
        return "low_clarity"
    return "balanced"


def suits(prompt: Prompt, where: Situation) -> bool:
    """Whether the prompt's kinds cover the situation."""
    return "any" in prompt.kinds or SITUATION_KIND[where] in prompt.kinds


def preference(prompt: Prompt, where: Situation) -> int:
    """0: suits the situation in a preferred theme (or is the PM's own), 1: suits it, 2: not."""
    if not suits(prompt, where):
        return 2
    if prompt.theme == CUSTOM_THEME or prompt.theme in PREFERRED_THEMES[where]:
        return 0
    return 1


def pick_prompt(
    *,
    window: WeekCount,
    target: float,
    shown: Collection[str],
    custom: Sequence[Prompt] = (),
    seed: str,
    pool: Sequence[Prompt] | None = None,
    last: str | None = None,
) -> Pick:
    """The prompt to show next.

    `window` and `target` (0..1) describe the PM's recent balance; `shown` holds the ids shown
    in the current cycle (ids no longer in the pool are ignored); `custom` the PM's own prompts;
    `seed` varies the order (e.g. ``f"{team}:{user}:{week}"``); `pool` replaces the built-in
    library (tests). `last`, the id shown most recently, is only used when a new cycle starts,
    so the same prompt is not shown twice in a row across the cycle boundary.
    """
    where = situation(window, target)
    # The built-in library alone needs no de-duplication: loading it rejects repeated ids.
    prompts: Sequence[Prompt] = (
        library()
        if pool is None and not custom
        else _unique([*(library() if pool is None else pool), *custom])
    )
    if not prompts:
        raise ValueError("the prompt pool is empty")
    seen = set(shown)
    candidates = [p for p in prompts if p.id not in seen]
    new_cycle = not candidates
    if new_cycle:
        candidates = [p for p in prompts if p.id != last] or list(prompts)
    # The best rank first, then the seeded order within it: the hash is only computed for the
    # prompts of that rank (a nudge batch picks one prompt per PM).
    ranks = [preference(p, where) for p in candidates]
    top = min(ranks)
    best = min(
        (p for p, rank in zip(candidates, ranks, strict=True) if rank == top),
        key=lambda p: (_order(seed, p.id), p.id),
    )
    return Pick(prompt=best, new_cycle=new_cycle)


def _order(seed: str, prompt_id: str) -> bytes:
    return hashlib.sha256(f"{seed}\x1f{prompt_id}".encode()).digest()


def _unique(prompts: Iterable[Prompt]) -> list[Prompt]:
    """The prompts in order, keeping the first of any repeated id."""
    out: dict[str, Prompt] = {}
    for prompt in prompts:
        out.setdefault(prompt.id, prompt)
    return list(out.values())


# Prompt of the week (team recap) ---------------------------------------------------------------


def recap_rotation(pool: Sequence[Prompt] | None = None) -> tuple[Prompt, ...]:
    """The fixed cycle the prompt of the week walks through.

    Only prompts of the recap themes; the themes take turns (zoom_out, enabling, connecting,
    leading, zoom_out, …) and within a theme the order is a fixed hash, not file order.
    """
    prompts = _unique(library() if pool is None else pool)
    by_theme = [
        sorted(
            (p for p in prompts if p.theme == theme),
            key=lambda p: (_order(_RECAP_SALT, p.id), p.id),
        )
        for theme in RECAP_THEMES
    ]
    return tuple(p for turn in zip_longest(*by_theme) for p in turn if p is not None)


def prompt_of_the_week(week: str, *, pool: Sequence[Prompt] | None = None) -> Prompt:
    """The team recap's prompt for an ISO week id like ``2026-W48``.

    Weeks walk through `recap_rotation` one step at a time, continuously across year ends, so
    consecutive weeks always differ and no prompt comes back before all the others have been
    used: within any run of ``len(recap_rotation())`` consecutive weeks (a whole year once the
    recap themes hold 53 prompts or more) there is no repeat.
    """
    rotation = recap_rotation(pool)
    if not rotation:
        raise ValueError(f"no prompts in the recap themes {list(RECAP_THEMES)}")
    index = (week_monday(week) - _EPOCH_MONDAY).days // 7
    return rotation[index % len(rotation)]
