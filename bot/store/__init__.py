"""The store: the only module that talks to Redis. Every key PM Coach writes is listed here.

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

Costs: logging a win is one round trip (one EVALSHA); a PM's first request in a process adds
one profile read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import zlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

try:  # redis-py packs commands with hiredis when it is installed (pyproject asks for it)
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - redis-py's own packer then
    _pack = None  # type: ignore[assignment]

from bot.domain.numbers import is_number
from bot.domain.streaks import WeekCount, counts_from_items
from bot.domain.weeks import week_span_ms
from bot.domain.wins import Lane, Win

PREFIX = "pmc:v1"
RECENT_MAX = 100  # wins `/coach undo` can take back, newest first
UNDONE_TTL_S = 3 * 24 * 3600  # how long a redelivery of an undone win's delivery is recognised
DRAFT_TTL_S = 24 * 3600
EVENT_TTL_S = 3600
# Connect, and each read, of a check after a lost answer (`Store._check`): the PM is waiting,
# and Slack gives the answer 3 s.
CHECK_TIMEOUT_S = 0.5

# Errors that mean "Redis will not store this right now": it refuses writes (maxmemory reached
# with noeviction: OOM; a read-only replica: READONLY; a Redis Cluster node that holds other
# slots: MOVED/ASK, TRYAGAIN, CLUSTERDOWN). Nothing was written; the same request can succeed
# once an operator fixes Redis.
StoreRefused = (
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.AskError,  # MovedError is one
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)
# Errors that mean "Redis is not there right now" (unreachable, too slow) or refuses to store
# what we send: handlers turn them all into "not saved" and give the PM's text back, except
# OutcomeUnknown (one of them), which only says "could not confirm".
StoreUnavailable = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, *StoreRefused)


class OutcomeUnknown(redis.exceptions.ConnectionError):
    """`_exchange` sent its commands and their answer was lost (a timeout, a connection cut
    while reading): Redis may have run them, late. Never tell a PM "not saved" for this; a
    refusal Redis answered (OOM, READONLY, MOVED, LOADING...) or a connection that failed
    before anything was sent is raised as itself. The original error is its `__cause__`."""


# Errors of a batch sent whose answer did not come: OutcomeUnknown. Except these, raised
# although Redis answered (nothing ran).
_LOST = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
_ANSWERED = (redis.exceptions.BusyLoadingError, redis.exceptions.AuthenticationError)

# Why Redis does not store our writes (`Store.health`, `pm-coach check`, /healthz), for operators.
CAUSES = {
    "unreachable": "unreachable (connection refused, reset or timed out)",
    "oom": "out of memory: maxmemory reached with the noeviction policy, writes are refused (OOM)",
    "read_only_replica": "a read-only replica: REDIS_URL must name the primary (READONLY)",
    "cluster_redirect": (
        "a Redis Cluster node that redirects our keys to other nodes (MOVED/ASK): "
        "this client does not follow cluster redirects"
    ),
    "cluster_down": "the Redis Cluster is down or resharding (CLUSTERDOWN/TRYAGAIN)",
    "error": "an unexpected error reply",
}


def unavailable_cause(exc: BaseException) -> str:
    """The key of CAUSES for an error the store raised."""
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return "oom"
    if isinstance(exc, redis.exceptions.ReadOnlyError):
        return "read_only_replica"
    if isinstance(exc, redis.exceptions.AskError):
        return "cluster_redirect"
    if isinstance(exc, redis.exceptions.TryAgainError | redis.exceptions.ClusterDownError):
        return "cluster_down"
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return "unreachable"
    return "error"


_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def glob_escape(text: str) -> str:
    """`text` as a literal in a Redis MATCH pattern (a user id `U*` must match only itself)."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def user_tag(team_id: str, user_id: str) -> str:
    return f"{PREFIX}:{{{team_id}:{user_id}}}"


def team_tag(team_id: str) -> str:
    return f"{PREFIX}:{{{team_id}}}"


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
def _win_keys(t: str, u: str) -> tuple[str, ...]:
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


# Lua ------------------------------------------------------------------------------------------

# KEYS: profile, wins, timeline, weeks, paused, recent, undone, [draft]
# ARGV: win id, win JSON, at ms, week, lane letter, tz, now iso, RECENT_MAX, tz source
# A win id derives from its Slack delivery (bot.domain.wins.win_id): a win already stored, or undone
# within UNDONE_TTL_S, is a redelivery ("duplicate"), and nothing is written.
# Returns {status, win id, weeks HGETALL, paused SMEMBERS, profile target or "", tz, enrolled}
# enrolled: "new" (profile created), "reactivated" (was inactive) or ""
# status: "logged" | "duplicate" | "stale_tz" (the PM's zone changed; nothing written)
LOG_WIN = """
local p = redis.call('HMGET', KEYS[1], 'tz', 'inactive', 'ignored', 'backoff_from',
                      'backoff_told', 'target')
local tz = p[1]
local enrolled = ''
if not tz then
  redis.call('HSET', KEYS[1], 'tz', ARGV[6], 'tz_source', ARGV[9], 'enrolled_at', ARGV[7])
  tz = ARGV[6]
  enrolled = 'new'
elseif tz ~= ARGV[6] then
  return {'stale_tz', '', {}, {}, '', tz, ''}
end
-- Any interaction ends a back-off and brings a PM who had left back.
if p[3] or p[4] or p[5] then
  redis.call('HDEL', KEYS[1], 'ignored', 'backoff_from', 'backoff_told')
end
if p[2] then
  redis.call('HDEL', KEYS[1], 'inactive')
  enrolled = 'reactivated'
end
local status = 'logged'
local id = ARGV[1]
if redis.call('EXISTS', KEYS[7]) == 1 or redis.call('HSETNX', KEYS[2], id, ARGV[2]) == 0 then
  status = 'duplicate'
else
  redis.call('ZADD', KEYS[3], tonumber(ARGV[3]), id)
  redis.call('HINCRBY', KEYS[4], ARGV[4] .. ':' .. ARGV[5], 1)
  if redis.call('LPUSH', KEYS[6], id) > tonumber(ARGV[8]) then redis.call('RPOP', KEYS[6]) end
end
if KEYS[8] then redis.call('DEL', KEYS[8]) end
return {status, id, redis.call('HGETALL', KEYS[4]), redis.call('SMEMBERS', KEYS[5]), p[6] or '',
        tz, enrolled}
"""

# KEYS: profile, wins, timeline, weeks, paused, recent, undone (as LOG_WIN's)
# ARGV: win id, undone ttl (s)
# Returns {"deleted", win JSON, weeks, paused, target} or {"missing"}
DELETE_WIN = """
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'missing'} end
local win = cjson.decode(raw)
local field = win['week'] .. ':' .. string.sub(win['lane'], 1, 1)
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('LREM', KEYS[6], 1, ARGV[1])
redis.call('SET', KEYS[7], '1', 'EX', tonumber(ARGV[2]))
if redis.call('HINCRBY', KEYS[4], field, -1) <= 0 then redis.call('HDEL', KEYS[4], field) end
local target = redis.call('HGET', KEYS[1], 'target') or ''
return {'deleted', raw, redis.call('HGETALL', KEYS[4]), redis.call('SMEMBERS', KEYS[5]), target}
"""


# KEYS: wins, timeline, weeks, paused, profile
# ARGV: win id, new win JSON, new at ms, new week, new lane letter
# Returns {"edited", old win JSON, weeks, paused, target} or {"missing"}
EDIT_WIN = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'missing'} end
local old = cjson.decode(raw)
local old_field = old['week'] .. ':' .. string.sub(old['lane'], 1, 1)
if redis.call('HINCRBY', KEYS[3], old_field, -1) <= 0 then
  redis.call('HDEL', KEYS[3], old_field)
