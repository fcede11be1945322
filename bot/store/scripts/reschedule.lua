-- RESCHEDULE: set when a PM is next due (NudgeRepo.reschedule).
-- KEYS: index, leases  (hash tag {due:NN})
-- ARGV: member, due ms | "off"
-- Returns: 1 if the index was changed, 2 if stored as the in-flight lease's override.
-- Guarantees: safe while the PM's nudge is in flight: COMPLETE applies the override then.
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
