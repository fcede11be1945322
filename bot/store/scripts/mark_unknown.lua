-- MARK_UNKNOWN: note that a nudge's post has an unknown outcome (NudgeRepo.mark_unknown).
-- KEYS: send guard, profile
-- ARGV: value ("unknown:<token>"), ttl s
-- Returns: 1, or 0 for a forgotten PM.
-- Guarantees: nothing is written for a PM forgotten meanwhile.
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
return 1
