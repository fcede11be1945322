-- RESUME: un-pause a week and every later one (ProfileRepo.resume).
-- KEYS: paused
-- ARGV: first week to resume (YYYY-Www)
-- Returns: how many weeks were removed.
-- Guarantees: earlier pauses stay (they were real); idempotent.
local removed = 0
for _, week in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if week >= ARGV[1] then redis.call('SREM', KEYS[1], week); removed = removed + 1 end
end
return removed
