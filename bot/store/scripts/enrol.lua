-- ENROL: create a PM's profile if missing (ProfileRepo.enrol).
-- KEYS: profile
-- ARGV: tz, now iso, tz source ("slack" | "fallback": Slack could not be asked)
-- Returns: 1 if new, 2 if the PM had been marked inactive, else 0.
-- Guarantees: an existing profile keeps its zone; any interaction ends a back-off.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HDEL', KEYS[1], 'ignored', 'backoff_from', 'backoff_told')
  if redis.call('HDEL', KEYS[1], 'inactive') == 1 then return 2 end
  return 0
end
redis.call('HSET', KEYS[1], 'tz', ARGV[1], 'tz_source', ARGV[3], 'enrolled_at', ARGV[2])
return 1
