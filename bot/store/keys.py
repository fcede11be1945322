"""The key layout: every key PM Coach writes is listed here, and only `Keys` builds one. Pure
(imports nothing of Redis or of the rest of the store).

Key layout, version 1 (``pmc:v1:`` prefix; bump the version to migrate). ``T`` is the Slack team
id, ``U`` the user id. The part in braces is the Redis Cluster hash tag: all keys that one atomic
operation touches share it, so the layout works unchanged on Redis Cluster.

Per PM (hash tag ``{T:U}``) — written atomically by one Lua script per operation:
  pmc:v1:{T:U}:profile        hash   tz, tz_source (slack|explicit), enrolled_at, target…  forever
  pmc:v1:{T:U}:wins           hash   win id -> win JSON                                    forever
  pmc:v1:{T:U}:timeline       zset   win id, score = when it happened (epoch ms)           forever
  pmc:v1:{T:U}:recent         list   ids of the wins logged last, newest first (at most   forever
                                     RECENT_MAX: how far `/coach undo` goes back)
  pmc:v1:{T:U}:weeks          hash   "<YYYY-Www>:s" / "<YYYY-Www>:c" -> wins that week     forever
  pmc:v1:{T:U}:paused         set    local ISO weeks the PM paused (vacation)               forever
  pmc:v1:{T:U}:undone:<id>    string "1": win <id> was undone; its Slack delivery again   3 days
                                     (a redelivery, a second click) logs nothing
  pmc:v1:{T:U}:draft:<id>     string JSON of a win waiting for its lane (/win <text>)      1 day
  pmc:v1:{T:U}:prompts        hash   custom prompt number -> text                          forever
  pmc:v1:{T:U}:shown          set    prompt ids shown in the current no-repeat cycle       forever
  pmc:v1:{T:U}:nudge          hash   the latest nudge: channel, ts, prompt_id, prompt, slot  forever
  pmc:v1:{T:U}:sent:<date>    string send guard of the nudge slot (local date):          3 days
                                     "pending:<token>" | "unknown:<token>" | "sent:<ts>" |
                                     "refused:<token>" (Slack said no: safe to retry)
  pmc:v1:{T:U}:reflections    zset   reflection JSON, score = when answered (epoch ms)     forever

Profile fields: tz, tz_source, enrolled_at, target (percent), share ("1" = may appear in the team
recap), prompt_seq (last custom prompt number), nudge_days / nudge_time / nudges ("off"),
ignored (nudges since the last interaction), backoff_from (week), backoff_told, inactive,
skip_week, snooze_at (epoch ms).

Per team (hash tag ``{T}``). A team's week of wins (the recap) is read from its PMs' timelines
around that week, in the batches that read their week counts; no per-team index is written
when a win is logged:
  pmc:v1:{T}:users            set    user ids of PMs who use PM Coach                      forever
  pmc:v1:{T}:event:<event_id> string Events API delivery already handled                   1 hour
  pmc:v1:{T}:team             hash   uninstalled_at (app_uninstalled / tokens_revoked)     forever
  pmc:v1:{T}:rate             string shared send budget: GCRA theoretical arrival (ms)   ~1 min
  pmc:v1:{T}:recap:<week>     string the week's recap claim: "pending:<token>" (lease) →
                                     "posted:<channel>:<ts>" | "failed:<error>" | "unknown" 90 days
  pmc:v1:{T}:recap:<week>:thread  string the thread reply's claim, taken only once the main
                                     message is posted: "pending:<token>" (lease) → "done" |
                                     "unknown" (its post's answer was lost)               90 days
Team fields (pmc:v1:{T}:team): recap_channel, recap_day (0 = Monday), recap_time, recap_tz,
recap_set_by.

Scheduling (hash tag ``{due:NN}``, NN = 00..15 by CRC32 of "T:U"): what every process's tick
claims. Members are "T:U"; a claim moves the score to the lease's end, so an abandoned claim
is claimed again after it (see DESIGN-SCHEDULING.md).
  pmc:v1:{due:NN}:index       zset   "T:U", score = next due time (epoch ms)                while on
  pmc:v1:{due:NN}:leases      hash   "T:U" -> {occ, token, attempt, override?}            in flight

Operations:
  pmc:v1:ops:procs            zset   process id, score = last heartbeat (epoch ms)          pruned
  pmc:v1:ops:recaps           zset   team id, score = next recap due (epoch ms)             while on
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache

PREFIX = "pmc:v1"
RECENT_MAX = 100  # wins `/coach undo` can take back, newest first
UNDONE_TTL_S = 3 * 24 * 3600  # how long a redelivery of an undone win's delivery is recognised
DRAFT_TTL_S = 24 * 3600
EVENT_TTL_S = 3600
SENT_TTL_S = 3 * 24 * 3600  # a nudge slot's send guard
RECAP_TTL_S = 90 * 24 * 3600  # a week's recap claim and its thread's
DUE_SHARDS = 16

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def glob_escape(text: str) -> str:
    """`text` as a literal in a Redis MATCH pattern (a user id `U*` must match only itself)."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def user_tag(team_id: str, user_id: str) -> str:
    return f"{PREFIX}:{{{team_id}:{user_id}}}"


