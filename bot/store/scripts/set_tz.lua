-- SET_TZ: record an enrolled PM's zone (ProfileRepo.set_tz).
-- KEYS: profile
-- ARGV: tz, source ("slack" | "explicit"), force ("1": `/coach timezone auto`)
-- Returns: 1 if set, else 0.
-- Guarantees: an explicit choice (/coach timezone) wins over Slack's zone unless forced; a PM
-- without a profile (not enrolled, or forgotten) gets none.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == 'slack' and ARGV[3] ~= '1'
   and redis.call('HGET', KEYS[1], 'tz_source') == 'explicit' then return 0 end
redis.call('HSET', KEYS[1], 'tz', ARGV[1], 'tz_source', ARGV[2])
return 1
