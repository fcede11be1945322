-- DELETE_WIN: remove exactly one win and what it counted for (WinRepo.delete_win).
-- KEYS: profile, wins, timeline, weeks, paused, recent, undone  (as LOG_WIN's)
-- ARGV: win id, undone ttl (s)
-- Returns: {"deleted", win JSON, weeks, paused, target} or {"missing"}
-- Guarantees: idempotent; the "undone" marker makes a later redelivery of the win's Slack
-- delivery a duplicate for LOG_WIN.
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
