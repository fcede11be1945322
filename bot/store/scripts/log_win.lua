-- LOG_WIN: store one win, enrolling the PM on their first (WinRepo.log_win; /win's one round trip).
-- KEYS: profile, wins, timeline, weeks, paused, recent, undone, [draft]  (hash tag {T:U})
-- ARGV: win id, win JSON, at ms, week, lane letter (s|c), tz, now iso, RECENT_MAX, tz source
-- Returns: {status, win id, weeks HGETALL, paused SMEMBERS, profile target or "", tz, enrolled}
--   status: "logged" | "duplicate" | "stale_tz" (the PM's zone changed; nothing written)
--   enrolled: "new" (profile created), "reactivated" (was inactive) or ""
-- Guarantees: idempotent for a resend. A win id derives from its Slack delivery
-- (bot.domain.wins.win_id): a win already stored, or undone within UNDONE_TTL_S, is a
-- redelivery ("duplicate") and no win is written; the draft, if any, is deleted either way.
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
