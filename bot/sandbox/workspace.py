"""The sandbox's sample workspace: its team, the #product channel, three sample PMs, the
simulated clock that moves only when the person says so, and the twelve weeks of demo history
(`pm-coach sandbox --demo`), logged through the real coach. It imports the domain and the
runtime's composition (for the `Runtime` it seeds).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

from bot.domain.wins import Lane
from bot.runtime.compose import Runtime

TEAM = "T0SANDBOX"
# Not secrets: the sandbox's fake Slack accepts exactly these made-up tokens.
SANDBOX_BOT_TOKEN = "xoxb-sandbox-0000"  # noqa: S105
SANDBOX_APP_TOKEN = "xapp-sandbox"  # noqa: S105
CHANNEL = "C0PRODUCT"
CHANNEL_NAME = "product"


@dataclass(frozen=True)
class Person:
    """A sample PM: who the person at the terminal can be (`:as bob`)."""

    user_id: str
    name: str
    tz: str
    admin: bool = False


PEOPLE = (
    Person("U0ALICE", "alice", "Europe/Berlin"),
    Person("U0BOB", "bob", "America/New_York"),
    Person("U0SAM", "sam", "Europe/London", admin=True),
)


class SimClock:
    """The sandbox's clock: it only moves when the person says so."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, now: datetime) -> None:
        with self._lock:
            self._now = now


# Demo history ---------------------------------------------------------------------------------

_CLARITY = [
    "Framed the pricing question as three options for the exec review",
    "Got design and eng to agree on the v2 scope",
    "Wrote the why behind the onboarding bet",
    "Cut the reporting epic in half after customer interviews",
    "Unblocked the data team by deciding on one metrics definition",
    "Aligned sales and support on the escalation path",
    "Turned twelve feature requests into one problem statement",
    "Said no to the partner integration, with a one-pager on why",
]
_SHIPPED = [
    "Launched the new onboarding flow",
    "Released 2.4 with SSO",
    "Fixed the CSV export timeout",
    "Shipped dark mode",
    "Rolled out usage-based billing to 10% of accounts",
    "Closed the accessibility bugs from the audit",
    "Delivered the Q3 roadmap deck",
    "Migrated search to the new index",
]


def seed_history(runtime: Runtime, clock: SimClock, weeks: int = 12, seed: int = 7) -> None:
    """Twelve weeks of plausible wins for the sample PMs, logged through the real coach.
    alice drifts toward clarity, bob stays in the weeds, sam is balanced; alice shares."""
    rng = Random(seed)  # noqa: S311 - demo data, not security
    coach = runtime.deps.coach
    now = clock()
    leaning = {"alice": (0.25, 0.65), "bob": (0.15, 0.25), "sam": (0.45, 0.55)}
    for person in PEOPLE:
        coach.tz_cache.put(TEAM, person.user_id, person.tz)
        runtime.store.profiles.enrol(TEAM, person.user_id, person.tz, now - timedelta(weeks=weeks))
        start, end = leaning[person.name]
        for week in range(weeks, 0, -1):
            share = start + (end - start) * (weeks - week) / max(weeks - 1, 1)
            for n in range(rng.randint(2, 5)):
                at = now - timedelta(weeks=week) + timedelta(days=rng.randint(0, 4), hours=n)
                clock.set(at)
                lane = Lane.CLARITY if rng.random() < share else Lane.SHIPPED
                pool = _CLARITY if lane is Lane.CLARITY else _SHIPPED
                coach.log_win(
                    team_id=TEAM,
                    user_id=person.user_id,
                    lane=lane,
                    text=rng.choice(pool),
                    source=f"demo:{person.name}:{week}:{n}",
                )
    clock.set(now)
    coach.set_share(TEAM, "U0ALICE", True)
    coach.reflect(
        TEAM,
        "U0ALICE",
        "I let the squad run the roadmap review and it went fine.",
        "",
        "What did you let go of this week?",
    )
    for person in PEOPLE:
        coach.schedule_next(TEAM, person.user_id)