end
redis.call('HINCRBY', KEYS[3], ARGV[4] .. ':' .. ARGV[5], 1)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[1])
local target = redis.call('HGET', KEYS[5], 'target') or ''
return {'edited', raw, redis.call('HGETALL', KEYS[3]), redis.call('SMEMBERS', KEYS[4]), target}
"""

# KEYS: profile   ARGV: tz, now iso, tz source ("slack" | "fallback": Slack could not be asked)
# ends a back-off. Returns 1 if new, 2 if the PM had been marked inactive, else 0.
ENROL = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HDEL', KEYS[1], 'ignored', 'backoff_from', 'backoff_told')
  if redis.call('HDEL', KEYS[1], 'inactive') == 1 then return 2 end
  return 0
end
redis.call('HSET', KEYS[1], 'tz', ARGV[1], 'tz_source', ARGV[3], 'enrolled_at', ARGV[2])
return 1
"""

# KEYS: prompts, profile   ARGV: text, max count — returns the new number, or -1 when full
ADD_PROMPT = """
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
local n = redis.call('HINCRBY', KEYS[2], 'prompt_seq', 1)
redis.call('HSET', KEYS[1], tostring(n), ARGV[1])
return n
"""

# KEYS: paused   ARGV: first week to resume (YYYY-Www) — removes that week and later ones
RESUME = """
local removed = 0
for _, week in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if week >= ARGV[1] then redis.call('SREM', KEYS[1], week); removed = removed + 1 end
end
return removed
"""

# KEYS: profile   ARGV: tz, source ("slack" | "explicit"), force ("1": `/coach timezone auto`)
# An explicit choice (/coach timezone) wins over Slack's zone; only enrolled PMs have a profile.
SET_TZ = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == 'slack' and ARGV[3] ~= '1'
   and redis.call('HGET', KEYS[1], 'tz_source') == 'explicit' then return 0 end
redis.call('HSET', KEYS[1], 'tz', ARGV[1], 'tz_source', ARGV[2])
return 1
"""


# --- Scheduling scripts (one shard each) ---------------------------------------------------------

# KEYS: index, leases   ARGV: now ms, lease ms, limit, token prefix
# Claims up to `limit` members due by now; a member whose lease expired keeps its occurrence
# (and any override) and counts one more attempt. Returns flat [member, occ, token, attempt]*.
CLAIM = """
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for i, member in ipairs(due) do
  local occ = redis.call('ZSCORE', KEYS[1], member)
  local attempt = 1
  local lease = {}
  local raw = redis.call('HGET', KEYS[2], member)
  if raw then
    lease = cjson.decode(raw)
    occ = lease['occ']
    attempt = tonumber(lease['attempt']) + 1
  end
  lease['occ'] = occ
  lease['attempt'] = attempt
  lease['token'] = ARGV[4] .. '-' .. i
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), member)
  redis.call('HSET', KEYS[2], member, cjson.encode(lease))
  out[#out + 1] = member
  out[#out + 1] = occ
  out[#out + 1] = lease['token']
  out[#out + 1] = tostring(attempt)
end
return out
"""

# KEYS: index, leases   ARGV: (member, token, next ms | "" | "retry:<ms>")*
# Fenced by token: only the current lease holder completes. "" drops the member from the index;
# "retry:<ms>" keeps the lease (same occurrence, next attempt) and makes it due again at <ms>.
# An override stored while in flight (schedule changed) wins over the computed next time.
COMPLETE = """
local done = 0
for i = 1, #ARGV, 3 do
  local member, token, nxt = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local raw = redis.call('HGET', KEYS[2], member)
  if raw then
    local lease = cjson.decode(raw)
    if lease['token'] == token then
      done = done + 1
      if string.sub(nxt, 1, 6) == 'retry:' then
        redis.call('ZADD', KEYS[1], tonumber(string.sub(nxt, 7)), member)
      else
        redis.call('HDEL', KEYS[2], member)
        if lease['override'] then nxt = lease['override'] end
        if nxt == '' or nxt == 'off' then
          redis.call('ZREM', KEYS[1], member)
        else
          redis.call('ZADD', KEYS[1], tonumber(nxt), member)
        end
      end
    end
  end
end
return done
"""

# KEYS: index, leases   ARGV: member, due ms | "off"
# Set when a PM is next due; while their nudge is in flight, store it for COMPLETE instead.
RESCHEDULE = """
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if raw then
  local lease = cjson.decode(raw)
  lease['override'] = ARGV[2]
  redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(lease))
  return 2
end
if ARGV[2] == 'off' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], tonumber(ARGV[2]), ARGV[1])
end
return 1
"""

# KEYS: send guard, profile   ARGV: token, ttl ms — "ok" (or "ok-refused": the last attempt was
# refused by Slack, so nothing was posted) if this holder may send, "forgotten" when the PM has
# no profile (forget-me ran meanwhile: nothing is written), else the current value
GUARD = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 'forgotten' end
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], 'pending:' .. ARGV[1], 'PX', tonumber(ARGV[2]))
  return 'ok'
end
if string.sub(current, 1, 8) == 'refused:' then
  -- Slack answered the last attempt with a refusal: certainly not posted, take it as is.
  redis.call('SET', KEYS[1], 'pending:' .. ARGV[1], 'PX', tonumber(ARGV[2]))
  return 'ok-refused'
end
if current == 'pending:' .. ARGV[1] then return 'ok' end
return current
"""

# KEYS: send guard, nudge record, profile, shown
# ARGV: message ts, channel, prompt id, prompt text, slot, sent-at iso, guard ttl s, notice flag,
#       new-cycle flag (the no-repeat cycle of prompts starts over with this one)
# After Slack accepted the nudge: the single write that records it. A PM who has no profile
# any more (forget-me ran while the nudge was in flight) leaves nothing behind: returns 0.
MARK_SENT = """
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
redis.call('SET', KEYS[1], 'sent:' .. ARGV[1], 'EX', tonumber(ARGV[7]))
redis.call('HSET', KEYS[2], 'ts', ARGV[1], 'channel', ARGV[2], 'prompt_id', ARGV[3],
           'prompt', ARGV[4], 'slot', ARGV[5], 'sent_at', ARGV[6])
redis.call('HINCRBY', KEYS[3], 'ignored', 1)
if ARGV[8] == '1' then redis.call('HSET', KEYS[3], 'backoff_told', '1') end
if ARGV[9] == '1' then redis.call('DEL', KEYS[4]) end
if ARGV[3] ~= '' then redis.call('SADD', KEYS[4], ARGV[3]) end
return 1
"""

# KEYS: send guard, profile   ARGV: value, ttl s — the outcome of a post is unknown: note it,
# unless the PM was forgotten meanwhile
MARK_UNKNOWN = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
return 1
"""

# KEYS: send guard   ARGV: token, ttl s — Slack refused the post: "pending:<token>" becomes
# "refused:<token>", only if this holder still holds it (compare-and-set in one step: a lease
# that ended meanwhile may belong to another process now)
RELEASE_GUARD = """
if redis.call('GET', KEYS[1]) ~= 'pending:' .. ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'refused:' .. ARGV[1], 'EX', tonumber(ARGV[2]))
return 1
"""

# KEYS: profile   ARGV: number of fields to set n, then n field/value pairs, then fields to
# delete. The scheduler's changes to a profile; a profile that is gone (forget-me) stays gone.
UPDATE_PROFILE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[1])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + 2 * n)) end
if #ARGV > 1 + 2 * n then redis.call('HDEL', KEYS[1], unpack(ARGV, 2 + 2 * n)) end
return 1
"""

