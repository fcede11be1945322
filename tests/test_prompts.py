"""Reflection prompts: the library's shape and wording, the situation, and the selection rules."""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from itertools import pairwise

import pytest

from bot.domain.prompts import (
    KINDS,
    MAX_CUSTOM_PROMPT_LEN,
    PREFERRED_THEMES,
    RECAP_THEMES,
    THEMES,
    Pick,
    Prompt,
    Situation,
    custom_prompt,
    library,
    load_library,
    pick_prompt,
    preference,
    prompt_of_the_week,
    recap_rotation,
    situation,
    validate_custom_prompt,
)
from bot.domain.streaks import WeekCount
from bot.domain.weeks import shift_week

TARGET = 0.5
# One window per situation, at the default 50% target.
WINDOWS: dict[Situation, WeekCount] = {
    "nothing_logged": WeekCount(),
    "all_shipped": WeekCount(shipped=5),
    "low_clarity": WeekCount(shipped=3, clarity=1),
    "balanced": WeekCount(shipped=2, clarity=2),
}
SEEDS = [f"T0TEAM:U{n:03d}:2026-W{(n % 52) + 1:02d}" for n in range(60)]

VALID_ENTRY = """
[[prompt]]
id = "zo-a"
theme = "zoom_out"
kinds = ["all_shipped"]
text = "What is this for?"
"""


def cycle(
    window: WeekCount, seed: str, custom: tuple[Prompt, ...] = (), pool: tuple[Prompt, ...] = ()
) -> list[Pick]:
    """Pick until a new cycle starts, feeding `shown` back like the caller does; returns every
    pick, the last one being the first of the new cycle."""
    shown: set[str] = set()
    picks: list[Pick] = []
    for _ in range(len(pool or library()) + len(custom) + 1):
        pick = pick_prompt(
            window=window,
            target=TARGET,
            shown=shown,
            custom=custom,
            seed=seed,
            pool=pool or None,
        )
        picks.append(pick)
        if pick.new_cycle:
            break
        shown.add(pick.prompt.id)
    return picks


# The library -----------------------------------------------------------------------------------


def test_library_size_and_themes() -> None:
    """The built-in library holds at least 36 prompts, every theme has at least 4, and no prompt
    uses a theme outside the eight known ones."""
    prompts = library()
    per_theme = Counter(p.theme for p in prompts)
    assert len(prompts) >= 36
    assert set(per_theme) == set(THEMES)
    assert all(per_theme[theme] >= 4 for theme in THEMES), per_theme


def test_library_ids_are_unique_slugs() -> None:
    """Every built-in id is a short lowercase slug and no id appears twice."""
    ids = [p.id for p in library()]
    assert len(ids) == len(set(ids))
    for prompt_id in ids:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", prompt_id), prompt_id
        assert len(prompt_id) <= 32, prompt_id


@pytest.mark.parametrize("prompt", library(), ids=lambda p: p.id)
def test_library_wording(prompt: Prompt) -> None:
    """Each built-in text is plain (no <, >, &, @ or other Slack markup), at most 280 characters,
    one line of one or two sentences, spoken to the PM, and ends a question or a sentence."""
    text = prompt.text
    assert len(text) <= 280
    assert not set(text) & set("<>&@*_~`")
    assert "\n" not in text
    assert text == text.strip()
    assert 1 <= len(re.findall(r"[.?!](?:\s|$)", text)) <= 2, text
    assert re.search(r"\byou(r|'re|'ll)?\b", text, re.IGNORECASE), text
    assert text[-1] in ".?", text


def test_library_kinds_fit_their_theme() -> None:
    """Kinds are known values, and each built-in prompt suits at least one situation whose
    preferred themes include its own theme, so every prompt can be a first choice somewhere."""
    for prompt in library():
        assert prompt.kinds and set(prompt.kinds) <= set(KINDS), prompt.id
        assert any(preference(prompt, where) == 0 for where in WINDOWS), prompt.id


def test_library_is_loaded_once() -> None:
    """The library is cached: repeated calls return the very same tuple."""
    assert library() is library()


# Loading a broken file -------------------------------------------------------------------------


