-- UPDATE_PROFILE: the scheduler's changes to a profile (ProfileRepo.update_profiles).
-- KEYS: profile
-- ARGV: number n of fields to set, then n field/value pairs, then fields to delete
-- Returns: 1, or 0 when the profile is gone.
-- Guarantees: a profile that is gone (forget-me) stays gone.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[1])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + 2 * n)) end
if #ARGV > 1 + 2 * n then redis.call('HDEL', KEYS[1], unpack(ARGV, 2 + 2 * n)) end
return 1