# KEYS: claim   ARGV: value — delete the claim only if it still holds `value` (compare-and-delete
# in one step: a lease that ended meanwhile may belong to another process now)
RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: prompts, shown   ARGV: number — 1 if the prompt was there (never resent: a second run
# would answer 0)
REMOVE_PROMPT = """
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], 'custom:' .. ARGV[1])
return removed
"""

# KEYS: team settings   ARGV: user id — forget-me of the admin who set up the recap
FORGET_SETTER = """
if redis.call('HGET', KEYS[1], 'recap_set_by') == ARGV[1] then
  return redis.call('HDEL', KEYS[1], 'recap_set_by')
end
return 0
"""

# KEYS: profile, weeks, paused, shown, prompts
# Everything deciding and writing one nudge needs about a PM (a batch sends one per PM).
NUDGE_STATE = """
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),
        redis.call('SMEMBERS', KEYS[3]), redis.call('SMEMBERS', KEYS[4]),
        redis.call('HGETALL', KEYS[5])}
"""

# KEYS: rate   ARGV: count, interval ms, burst tolerance ms
# GCRA on the server's clock: reserves `count` send slots for the workspace and returns how long
# (ms) each must wait. All processes share the budget.
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local waits = {}
for i = 1, tonumber(ARGV[1]) do
  local wait = tat - tonumber(ARGV[3]) - now
  if wait < 0 then wait = 0 end
  waits[#waits + 1] = wait
  tat = tat + tonumber(ARGV[2])
end
redis.call('SET', KEYS[1], tat, 'PX', math.ceil(tat - now + 60000))
return waits
"""

# KEYS: rate   ARGV: pause ms — a 429: nobody sends before now + Retry-After
PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local until_ms = now + tonumber(ARGV[1])
if tat < until_ms then redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]) + 60000) end
return until_ms
"""


# KEYS: recaps index   ARGV: now ms, lease ms — claims due teams; returns flat [team, due ms]*
CLAIM_RECAPS = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]), 'WITHSCORES')
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), due[i])
end
return due
"""


# One encoder for the JSON the store writes (json.dumps with an option builds one per call).
_json = json.JSONEncoder(ensure_ascii=False).encode


@cache
def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1


def _pairs(flat: Sequence[Any] | Mapping[str, Any]) -> dict[str, str]:
    if isinstance(flat, Mapping):
        return {str(k): str(v) for k, v in flat.items()}
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}


# Results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PMState:
    """What the confirmation of a change shows: the PM's week counts, pauses and target."""

    counts: dict[str, WeekCount]
    paused: frozenset[str]
    target: int | None  # the PM's own target percent, None = the team default


@dataclass(frozen=True)
class SentNudge:
    """A nudge Slack accepted, waiting to be recorded (`Store.mark_sent_many`)."""

    claim: Claim
    slot: str
    ts: str
    channel: str
    prompt_id: str
    prompt: str
    now: datetime
    notice: bool
    next_due: datetime | None
    new_cycle: bool = False


@dataclass(frozen=True)
class LogOutcome:
    status: str  # "logged" | "duplicate" | "stale_tz"
    win_id: str
    state: PMState
    tz: str
    enrolled: str = ""  # "new" | "reactivated" | ""


class RecapMember(NamedTuple):
    """What a recap reads of one PM (`Store.recap_members`)."""

    user_id: str
    weeks: dict[str, str]  # the weeks hash: "<week>:s" / "<week>:c" -> count
    paused: set[str]
    share: str  # "1": shares wins in the team recap
    around: list[tuple[int, str]]  # (epoch ms, win id) around the recap's week, in time order


def week_candidates(members: Iterable[RecapMember]) -> list[tuple[int, str, str]]:
    """(epoch ms, user id, win id) of the members' wins around a week, in time order."""
    return sorted((at, m.user_id, w) for m in members for at, w in m.around)


@dataclass(frozen=True)
class DeleteOutcome:
    win: Win | None  # None when there was nothing to delete (already undone)
    state: PMState | None


def _state(weeks: Any, paused: Any, target: Any) -> PMState:
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