def test_load_library_accepts_a_valid_file() -> None:
    """A minimal well-formed file loads into Prompt objects with kinds as a tuple."""
    assert load_library(VALID_ENTRY) == (
        Prompt(id="zo-a", theme="zoom_out", text="What is this for?", kinds=("all_shipped",)),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (VALID_ENTRY + VALID_ENTRY, "duplicate id"),
        (VALID_ENTRY.replace('"zoom_out"', '"vision"'), "unknown theme"),
        (VALID_ENTRY.replace('["all_shipped"]', '["mostly_shipped"]'), "unknown kind"),
        (VALID_ENTRY.replace('["all_shipped"]', "[]"), "non-empty list"),
        (VALID_ENTRY.replace('["all_shipped"]', '["any", "balanced"]'), "list it alone"),
        (VALID_ENTRY.replace("What is this for?", "x" * 281), "281 characters"),
        (VALID_ENTRY.replace("What is this for?", "Ask <!here> why"), "markup"),
        (VALID_ENTRY.replace("What is this for?", "Ask @anna why"), "markup"),
        (VALID_ENTRY.replace("What is this for?", ""), "non-empty string"),
        (VALID_ENTRY.replace('id = "zo-a"', 'id = "Zo A"'), "slug"),
        (VALID_ENTRY.replace('id = "zo-a"', ""), "missing field"),
        (VALID_ENTRY + 'tone = "warm"\n', "unknown field"),
        ('retired = ["zo-a"]\n' + VALID_ENTRY, "retired"),
        ('title = "prompts"\n' + VALID_ENTRY, "unknown top-level"),
        ("", "no [[prompt]]"),
        ("[[prompt]\nid = ", "not valid TOML"),
    ],
)
def test_load_library_rejects_broken_files(text: str, message: str) -> None:
    """A broken library raises ValueError whose message says what is wrong."""
    with pytest.raises(ValueError, match=re.escape(message)):
        load_library(text)


# Situation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shipped", "clarity", "target", "expected"),
    [
        (0, 0, 0.5, "nothing_logged"),
        (0, 0, 0.0, "nothing_logged"),
        (1, 0, 0.5, "all_shipped"),
        (9, 0, 0.0, "all_shipped"),  # no clarity at all is "all shipped" whatever the target
        (3, 1, 0.5, "low_clarity"),
        (2, 1, 0.5, "low_clarity"),
        (1, 1, 0.5, "balanced"),  # exactly on target counts as balanced
        (1, 3, 0.5, "balanced"),
        (0, 2, 1.0, "balanced"),
        (1, 3, 0.8, "low_clarity"),
        (3, 1, 0.25, "balanced"),
        (3, 1, 0.0, "balanced"),
    ],
)
def test_situation(shipped: int, clarity: int, target: float, expected: str) -> None:
    """The situation follows the window counts and the target exactly as specified."""
    assert situation(WeekCount(shipped=shipped, clarity=clarity), target) == expected


@pytest.mark.parametrize("target", [-0.1, 1.5, 50])
def test_situation_rejects_a_target_outside_0_1(target: float) -> None:
    """A target given as a percent (or otherwise out of range) is refused, not misread."""
    with pytest.raises(ValueError, match="between 0 and 1"):
        situation(WeekCount(shipped=1), target)


# Selection -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "themes"),
    [
        ("all_shipped", {"zoom_out", "connecting", "letting_go", "weeds"}),
        ("low_clarity", {"zoom_out", "connecting", "letting_go", "weeds"}),
        ("nothing_logged", {"what_moved"}),
        ("balanced", {"stretch", "leading", "enabling"}),
    ],
)
def test_first_pick_has_the_preferred_theme(where: Situation, themes: set[str]) -> None:
    """With nothing shown yet, the pick comes from the themes preferred for the situation, for
    every seed."""
    assert themes == PREFERRED_THEMES[where]
    for seed in SEEDS:
        pick = pick_prompt(window=WINDOWS[where], target=TARGET, shown=(), seed=seed)
        assert pick.prompt.theme in themes, (seed, pick.prompt.id)
        assert not pick.new_cycle


@pytest.mark.parametrize("where", list(WINDOWS))
def test_full_cycle_shows_every_prompt_once(where: Situation) -> None:
    """Fed back its own picks, the selector shows exactly len(pool) distinct prompts, the
    preferred ones first, before it reports a new cycle."""
    pool = library()
    picks = cycle(WINDOWS[where], seed="T0TEAM:U1:2026-W48")
    before, restart = picks[:-1], picks[-1]
    ids = [p.prompt.id for p in before]
    assert len(ids) == len(pool)
    assert set(ids) == {p.id for p in pool}
    assert not any(p.new_cycle for p in before)
    assert restart.new_cycle
    ranks = [preference(p.prompt, where) for p in before]
    assert ranks == sorted(ranks)  # never a less suitable prompt while a better one is unseen
    assert ranks[0] == 0


