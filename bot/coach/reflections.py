"""Reflections and the export: the prompt of a PM's latest nudge, their private answer to it,
and the brag document of a date range delivered as a file in their DM. Imports `bot.domain`,
`bot.store`, `bot.surfaces` and the coach's enrolment only.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.coach.enrolment import Enrolment
from bot.domain.export import (
    ExportRange,
    Reflection,
    brag_document,
    export_filename,
    parse_export_range,
)
from bot.domain.prompts import pick_prompt
from bot.domain.weeks import local_date, local_noon
from bot.domain.wins import MAX_TEXT, WinInputError, has_visible_text
from bot.store import OutcomeUnknown, StoreUnavailable
from bot.surfaces import texts


@dataclass(frozen=True)
class Export:
    """A brag document ready to send: its range, Markdown, file name and how many wins."""

    range: ExportRange
    markdown: str
    filename: str
    count: int


class Reflections(Enrolment):
    """Prompts, reflections and the brag document."""

    def latest_prompt(self, team_id: str, user_id: str) -> tuple[str, str]:
        """(prompt id, text) of the PM's latest nudge, or a fresh pick if there was none."""
        record = self.store.nudges.nudge_record(team_id, user_id)
        if record.get("prompt"):
            return record.get("prompt_id", ""), record["prompt"]
        ov = self.overview(team_id, user_id)
        target = (ov.snapshot.state.target or self.default_target) / 100
        pick = pick_prompt(
            window=ov.standing.balance.window,
            target=target,
            shown=(),
            seed=f"{team_id}:{user_id}:{ov.week}",
        )
        return pick.prompt.id, pick.prompt.text

    def reflect(self, team_id: str, user_id: str, text: str, prompt_id: str, prompt: str) -> str:
        """Store a reflection privately. Returns the enrolment outcome for `finish_enrolment`
        ("reactivated" or ""), which the caller runs after answering Slack. A reflection never
        enrols: NotEnrolled (nothing written) for a PM without a profile."""
        if not has_visible_text(text):
            raise WinInputError("reflect_blank")
        if len(text) > MAX_TEXT:
            raise WinInputError("reflect_too_long")
        enrolled = self._enrolled_only(team_id, user_id)
        now = self.clock()
        reflection = {
            "id": secrets.token_hex(6),
            "at": now.isoformat(),
            "prompt_id": prompt_id,
            "prompt": prompt,
            "text": text,
        }
        try:
            self.store.profiles.add_reflection(team_id, user_id, reflection, now)
        except OutcomeUnknown:  # the answer was lost: ask once whether it is stored
            try:
                stored = self.store.profiles.has_reflection(team_id, user_id, reflection)
            except StoreUnavailable:
                stored = False
            if not stored:
                self.log.warning("reflection_unconfirmed", team_id=team_id, user_id=user_id)
                raise
        self.log.info("reflection_saved", team_id=team_id, user_id=user_id)
        return enrolled

    # Export -----------------------------------------------------------------------------------

    def export(self, team_id: str, user_id: str, args: str) -> Export:
        """Build the brag document for a range (raises ExportRangeError for a bad one).
        Reflections are included only when asked: `... with reflections`."""
        tz = self.tz_for(team_id, user_id)
        now = self.clock()
        words = args.lower().split()
        with_reflections = "reflections" in words
        args = " ".join(w for w in args.split() if w.lower() not in ("with", "reflections", "+"))
        rng = parse_export_range(args, local_date(now, tz))
        # A day of slack on both sides; the document keeps wins by their local date.
        start = local_noon(rng.start, tz) - timedelta(days=1)
        end = local_noon(rng.end, tz) + timedelta(days=1)
        wins = self.store.wins.user_wins(team_id, user_id, start=start, end=end)
        reflections = []
        if with_reflections:
            reflections = [
                Reflection(
                    at=datetime.fromisoformat(r["at"]),
                    prompt=str(r.get("prompt") or ""),
                    text=str(r["text"]),
                )
                for r in self.store.profiles.reflections(team_id, user_id, start=start, end=end)
            ]
        document = brag_document(
            wins,
            rng,
            tz=tz,
            person=self.display_name(user_id),
            generated_at=now,
            reflections=reflections,
            include_reflections=with_reflections,
        )
        included = [w for w in wins if rng.start <= local_date(w.at, tz) <= rng.end]
        return Export(
            range=rng, markdown=document, filename=export_filename(rng), count=len(included)
        )

    def display_name(self, user_id: str) -> str:
        """How the brag document names the PM; their user id if Slack cannot say."""
        try:
            user = self.profile_client.users_info(user=user_id).get("user") or {}
        except (SlackApiError, SlackClientError, OSError):
            return user_id
        profile = user.get("profile") or {}
        return str(
            profile.get("display_name") or user.get("real_name") or user.get("name") or user_id
        )

    def send_export(self, user_id: str, export: Export) -> None:
        """Deliver the document privately: a file in the PM's DM with the app."""
        channel = self.slack.conversations_open(users=user_id)["channel"]["id"]
        self.poster.files_upload_v2(
            channel=channel,
            content=export.markdown,
            filename=export.filename,
            title=f"Brag document — {export.range.label}",
            initial_comment=texts.EXPORT_COMMENT.format(label=export.range.label),
        )