def connect(url: str, **overrides: Any) -> redis.Redis:
    """A client that fails fast: a PM must hear "not saved" well inside Slack's 3 s."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": 0.5,
        "socket_timeout": 1.0,
        "retry": Retry(NoBackoff(), 1),
        "health_check_interval": 30,
    }
    options.update(overrides)
    return redis.Redis.from_url(url, **options)


@dataclass(frozen=True)
class Snapshot:
    """Everything the App Home and `/coach stats` show about a PM, read in two round trips."""

    enrolled: bool
    profile: dict[str, str]
    state: PMState
    recent: list[Win]  # newest first (by when it happened)
    total_wins: int
    custom_prompts: int
    reflections: list[dict[str, Any]]  # newest first, the PM's own only


DUE_SHARDS = 16
SENT_TTL_S = 3 * 24 * 3600


def due_shard(team_id: str, user_id: str) -> int:
    return zlib.crc32(f"{team_id}:{user_id}".encode()) % DUE_SHARDS


@dataclass(frozen=True)
class Claim:
    """A PM whose nudge is due, claimed under a lease by this process."""

    team_id: str
    user_id: str
    occurrence: datetime  # the scheduled instant (UTC), kept across retries
    token: str
    attempt: int


@dataclass(frozen=True)
class NudgeState:
    """What deciding and writing a nudge needs about a PM, read in one batched round trip."""

    profile: dict[str, str]
    state: PMState
    shown: frozenset[str]
    custom_prompts: list[tuple[int, str]]


@dataclass(frozen=True)
class Completion:
    team_id: str
    user_id: str
    token: str
    next_due: datetime | None  # None: no next nudge (off, inactive, forgotten)
    retry_at: datetime | None = None  # set: keep the lease and try again then


def _ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def _from_ms(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value) / 1000, tz=UTC)


def _wins(raws: Sequence[Any]) -> list[Win]:
    return [Win.from_json_dict(json.loads(r)) for r in raws if r]


class Store:
    """Every read and write of PM Coach state. Connections are passed in, never created here."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._loaded: set[str] = set()
        self._spare: deque[Any] = deque()  # `_exchange`'s idle connections
        self._spare_pid = os.getpid()

    # Health -----------------------------------------------------------------------------------

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except StoreUnavailable:
            return False

    def health(self) -> str:
        """ "ok" if Redis takes writes now, else why not (a key of CAUSES): "unreachable",
        "oom", "read_only_replica", "cluster_redirect", "cluster_down". One round trip: a tiny
        probe key written with a TTL, and INFO's cluster line (a plain client facing a Redis
        Cluster of several masters is redirected for most keys, whichever slot the probe is in).
        """
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(Keys.PROBE, "1", px=60_000)
        pipe.info("cluster")
        try:
            probe, info = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            return unavailable_cause(exc)
        if isinstance(probe, Exception):
            return unavailable_cause(probe)
        if isinstance(info, dict) and str(info.get("cluster_enabled")) == "1":
            try:
                owners = {str(node[2]) for node in self._cluster_slot_owners()}
            except redis.RedisError as exc:
                return unavailable_cause(exc)
            if len(owners) > 1:
                return "cluster_redirect"
        return "ok"

    def _cluster_slot_owners(self) -> list[Any]:
        """(start, end, owner id) of every slot range of a cluster node (CLUSTER SLOTS)."""
        ranges = self.redis.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]
        if isinstance(ranges, dict):  # redis-py's callback: {(start, end): {primary, ...}}
            return [(lo, hi, str(v.get("primary"))) for (lo, hi), v in ranges.items()]
        return [(r[0], r[1], str(r[2][:2])) for r in ranges]

    def heartbeat(self, process_id: str, now: datetime, ttl_s: int = 180) -> int:
        """Record that this process is alive; return how many processes are alive."""
        now_ms = int(now.timestamp() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(Keys.PROCS, {process_id: now_ms})
        pipe.zremrangebyscore(Keys.PROCS, "-inf", now_ms - ttl_s * 1000)
        pipe.zcard(Keys.PROCS)
        return int(pipe.execute()[-1])

    def live_processes(self, now: datetime, ttl_s: int = 180) -> int:
        now_ms = int(now.timestamp() * 1000)
        return int(self.redis.zcount(Keys.PROCS, now_ms - ttl_s * 1000, "+inf"))

    # Profiles ---------------------------------------------------------------------------------

    def profile_zone(self, team_id: str, user_id: str) -> tuple[str | None, str | None]:
        """(tz, tz_source) of a PM's profile; (None, None) when unknown."""
        tz, source = self.redis.hmget(Keys.profile(team_id, user_id), ["tz", "tz_source"])
        return (str(tz) if tz else None), (str(source) if source else None)

    def profile_tz(self, team_id: str, user_id: str) -> str | None:
        value = self.redis.hget(Keys.profile(team_id, user_id), "tz")
        return str(value) if value else None

    def set_tz(
        self, team_id: str, user_id: str, tz: str, source: str, *, force: bool = False
    ) -> bool:
        """Record a PM's zone; Slack's zone never overrides an explicit choice unless `force`
        (the PM asked to follow Slack again). True if set."""
        key = Keys.profile(team_id, user_id)
        flag = "1" if force else "0"
        result = self._run_scripts([_evalsha(SET_TZ, [key], tz, source, flag)])
        return bool(result[0])

    # Wins -------------------------------------------------------------------------------------

    def log_win(
        self,
        win: Win,
        *,
        tz: str,
        now: datetime,
        draft_id: str | None = None,
        tz_source: str = "slack",
    ) -> LogOutcome:
        """Store `win` once, in one round trip. Its id derives from the Slack delivery that
        carried it (`bot.domain.wins.win_id`), so a redelivery or a second click is a ``duplicate``
        that writes nothing: while the win is stored, and for UNDONE_TTL_S after it was undone.

        `tz` is the zone the caller computed `win.week` with; if the PM's stored zone differs,
        nothing is written and the outcome is ``stale_tz`` with the stored zone, so the caller
        recomputes the week and calls again.
        """
        t, u = win.team_id, win.user_id
        keys = [*_win_keys(t, u), Keys.undone(t, u, win.id)]
        if draft_id is not None:
            keys.append(Keys.draft(t, u, draft_id))
        lane_letter = "s" if win.lane is Lane.SHIPPED else "c"
        at_ms = int(win.at.timestamp() * 1000)
        args = [
            win.id,
            _json(win.to_json_dict()),
            at_ms,
            win.week,
            lane_letter,
            tz,
            now.isoformat(),
            RECENT_MAX,
            tz_source,
        ]
        result = self._run_scripts([_evalsha(LOG_WIN, keys, *args)])[0]
        status, win_id, weeks, paused, target, stored_tz, enrolled = result
        if status == "stale_tz":
            return LogOutcome(status, "", _state([], [], ""), str(stored_tz))
        return LogOutcome(
            str(status),
            str(win_id),
            _state(weeks, paused, target),
            str(stored_tz),
            str(enrolled),
        )

    def stored_win(self, win: Win, *, now: datetime) -> tuple[Win, LogOutcome] | None:
        """After a `log_win(win, now=now)` whose answer was lost (OutcomeUnknown): the win
        stored under `win.id` and a ``logged`` outcome (``enrolled`` "new" when that call
        created the profile: its `enrolled_at` is `now`), or None when it is not stored. None
        is no proof that it never will be: a late run may still store it. One round trip."""
        t, u = win.team_id, win.user_id
        profile, wins, _, weeks, paused, _ = _win_keys(t, u)
        raw, weeks_flat, paused_members, (target, tz, enrolled_at) = self._check(
            [
                ("HGET", wins, win.id),
                ("HGETALL", weeks),
                ("SMEMBERS", paused),
                ("HMGET", profile, "target", "tz", "enrolled_at"),
            ]
        )
        if raw is None:
            return None
        enrolled = "new" if enrolled_at == now.isoformat() else ""
        outcome = LogOutcome(
            "logged", win.id, _state(weeks_flat, paused_members, target), str(tz or ""), enrolled
        )
        return Win.from_json_dict(json.loads(raw)), outcome

    def delete_win(self, team_id: str, user_id: str, win_id: str) -> DeleteOutcome:
        """Remove exactly one win and what it counted for. Idempotent."""
        t, u = team_id, user_id
        keys = [*_win_keys(t, u), Keys.undone(t, u, win_id)]
        result = self._run_scripts([_evalsha(DELETE_WIN, keys, win_id, UNDONE_TTL_S)])[0]
        if result[0] != "deleted":
            return DeleteOutcome(win=None, state=None)
        win = Win.from_json_dict(json.loads(result[1]))
        return DeleteOutcome(win=win, state=_state(result[2], result[3], result[4]))

    def edit_win(self, win: Win) -> DeleteOutcome:
        """Replace a win's text, lane, date, link or beneficiary; counts follow. The returned
        `win` is the *old* version (None when the win no longer exists)."""
        t, u = win.team_id, win.user_id
        keys = [
            Keys.wins(t, u),
            Keys.timeline(t, u),
            Keys.weeks(t, u),
            Keys.paused(t, u),
            Keys.profile(t, u),
        ]
        args = [
            win.id,
            _json(win.to_json_dict()),
            int(win.at.timestamp() * 1000),
            win.week,
            "s" if win.lane is Lane.SHIPPED else "c",
        ]
        result = self._run_scripts([_evalsha(EDIT_WIN, keys, *args)])[0]
        if result[0] != "edited":
            return DeleteOutcome(win=None, state=None)
        old = Win.from_json_dict(json.loads(result[1]))
        return DeleteOutcome(win=old, state=_state(result[2], result[3], result[4]))

    def last_logged_id(self, team_id: str, user_id: str) -> str | None:
        """The win the PM logged most recently and still has, among the last RECENT_MAX."""
        last = self.redis.lindex(Keys.recent(team_id, user_id), 0)
        return str(last) if last is not None else None

    def snapshot(self, team_id: str, user_id: str, recent: int = 5) -> Snapshot:
        """Profile, week counts, pauses and the newest wins: at most two round trips."""
        t, u = team_id, user_id
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(Keys.profile(t, u))
        pipe.hgetall(Keys.weeks(t, u))
        pipe.smembers(Keys.paused(t, u))
        pipe.zrevrange(Keys.timeline(t, u), 0, recent - 1)
        pipe.hlen(Keys.wins(t, u))
        pipe.hlen(Keys.prompts(t, u))
        pipe.zrevrange(Keys.reflections(t, u), 0, 2)
        profile, weeks, paused, ids, total, prompts, reflections = pipe.execute()
        wins = _wins(self.redis.hmget(Keys.wins(t, u), ids)) if ids else []
        profile = {str(k): str(v) for k, v in (profile or {}).items()}
        return Snapshot(
            enrolled=bool(profile),
            profile=profile,
            state=_state(weeks, paused, profile.get("target", "")),
            recent=wins,
            total_wins=int(total),
            custom_prompts=int(prompts),
            reflections=[json.loads(r) for r in reflections],
        )

    def get_win(self, team_id: str, user_id: str, win_id: str) -> Win | None:
        raw = self.redis.hget(Keys.wins(team_id, user_id), win_id)
        return Win.from_json_dict(json.loads(str(raw))) if raw else None

    def user_wins(
        self,
        team_id: str,
        user_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[Win]:
        """A PM's wins in time order (when they happened), optionally within [start, end]."""
        low = int(start.timestamp() * 1000) if start else "-inf"
        high = int(end.timestamp() * 1000) if end else "+inf"
        key = Keys.timeline(team_id, user_id)
        start_at = 0 if limit else None
        ids: list[str]
        if newest_first:
            ids = self.redis.zrevrangebyscore(key, high, low, start=start_at, num=limit)  # type: ignore[assignment]
        else:
            ids = self.redis.zrangebyscore(key, low, high, start=start_at, num=limit)  # type: ignore[assignment]
        if not ids:
            return []
        return _wins(self.redis.hmget(Keys.wins(team_id, user_id), ids))

    def team_week_entries(self, team_id: str, week: str) -> list[tuple[str, str]]:
        """(user id, win id) of every win the team's PMs logged in a local ISO week, in time
        order."""
        return [(w.user_id, w.id) for w in self.team_week_wins(team_id, week)]

    def team_week_wins(self, team_id: str, week: str) -> list[Win]:
        """Every win the team's PMs logged in a local ISO week, in time order (a PM's wins
        around the week, from their timeline; then those stored for that week)."""
        users = sorted(self.team_users(team_id))
        candidates = week_candidates(self.recap_members(team_id, users, week=week))
        pipe = self.redis.pipeline(transaction=False)
        for _, user_id, win_id in candidates:
            pipe.hget(Keys.wins(team_id, user_id), win_id)
        return [w for w in _wins(pipe.execute()) if w.week == week] if candidates else []

    def team_users(self, team_id: str) -> set[str]:
        return {str(u) for u in self.redis.smembers(Keys.team_users(team_id))}

    # Profile settings -------------------------------------------------------------------------

    def enrol(
        self, team_id: str, user_id: str, tz: str, now: datetime, tz_source: str = "slack"
    ) -> str:
        """Create the PM's profile if missing and list them in the team; an enrolled PM's
        interaction ends a back-off. Returns "new", "reactivated" or ""."""
        key = Keys.profile(team_id, user_id)

        commands = [
            _evalsha(ENROL, [key], tz, now.isoformat(), tz_source),
            ("SADD", Keys.team_users(team_id), user_id),
        ]
        result = int(self._run_scripts(commands)[0])
        return {1: "new", 2: "reactivated"}.get(result, "")

    def profile(self, team_id: str, user_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(Keys.profile(team_id, user_id))
        return {str(k): str(v) for k, v in (raw or {}).items()}

    def set_profile(self, team_id: str, user_id: str, **fields: str) -> None:
        self.redis.hset(Keys.profile(team_id, user_id), mapping=fields)  # type: ignore[arg-type]

    def clear_profile(self, team_id: str, user_id: str, *fields: str) -> None:
        self.redis.hdel(Keys.profile(team_id, user_id), *fields)

    def snapshot_paused(self, team_id: str, user_id: str) -> set[str]:
        return {str(w) for w in self.redis.smembers(Keys.paused(team_id, user_id))}

    def pause(self, team_id: str, user_id: str, weeks: Sequence[str]) -> None:
        self.redis.sadd(Keys.paused(team_id, user_id), *weeks)

    def resume(self, team_id: str, user_id: str, from_week: str) -> int:
        """Un-pause `from_week` and every later week; past pauses stay (they were real)."""
        key = Keys.paused(team_id, user_id)
        result = self._run_scripts([_evalsha(RESUME, [key], from_week)])
        return int(result[0])

    # Custom prompts ---------------------------------------------------------------------------

    def custom_prompts(self, team_id: str, user_id: str) -> list[tuple[int, str]]:
        """(number, text) of a PM's own prompts, oldest first."""
        raw = self.redis.hgetall(Keys.prompts(team_id, user_id))
        items = [(int(k), str(v)) for k, v in (raw or {}).items()]
        return sorted(items)

    def add_prompt(self, team_id: str, user_id: str, text: str, limit: int) -> int | None:
        """The new prompt's number, or None when the PM already has `limit` prompts."""
        keys = [Keys.prompts(team_id, user_id), Keys.profile(team_id, user_id)]
        result = self._run_scripts([_evalsha(ADD_PROMPT, keys, text, limit)])
        number = int(result[0])
        return None if number < 0 else number

    def remove_prompt(self, team_id: str, user_id: str, number: int) -> bool:
        """True if the prompt was there. One script, never resent (a resend would say False)."""
        keys = [Keys.prompts(team_id, user_id), Keys.shown(team_id, user_id)]
        return bool(self._run_scripts([_evalsha(REMOVE_PROMPT, keys, str(number))])[0])

    # Forget me --------------------------------------------------------------------------------

    def forget(self, team_id: str, user_id: str) -> int:
        """Delete every key about a PM and their entries in team indexes (the team's PMs, the
        due index and its lease, the recap's "set by"). Returns the PM's keys deleted.

        Nothing about the PM remains, whatever else is running: the profile goes first, and
        every write the scheduler makes for a PM (send guard, nudge record, `ignored`, shown
        prompts) is a script that writes nothing when there is no profile; the lease goes with
        the index entry, so an in-flight nudge's completion (fenced by its lease) writes no
        next due time. Only the PM re-enrols themselves (a `/win`, a reflection, a setting).
        The SCAN pattern escapes glob characters: user `U*` is not every user.
        """
        t, u = team_id, user_id
        deleted = int(self.redis.unlink(Keys.profile(t, u)))
        pipe = self.redis.pipeline(transaction=False)
        pipe.srem(Keys.team_users(t), u)
        shard = due_shard(t, u)
        pipe.zrem(Keys.due_index(shard), f"{t}:{u}")
        pipe.hdel(Keys.due_leases(shard), f"{t}:{u}")
        pipe.execute()
        self._run_scripts([_evalsha(FORGET_SETTER, [Keys.team(t)], u)])
        batch: list[str] = []
        for key in self.redis.scan_iter(match=Keys.user_pattern(t, u), count=500):
            batch.append(str(key))
            if len(batch) >= 200:
                deleted += int(self.redis.unlink(*batch))
                batch = []
        if batch:
            deleted += int(self.redis.unlink(*batch))
        return deleted

    # Scheduling: due index, leases, send guard ---------------------------------------------

    def reschedule(self, team_id: str, user_id: str, due: datetime | None) -> None:
        """Make the PM due at `due` (None: no nudges). Safe while their nudge is in flight."""
        shard = due_shard(team_id, user_id)
        keys = [Keys.due_index(shard), Keys.due_leases(shard)]
        value = "off" if due is None else str(_ms(due))
        member = f"{team_id}:{user_id}"
        self._run_scripts([_evalsha(RESCHEDULE, keys, member, value)])

    def due_at(self, team_id: str, user_id: str) -> datetime | None:
        score = self.redis.zscore(
            Keys.due_index(due_shard(team_id, user_id)), f"{team_id}:{user_id}"
        )
        return None if score is None else _from_ms(score)

    def claim_due(
        self, now: datetime, *, lease_s: float, limit: int, token_prefix: str
    ) -> list[Claim]:
        """Claim up to `limit` due PMs across all shards in one round trip."""
        per_shard = max(1, -(-limit // DUE_SHARDS))

        now_ms, lease_ms = _ms(now), int(lease_s * 1000)
        commands = [
            _evalsha(
                CLAIM,
                [Keys.due_index(shard), Keys.due_leases(shard)],
                now_ms,
                lease_ms,
                per_shard,
                f"{token_prefix}.{shard}",
            )
            for shard in range(DUE_SHARDS)
        ]
        claims: list[Claim] = []
        for flat in self._run_scripts(commands):
            for i in range(0, len(flat), 4):
                team_id, _, user_id = str(flat[i]).partition(":")
                claims.append(
                    Claim(
                        team_id, user_id, _from_ms(flat[i + 1]), str(flat[i + 2]), int(flat[i + 3])
                    )
                )
        return claims

    def complete(self, completions: Sequence[Completion]) -> int:
        """Finish claims (fenced by token), batched per shard: one round trip."""
        if not completions:
            return 0
        return sum(int(n) for n in self._run_scripts(_completing(completions)))

    def nudge_states(self, pairs: Sequence[tuple[str, str]]) -> list[NudgeState]:
        """Profile, week counts, pauses, shown prompts and custom prompts of many PMs: one
        round trip."""
        if not pairs:
            return []
        commands = [
            _evalsha(
                NUDGE_STATE,
                [
                    Keys.profile(t, u),
                    Keys.weeks(t, u),
                    Keys.paused(t, u),
                    Keys.shown(t, u),
                    Keys.prompts(t, u),
                ],
            )
            for t, u in pairs
        ]
        states = []
        for profile_flat, weeks, paused, shown, prompts_flat in self._run_scripts(commands):
            profile = _pairs(profile_flat)
            prompts = _pairs(prompts_flat)
            states.append(
                NudgeState(
                    profile=profile,
                    state=_state(weeks, paused, profile.get("target", "")),
                    shown=frozenset(shown),
                    custom_prompts=sorted((int(k), v) for k, v in prompts.items()),
                )
            )
        return states

    def guard(self, items: Sequence[tuple[str, str, str, str]], ttl_s: float) -> list[str]:
        """Take the send guard of (team, user, slot, token) items: "ok" where this holder may
        send, "forgotten" where the PM has no profile, otherwise the guard's current value
        ("sent:…", "pending:…", "unknown:…")."""
        if not items:
            return []

        ttl_ms = int(ttl_s * 1000)
        commands = [
            _evalsha(GUARD, [Keys.sent(t, u, slot), Keys.profile(t, u)], token, ttl_ms)
            for t, u, slot, token in items
        ]
        return [str(v) for v in self._run_scripts(commands)]

    def mark_sent_many(self, accepted: Sequence[SentNudge]) -> None:
        """Slack accepted these nudges: record each, then complete its claim — two round trips
        for the whole batch.

        This is the only window that cannot be closed (Slack has no idempotency key): if the
        process dies between Slack's answer and the records, a nudge may be sent again after
        the lease expires — unless the retry finds it in the DM's history first. No claim is
        ever completed before every record of the batch is written: a claim completed without
        its record would never be retried, and the next occurrence would be planned as if the
        nudge had not been sent. A failure between the two leaves records with their claims
        still leased; the retry after the lease finds the guard saying "sent" and only
        completes.
        """
        if not accepted:
            return
        records = [
            _evalsha(
                MARK_SENT,
                [
                    Keys.sent(t, u, sent.slot),
                    Keys.nudge(t, u),
                    Keys.profile(t, u),
                    Keys.shown(t, u),
                ],
                sent.ts,
                sent.channel,
                sent.prompt_id,
                sent.prompt,
                sent.slot,
                sent.now.isoformat(),
                SENT_TTL_S,
                "1" if sent.notice else "0",
                "1" if sent.new_cycle else "0",
            )
            for sent in accepted
            for t, u in [(sent.claim.team_id, sent.claim.user_id)]
        ]
        completions = [
            Completion(s.claim.team_id, s.claim.user_id, s.claim.token, s.next_due)
            for s in accepted
        ]
        self._ensure_script(MARK_SENT)  # loaded before the window, not after a refusal
        self._run_scripts(records)
        self._run_scripts(_completing(completions))

    def update_profiles(
        self, changes: Sequence[tuple[str, str, Mapping[str, str], Sequence[str]]]
    ) -> None:
        """(team, user, fields to set, fields to delete) for many PMs: one round trip. A PM
        whose profile is gone (forget-me) gets none back."""
        commands = [
            _evalsha(
                UPDATE_PROFILE,
                [Keys.profile(t, u)],
                len(sets),
                *[part for item in sets.items() for part in item],
                *deletes,
            )
            for t, u, sets, deletes in changes
            if sets or deletes
        ]
        if commands:
            self._run_scripts(commands)

    def mark_unknown(self, team_id: str, user_id: str, slot: str, token: str) -> None:
        """A post whose outcome is unknown (timeout, connection lost): the next attempt must
        look in the DM's history before posting again."""
        keys = [Keys.sent(team_id, user_id, slot), Keys.profile(team_id, user_id)]
        self._run_scripts([_evalsha(MARK_UNKNOWN, keys, f"unknown:{token}", SENT_TTL_S)])

    def release_guard(self, team_id: str, user_id: str, slot: str, token: str) -> None:
        """Slack refused the post (5xx, 429 after retries): free the slot for the retry, noting
        that nothing was posted so the retry need not look in the DM's history. Only while
        this holder still holds it: one compare-and-set."""
        key = Keys.sent(team_id, user_id, slot)
        self._run_scripts([_evalsha(RELEASE_GUARD, [key], token, SENT_TTL_S)])

    def mark_inactive(self, team_id: str, user_id: str) -> None:
        """The PM left the workspace: no more nudges until they interact again."""
        self.update_profiles([(team_id, user_id, {"inactive": "1"}, ())])

    def nudge_record(self, team_id: str, user_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(Keys.nudge(team_id, user_id))
        return {str(k): str(v) for k, v in (raw or {}).items()}

    def uninstalled(self, team_ids: Sequence[str]) -> set[str]:
        pipe = self.redis.pipeline(transaction=False)
        for t in team_ids:
            pipe.hexists(Keys.team(t), "uninstalled_at")
        return {t for t, gone in zip(team_ids, pipe.execute(), strict=True) if gone}

    def earliest_due(self) -> datetime | None:
        """The next instant any nudge or recap falls due (the sandbox jumps its clock there)."""
        pipe = self.redis.pipeline(transaction=False)
        for shard in range(DUE_SHARDS):
            pipe.zrange(Keys.due_index(shard), 0, 0, withscores=True)
        pipe.zrange(Keys.RECAPS, 0, 0, withscores=True)
        scores = [float(row[0][1]) for row in pipe.execute() if row]
        return _from_ms(min(scores)) if scores else None

    def backlog(self, now: datetime) -> int:
        """How many nudges are due and not yet claimed: a free health metric."""
        pipe = self.redis.pipeline(transaction=False)
        for shard in range(DUE_SHARDS):
            pipe.zcount(Keys.due_index(shard), "-inf", _ms(now))
        return sum(int(n) for n in pipe.execute())

    # Shared send budget (GCRA) -----------------------------------------------------------------

    def reserve_sends(self, team_id: str, count: int, rate_per_s: float, burst: int) -> list[float]:
        """Reserve `count` send slots in the workspace's shared budget; seconds to wait each."""
        if count <= 0:
            return []
        interval_ms = 1000.0 / rate_per_s
        tolerance = interval_ms * max(burst - 1, 0)
        key = Keys.rate(team_id)
        waits = self._run_scripts([_evalsha(RESERVE, [key], count, interval_ms, tolerance)])[0]
        return [float(w) / 1000 for w in waits]

    def penalize_sends(self, team_id: str, seconds: float) -> None:
        """Slack answered 429: every process holds off for `seconds`."""
        key = Keys.rate(team_id)
        self._run_scripts([_evalsha(PENALIZE, [key], int(seconds * 1000))])

    # Reflections ------------------------------------------------------------------------------

    def add_reflection(
        self, team_id: str, user_id: str, reflection: Mapping[str, Any], at: datetime
    ) -> None:
        """Store a reflection (never sent twice: a lost answer is OutcomeUnknown, and
        `has_reflection` tells whether it was stored)."""
        member = _reflection_member(reflection)
        reply = self._exchange([("ZADD", Keys.reflections(team_id, user_id), _ms(at), member)])[0]
        if isinstance(reply, Exception):
            raise reply

    def has_reflection(self, team_id: str, user_id: str, reflection: Mapping[str, Any]) -> bool:
        """Whether `reflection` (as given to `add_reflection`) is stored: a `_check`."""
        member = _reflection_member(reflection)
        key = Keys.reflections(team_id, user_id)
        return self._check([("ZSCORE", key, member)])[0] is not None

    def reflections(
        self,
        team_id: str,
        user_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        key = Keys.reflections(team_id, user_id)
        low = _ms(start) if start else "-inf"
        high = _ms(end) if end else "+inf"
        start_at = 0 if limit else None
        if newest_first:
            raws = self.redis.zrevrangebyscore(key, high, low, start=start_at, num=limit)
        else:
            raws = self.redis.zrangebyscore(key, low, high, start=start_at, num=limit)
        return [json.loads(str(r)) for r in raws]

    # Team settings and the weekly recap ---------------------------------------------------

    def team_settings(self, team_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(Keys.team(team_id))
        return {str(k): str(v) for k, v in (raw or {}).items()}

    def set_team_settings(self, team_id: str, **fields: str) -> None:
        self.redis.hset(Keys.team(team_id), mapping=fields)  # type: ignore[arg-type]

    def clear_team_settings(self, team_id: str, *fields: str) -> None:
        self.redis.hdel(Keys.team(team_id), *fields)

    def schedule_recap(self, team_id: str, due: datetime | None) -> None:
        if due is None:
            self.redis.zrem(Keys.RECAPS, team_id)
        else:
            self.redis.zadd(Keys.RECAPS, {team_id: _ms(due)})

    def recap_due_at(self, team_id: str) -> datetime | None:
        score = self.redis.zscore(Keys.RECAPS, team_id)
        return None if score is None else _from_ms(score)

    def claim_due_recaps(self, now: datetime, lease_s: float) -> list[tuple[str, datetime]]:
        """Teams whose recap is due, moved out of sight for the lease: (team, due)."""
        flat = self._run_scripts(
            [_evalsha(CLAIM_RECAPS, [Keys.RECAPS], _ms(now), int(lease_s * 1000))]
        )[0]
        return [(str(flat[i]), _from_ms(flat[i + 1])) for i in range(0, len(flat), 2)]

    def claim_recap(self, team_id: str, week: str, token: str, lease_s: float) -> str:
        """Take the week's recap: "ok" for this holder, otherwise the claim's current value.

        One SET NX GET: if the client resends it (a reply that came late), the second run
        finds this holder's own value and still answers "ok"."""
        return self._claim(Keys.recap(team_id, week), token, lease_s)

    def _claim(self, key: str, token: str, lease_s: float) -> str:
        """SET NX GET of `pending:<token>` with a lease: "ok" when this holder has it (a
        resent command finds its own value), otherwise the key's current value."""
        mine = f"pending:{token}"
        current = self.redis.set(key, mine, nx=True, get=True, px=int(lease_s * 1000))
        if current is None or current == mine:
            return "ok"
        return str(current)

    def _release(self, key: str, token: str) -> None:
        """Delete a `pending:<token>` claim only while this holder still holds it."""
        self._run_scripts([_evalsha(RELEASE, [key], f"pending:{token}")])

    def recap_state(self, team_id: str, week: str) -> tuple[str, str]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(Keys.recap(team_id, week))
        pipe.get(Keys.recap_thread(team_id, week))
        claim, thread = pipe.execute()
        return str(claim or ""), str(thread or "")

    def set_recap_state(self, team_id: str, week: str, value: str) -> None:
        self.redis.set(Keys.recap(team_id, week), value, ex=90 * 24 * 3600)

    def set_recap_thread(self, team_id: str, week: str, value: str) -> None:
        self.redis.set(Keys.recap_thread(team_id, week), value, ex=90 * 24 * 3600)

    def release_recap(self, team_id: str, week: str, token: str) -> None:
        """Free the week's recap for a retry, only while this holder still holds it (one
        compare-and-delete: its lease may have ended and another process claimed it)."""
        self._release(Keys.recap(team_id, week), token)

    def claim_recap_thread(self, team_id: str, week: str, token: str, lease_s: float) -> str:
        """Take the thread reply of the week's posted recap: "ok" for this holder, otherwise
        the marker's current value ("pending:<other>", "done", "unknown"). Like
        `claim_recap`: one SET NX GET that a resend still answers "ok" to."""
        return self._claim(Keys.recap_thread(team_id, week), token, lease_s)

    def release_recap_thread(self, team_id: str, week: str, token: str) -> None:
        """Free the thread reply for a retry, only while this holder still holds it."""
        self._release(Keys.recap_thread(team_id, week), token)

    def recap_members(
        self, team_id: str, user_ids: Sequence[str], batch: int = 500, *, week: str = ""
    ) -> list[RecapMember]:
        """Week-count fields, paused weeks and share flag of many PMs and, with `week`, the
        wins on their timelines around that week (`week_span_ms`: the week in every zone), as
        (epoch ms, win id) in time order; pipelined in batches: one round trip per `batch`
        PMs."""
        out = []
        span = week_span_ms(week) if week else None
        per = 4 if span else 3
        for start in range(0, len(user_ids), batch):
            chunk = user_ids[start : start + batch]
            pipe = self.redis.pipeline(transaction=False)
            for u in chunk:
                pipe.hgetall(Keys.weeks(team_id, u))
                pipe.smembers(Keys.paused(team_id, u))
                pipe.hget(Keys.profile(team_id, u), "share")
                if span:
                    pipe.zrangebyscore(
                        Keys.timeline(team_id, u), span[0], f"({span[1]}", withscores=True
                    )
            raw = pipe.execute()
            for i, u in enumerate(chunk):
                weeks, paused, sharing = raw[per * i], raw[per * i + 1], raw[per * i + 2]
                around = [(int(at), str(w)) for w, at in raw[per * i + 3]] if span else []
                # decode_responses: already a dict and a set of str
                out.append(RecapMember(u, weeks or {}, paused or set(), str(sharing or ""), around))
        return out

    def first_clarity_wins(
        self, team_id: str, week: str, candidates: Sequence[tuple[int, str, str]], limit: int
    ) -> list[Win]:
        """The earliest `limit` clarity wins logged for `week` among `candidates`: (epoch ms,
        user id, win id) in time order, from `week_candidates`.

        Reads the wins in growing batches (4× `limit`, then doubling) until `limit` are
        found: usually one batch, and a few round trips even when nearly every win is a
        shipped one (or one of a neighbouring week, in some zone)."""
        found: list[Win] = []
        start, size = 0, 4 * limit
        while start < len(candidates) and len(found) < limit:
            pipe = self.redis.pipeline(transaction=False)
            for _, user_id, win_id in candidates[start : start + size]:
                pipe.hget(Keys.wins(team_id, user_id), win_id)
            for win in _wins(pipe.execute()):
                if win.lane is Lane.CLARITY and win.week == week:
                    found.append(win)
            start, size = start + size, 2 * size
        return found[:limit]

    # Drafts (a win waiting for its lane) ------------------------------------------------------

    def save_draft(self, team_id: str, user_id: str, draft: Mapping[str, Any]) -> str:
        draft_id = secrets.token_hex(8)
        self.redis.set(
            Keys.draft(team_id, user_id, draft_id),
            json.dumps(draft, ensure_ascii=False),
            ex=DRAFT_TTL_S,
        )
        return draft_id

    def get_draft(self, team_id: str, user_id: str, draft_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(Keys.draft(team_id, user_id, draft_id))
        return json.loads(str(raw)) if raw else None

    # Events -----------------------------------------------------------------------------------

    def claim_event(self, team_id: str, event_id: str) -> bool:
        """True the first time an Events API delivery is seen; False for a retry.

        The claim holds a token of this call: when the client resends the SET (its first reply
        was late, not lost), the second run finds our own token and the delivery is still the
        first, not a redelivery."""
        token = secrets.token_hex(8)
        key = Keys.event(team_id, event_id)
        current = self.redis.set(key, token, nx=True, get=True, ex=EVENT_TTL_S)
        return current is None or current == token

    def add_team_user(self, team_id: str, user_id: str) -> None:
        """List a newly enrolled PM in their team (kept off /win's steady-state round trip)."""
        self.redis.sadd(Keys.team_users(team_id), user_id)

    def mark_uninstalled(self, team_id: str, now: datetime) -> None:
        """The app was removed from a team (or its tokens revoked): scheduled work stops."""
        self.redis.hset(Keys.team(team_id), "uninstalled_at", now.isoformat())

    def is_uninstalled(self, team_id: str) -> bool:
        return bool(self.redis.hexists(Keys.team(team_id), "uninstalled_at"))

    def _ensure_script(self, script: str) -> None:
        sha = _sha(script)
        if sha not in self._loaded:
            self.redis.script_load(script)
            self._loaded.add(sha)

    # Plumbing ---------------------------------------------------------------------------------

    def _run_scripts(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """`_exchange` a batch of commands that call scripts by SHA (see `_evalsha`). If Redis
        does not know one of them (a new, restarted or flushed server), every script of the
        batch is loaded and the batch sent again, once: scripts run by SHA are idempotent for
        a resend, or fenced by their arguments (COMPLETE's token, LOG_WIN's win id).

        Scripts are called by SHA, so the steady state is one round trip (redis-py's Script
        objects would add a SCRIPT EXISTS to every pipeline). The first error reply is raised.
        """
        for attempt in range(2):
            replies = self._exchange(commands)
            if not attempt and _any_instance(replies, NoScriptError):
                for sha in dict.fromkeys(c[1] for c in commands if c[0] == "EVALSHA"):
                    self.redis.script_load(_SCRIPTS[sha])
                    self._loaded.add(sha)
                continue
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return replies
        raise AssertionError("unreachable")

    def _exchange(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Send `commands` in one write and read every reply: one round trip, as a
        non-transactional pipeline, without redis-py's per-command bookkeeping (which costs
        more than the commands themselves on the hot paths: a `/win`, a batch of nudges).
        Replies are raw (no response callbacks: HGETALL is a flat list); an error reply is
        returned as its exception.

        These connections are the store's own (made with the client's settings), kept in a
        stack that needs no lock. Each is checked for a close by the server (restart, crash,
        idle timeout) before it is used, and opened again (a poll: about 2 µs): a failure to
        reach Redis is then known to have sent nothing (StoreUnavailable, "not saved"). Once
        the batch is sent, a lost answer is OutcomeUnknown: Redis may have run it, so it is
        never sent twice. The connection is closed after any failure, so a half-read answer
        never reaches the next caller.
        """
        if self._spare_pid != os.getpid():  # a forked child never uses its parent's sockets
            self._spare, self._spare_pid = deque(), os.getpid()
        try:
            conn = self._spare.pop()
        except IndexError:
            pool = self.redis.connection_pool
            conn = pool.connection_class(**pool.connection_kwargs)
        sending = False
        try:
            _make_ready(conn)
            sending = True
            return _send_and_read(conn, commands)
        except BaseException as exc:
            conn.disconnect()
            lost = isinstance(exc, _LOST) and not isinstance(exc, _ANSWERED)
            if sending and lost and not isinstance(exc, OutcomeUnknown):
                raise OutcomeUnknown(str(exc)) from exc
            raise
        finally:
            self._spare.append(conn)

    def _check(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Read `commands` (one round trip) after a lost answer, on a connection of their own
        with CHECK_TIMEOUT_S and no retry, closed afterwards: a PM is waiting for it. A new
        connection is also read by Redis after the one that lost its answer, so a write that
        was on its way is found. Raises StoreUnavailable, or the first error reply."""
        pool = self.redis.connection_pool
        options = {
            **pool.connection_kwargs,
            "socket_timeout": CHECK_TIMEOUT_S,
            "socket_connect_timeout": CHECK_TIMEOUT_S,
            "retry": Retry(NoBackoff(), 0),
        }
        conn = pool.connection_class(**options)
        try:
            replies = _send_and_read(conn, commands)
        finally:
            conn.disconnect()
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def close(self) -> None:
        """Close the store's own connections (the client's pool is closed with the client)."""
        while self._spare:
            self._spare.pop().disconnect()


def _reflection_member(reflection: Mapping[str, Any]) -> str:
    return json.dumps(dict(reflection), ensure_ascii=False, sort_keys=True)


def _any_instance(values: Sequence[Any], kind: type) -> bool:
    """any(isinstance(v, kind) for v in values), without a generator: on every round trip."""
    for value in values:  # noqa: SIM110 - a generator costs a frame per item here
        if isinstance(value, kind):
            return True
    return False


def _make_ready(conn: Any) -> None:
    """Connect `conn` if needed; if the server closed it meanwhile (it reads as ready: end of
    stream), open it again. Raises StoreUnavailable when Redis cannot be reached."""
    conn.connect()  # nothing to do when connected
    try:
        stale = conn.can_read()
    except StoreUnavailable:
        stale = True
    if stale:
        conn.disconnect()
        conn.connect()


def _send_and_read(conn: Any, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    # No health-check PING: `_exchange` has checked an idle connection already.
    if _pack is not None:  # what redis-py's hiredis packer does, less its per-argument pass
        packed = [b"".join([_pack(command) for command in commands])]
    else:
        packed = conn.pack_commands(commands)
    conn.send_packed_command(packed, check_health=False)
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(conn.read_response())
        except redis.exceptions.ResponseError as exc:  # the reply was read: stay in step
            replies.append(exc)
    return replies


def _evalsha(script: str, keys: Sequence[str], *args: Any) -> tuple[Any, ...]:
    """The EVALSHA command of `script` for `_run_scripts`."""
    sha = _sha(script)
    _SCRIPTS[sha] = script
    return ("EVALSHA", sha, len(keys), *keys, *args)


_SCRIPTS: dict[str, str] = {}  # SHA → script, for `_run_scripts` to load what Redis lacks


def _completing(completions: Sequence[Completion]) -> list[tuple[Any, ...]]:
    """COMPLETE commands for `completions`: one per due-index shard."""
    by_shard: dict[int, list[str]] = {}
    for c in completions:
        if c.retry_at is not None:
            nxt = f"retry:{_ms(c.retry_at)}"
        else:
            nxt = "" if c.next_due is None else str(_ms(c.next_due))
        by_shard.setdefault(due_shard(c.team_id, c.user_id), []).extend(
            [f"{c.team_id}:{c.user_id}", c.token, nxt]
        )
    return [
        _evalsha(COMPLETE, [Keys.due_index(shard), Keys.due_leases(shard)], *args)
        for shard, args in by_shard.items()
    ]