def test_custom_prompts_enter_the_rotation() -> None:
    """Custom prompts join the pool: a cycle is built-ins plus customs, each shown once, and as
    the PM's own choice they rank with the preferred prompts in every situation."""
    custom = (custom_prompt(0, "What did I avoid this week?"), custom_prompt(3, "Who did I thank?"))
    for where, window in WINDOWS.items():
        picks = cycle(window, seed="T0TEAM:U2:2026-W10", custom=custom)[:-1]
        ids = [p.prompt.id for p in picks]
        assert len(ids) == len(set(ids)) == len(library()) + 2
        assert {"custom:0", "custom:3"} <= set(ids)
        first_rank_1 = next(
            (i for i, p in enumerate(picks) if preference(p.prompt, where) > 0), len(picks)
        )
        assert {"custom:0", "custom:3"} <= set(ids[:first_rank_1])


def test_custom_prompt_shape() -> None:
    """A custom prompt gets the id custom:<n>, the custom theme, and suits any situation."""
    prompt = custom_prompt(7, "Where did I say yes too fast?")
    assert prompt == Prompt(
        id="custom:7", theme="custom", text="Where did I say yes too fast?", kinds=("any",)
    )
    with pytest.raises(ValueError):
        custom_prompt(-1, "x")


def test_no_repeat_wins_over_preference() -> None:
    """Once every prompt suiting the situation has been shown, an unseen unsuitable prompt is
    picked rather than repeating a suitable one."""
    fitting = {p.id for p in library() if preference(p, "nothing_logged") < 2}
    pick = pick_prompt(window=WINDOWS["nothing_logged"], target=TARGET, shown=fitting, seed="s")
    assert pick.prompt.id not in fitting
    assert not pick.new_cycle


def test_shown_ids_outside_the_pool_are_ignored() -> None:
    """Ids of deleted custom prompts or retired prompts in `shown` neither block a new cycle nor
    count toward finishing one."""
    pool = library()[:3]
    pick = pick_prompt(
        window=WINDOWS["balanced"],
        target=TARGET,
        shown={pool[0].id, pool[1].id, "custom:9", "gone"},
        seed="s",
        pool=pool,
    )
    assert pick == Pick(prompt=pool[2], new_cycle=False)
    restart = pick_prompt(
        window=WINDOWS["balanced"],
        target=TARGET,
        shown={p.id for p in pool} | {"custom:9"},
        seed="s",
        pool=pool,
    )
    assert restart.new_cycle


@pytest.mark.parametrize("seed", SEEDS[:20])
def test_new_cycle_does_not_repeat_the_last_prompt(seed: str) -> None:
    """At a cycle boundary the prompt shown last is not shown again straight away."""
    pool = library()
    everything = {p.id for p in pool}
    for last in (p.id for p in pool[:10]):
        pick = pick_prompt(
            window=WINDOWS["all_shipped"], target=TARGET, shown=everything, seed=seed, last=last
        )
        assert pick.new_cycle
        assert pick.prompt.id != last


def test_single_prompt_pool_still_cycles() -> None:
    """With a pool of one prompt, every pick is that prompt and each one starts a new cycle."""
    only = library()[:1]
    pick = pick_prompt(
        window=WeekCount(), target=TARGET, shown={only[0].id}, seed="s", pool=only, last=only[0].id
    )
    assert pick == Pick(prompt=only[0], new_cycle=True)


def test_empty_pool_is_an_error() -> None:
    """An empty pool raises instead of returning nothing."""
    with pytest.raises(ValueError, match="empty"):
        pick_prompt(window=WeekCount(), target=TARGET, shown=(), seed="s", pool=())


def test_pick_is_deterministic() -> None:
    """The same inputs give the same pick, also with the arguments in another container type."""
    shown = [p.id for p in library()[:5]]
    for where, window in WINDOWS.items():
        a = pick_prompt(window=window, target=TARGET, shown=shown, seed="T1:U1:2026-W01")
        b = pick_prompt(window=window, target=TARGET, shown=set(shown), seed="T1:U1:2026-W01")
        assert a == b, where


