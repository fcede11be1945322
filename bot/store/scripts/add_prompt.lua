-- ADD_PROMPT: add a PM's own prompt under the next number (ProfileRepo.add_prompt).
-- KEYS: prompts, profile
-- ARGV: text, max count
-- Returns: the new number, or -1 when the PM already has max count prompts.
-- Guarantees: numbers are never reused (prompt_seq in the profile only grows).
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
local n = redis.call('HINCRBY', KEYS[2], 'prompt_seq', 1)
redis.call('HSET', KEYS[1], tostring(n), ARGV[1])
return n