def team_tag(team_id: str) -> str:
    return f"{PREFIX}:{{{team_id}}}"


def due_shard(team_id: str, user_id: str) -> int:
    return zlib.crc32(f"{team_id}:{user_id}".encode()) % DUE_SHARDS


class Keys:
    """Key templates. Nothing outside this module builds a key."""

    @staticmethod
    def profile(t: str, u: str) -> str:
        return f"{user_tag(t, u)}:profile"

    @staticmethod
    def wins(t: str, u: str) -> str:
        return f"{user_tag(t, u)}:wins"

    @staticmethod
    def timeline(t: str, u: str) -> str:
        return f"{user_tag(t, u)}:timeline"

    @staticmethod
    def recent(t: str, u: str) -> str:
        return f"{user_tag(t, u)}:recent"

    @staticmethod
    def prompts(t: str, u: str) -> str:
        return f"{user_tag(t, u)}:prompts"

    @staticmethod
    def shown(t: str, u: str) -> str:
        return f"{user_tag(t, u)}:shown"

    @staticmethod
    def user_pattern(t: str, u: str) -> str:
        """A SCAN pattern of every key under the PM's hash tag, and only theirs."""
        return f"{glob_escape(user_tag(t, u))}:*"

    @staticmethod
    def weeks(t: str, u: str) -> str:
        return f"{user_tag(t, u)}:weeks"

    @staticmethod
    def paused(t: str, u: str) -> str:
        return f"{user_tag(t, u)}:paused"

    @staticmethod
    def undone(t: str, u: str, win_id: str) -> str:
        return f"{user_tag(t, u)}:undone:{win_id}"

    @staticmethod
    def draft(t: str, u: str, draft_id: str) -> str:
        return f"{user_tag(t, u)}:draft:{draft_id}"

    @staticmethod
    def team_users(t: str) -> str:
        return f"{team_tag(t)}:users"

    @staticmethod
    def team(t: str) -> str:
        return f"{team_tag(t)}:team"

    @staticmethod
    def event(t: str, event_id: str) -> str:
        return f"{team_tag(t)}:event:{event_id}"

    PROCS = f"{PREFIX}:ops:procs"
    PROBE = f"{PREFIX}:ops:probe"  # /healthz writes it: does Redis take writes?
    RECAPS = f"{PREFIX}:ops:recaps"

    @staticmethod
    def recap(t: str, week: str) -> str:
        return f"{team_tag(t)}:recap:{week}"

    @staticmethod
    def recap_thread(t: str, week: str) -> str:
        return f"{team_tag(t)}:recap:{week}:thread"

    @staticmethod
    def nudge(t: str, u: str) -> str:
        return f"{user_tag(t, u)}:nudge"

    @staticmethod
    def sent(t: str, u: str, slot: str) -> str:
        return f"{user_tag(t, u)}:sent:{slot}"

    @staticmethod
    def reflections(t: str, u: str) -> str:
        return f"{user_tag(t, u)}:reflections"

    @staticmethod
    def rate(t: str) -> str:
        return f"{team_tag(t)}:rate"

    @staticmethod
    def due_index(shard: int) -> str:
        return f"{PREFIX}:{{due:{shard:02d}}}:index"

    @staticmethod
    def due_leases(shard: int) -> str:
        return f"{PREFIX}:{{due:{shard:02d}}}:leases"


@lru_cache(maxsize=4096)
def win_keys(t: str, u: str) -> tuple[str, ...]:
    """The PM's keys LOG_WIN and DELETE_WIN touch (profile, wins, timeline, weeks, paused,
    recent), built once per PM: `/win` is the hot path."""
    return (
        Keys.profile(t, u),
        Keys.wins(t, u),
        Keys.timeline(t, u),
        Keys.weeks(t, u),
        Keys.paused(t, u),
        Keys.recent(t, u),
    )
