-- EDIT_WIN: replace a stored win; its week counts follow (WinRepo.edit_win).
-- KEYS: wins, timeline, weeks, paused, profile
-- ARGV: win id, new win JSON, new at ms, new week, new lane letter (s|c)
-- Returns: {"edited", old win JSON, weeks, paused, target} or {"missing"}
-- Guarantees: a win that is gone (undone) stays gone; counts move in the same step as the win.
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