def test_pick_follows_the_documented_rule_exactly() -> None:
    """Against the rule as the module states it — unseen prompts (all but the last one once a
    cycle is over), lowest rank, then the sha256 order of (seed, id) — on many random PMs,
    with and without custom prompts and with lists or sets of shown ids."""
    rng = random.Random(11)
    for case in range(3000):
        window = WeekCount(shipped=rng.randint(0, 3), clarity=rng.randint(0, 3))
        target = rng.choice([0.0, 0.3, 0.5, 1.0])
        custom = [custom_prompt(k, f"My prompt {k}") for k in range(rng.choice([0, 0, 1, 4]))]
        pool = [*library(), *custom]
        ids = [p.id for p in pool]
        shown = rng.sample(ids, rng.randint(0, len(ids)))
        last = rng.choice(ids)
        seed = f"T1:U{case}:2026-11-27"
        where = situation(window, target)
        unseen = [p for p in pool if p.id not in shown] or [p for p in pool if p.id != last]
        expected = min(
            unseen,
            key=lambda p, seed=seed, where=where: (
                preference(p, where),
                hashlib.sha256(f"{seed}\x1f{p.id}".encode()).digest(),
                p.id,
            ),
        )
        got = pick_prompt(
            window=window,
            target=target,
            shown=shown if case % 2 else frozenset(shown),
            custom=custom,
            seed=seed,
            last=last,
        )
        assert got.prompt == expected, case
        assert got.new_cycle == (len(set(shown)) == len(ids))


@pytest.mark.parametrize("where", list(WINDOWS))
def test_pick_varies_with_the_seed(where: Situation) -> None:
    """Different seeds (PMs, weeks) mostly get different first prompts: consecutive seeds
    differ at least 75% of the time and the picks spread over many prompts."""
    picks = [
        pick_prompt(window=WINDOWS[where], target=TARGET, shown=(), seed=seed).prompt.id
        for seed in SEEDS
    ]
    changes = sum(a != b for a, b in pairwise(picks))
    assert changes >= 0.75 * (len(picks) - 1)
    assert len(set(picks)) >= 4


# Prompt of the week ----------------------------------------------------------------------------


def weeks_from(first: str, count: int) -> list[str]:
    """`count` consecutive ISO week ids starting at `first`."""
    return [shift_week(first, i) for i in range(count)]


def test_prompt_of_the_week_is_stable() -> None:
    """The same week always gives the same prompt."""
    for week in weeks_from("2026-W40", 20):
        assert prompt_of_the_week(week) == prompt_of_the_week(week)


def test_prompt_of_the_week_uses_recap_themes_and_rotates() -> None:
    """Over three years (across 53-week years), consecutive weeks always differ, the prompt
    comes from the recap themes, and no prompt repeats within one full rotation."""
    rotation = recap_rotation()
    assert {p.theme for p in rotation} == set(RECAP_THEMES)
    assert len(rotation) == sum(p.theme in RECAP_THEMES for p in library())
    weeks = weeks_from("2025-W01", 160)
    assert "2026-W53" in weeks
    chosen = [prompt_of_the_week(w) for w in weeks]
    assert all(p.theme in RECAP_THEMES for p in chosen)
    assert all(a != b for a, b in pairwise(chosen))
    for start in range(len(chosen) - len(rotation) + 1):
        window = chosen[start : start + len(rotation)]
        assert len({p.id for p in window}) == len(rotation), weeks[start]


def test_prompt_of_the_week_takes_turns_between_themes() -> None:
    """The first weeks of a rotation walk through the recap themes in turn."""
    rotation = recap_rotation()
    assert [p.theme for p in rotation[:4]] == list(RECAP_THEMES)


def test_prompt_of_the_week_without_recap_prompts_is_an_error() -> None:
    """A pool with no prompt in the recap themes raises rather than picking something else."""
    stretch_only = tuple(p for p in library() if p.theme == "stretch")
    with pytest.raises(ValueError, match="recap themes"):
        prompt_of_the_week("2026-W48", pool=stretch_only)


def test_prompt_of_the_week_rejects_a_bad_week() -> None:
    """A malformed week id is refused."""
    with pytest.raises(ValueError):
        prompt_of_the_week("2026-48")


# Custom prompt input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  What am I avoiding?  ", "What am I avoiding?"),
        ("x" * MAX_CUSTOM_PROMPT_LEN, "x" * MAX_CUSTOM_PROMPT_LEN),
        (" " * 5 + "y" * MAX_CUSTOM_PROMPT_LEN + "\n", "y" * MAX_CUSTOM_PROMPT_LEN),
        ("", ValueError("blank")),
        ("   \n\t", ValueError("blank")),
        ("\u200b\u200f\u2066", ValueError("blank")),  # invisible characters only
        ("x" * (MAX_CUSTOM_PROMPT_LEN + 1), ValueError("too_long")),
    ],
)
def test_validate_custom_prompt(raw: str, expected: str | ValueError) -> None:
    """Custom prompt text is stripped, and blank or over-long text is refused with a code."""
    if isinstance(expected, ValueError):
        with pytest.raises(ValueError) as info:
            validate_custom_prompt(raw)
        assert str(info.value) == str(expected)
    else:
        assert validate_custom_prompt(raw) == expected
