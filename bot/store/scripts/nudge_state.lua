-- NUDGE_STATE: everything deciding and writing one nudge needs about a PM
-- (NudgeRepo.nudge_states; a batch sends one per PM).
-- KEYS: profile, weeks, paused, shown, prompts
-- ARGV: none
-- Returns: {profile HGETALL, weeks HGETALL, paused SMEMBERS, shown SMEMBERS, prompts HGETALL}
-- Guarantees: read-only; one consistent view of the PM.
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),
        redis.call('SMEMBERS', KEYS[3]), redis.call('SMEMBERS', KEYS[4]),
        redis.call('HGETALL', KEYS[5])}
