-- REMOVE_PROMPT: remove a PM's own prompt (ProfileRepo.remove_prompt).
-- KEYS: prompts, shown
-- ARGV: number
-- Returns: 1 if the prompt was there, else 0.
-- Guarantees: never resent (a second run would answer 0).
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], 'custom:' .. ARGV[1])
return removed
