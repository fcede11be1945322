"""The coach: the use cases that combine the pure domain, the store and Slack. Handlers call
them; nothing here knows about Bolt, and time comes from an injected clock so the sandbox and
tests can move it. `Coach` is assembled from one class per area, each
built on what it uses: `base` (state, zones, standing, the Home's overview, the next nudge),
`enrolment` (enrol, the zone learnt after the answer, welcome, forget), `settings` (schedule,
pause, target, share, zone, team roles), `wins` (log, draft, history, edit, undo) and
`reflections` (prompts, reflections, export). This package imports `bot.domain`,
`bot.surfaces` and `bot.store` only; of Slack it uses just the `WebClient`s it is given —
never handlers, the runtime or a Slack transport of its own.
"""

from __future__ import annotations

from bot.coach.base import FALLBACK_TZ, Clock, Overview, Standing, TzCache
from bot.coach.enrolment import NOT_ENROLLED, NotEnrolled
from bot.coach.reflections import Export, Reflections
from bot.coach.settings import PMSettings
from bot.coach.wins import Logged, Undone, Wins

__all__ = [
    "FALLBACK_TZ",
    "NOT_ENROLLED",
    "Clock",
    "Coach",
    "Export",
    "Logged",
    "NotEnrolled",
    "Overview",
    "Standing",
    "TzCache",
    "Undone",
]


class Coach(Wins, PMSettings, Reflections):
    """Every use case, for one process: built once by the runtime with the store, the Slack
    clients and the clock, and handed to the handlers."""
