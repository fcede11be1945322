-- GUARD: take the send guard of one nudge slot (NudgeRepo.guard).
-- KEYS: send guard, profile
-- ARGV: token, ttl ms
-- Returns: "ok" if this holder may send ("ok-refused": the last attempt was refused by Slack,
-- so nothing was posted), "forgotten" when the PM has no profile, else the guard's value.
-- Guarantees: one holder per slot; nothing is written for a forgotten PM.
if redis.call('EXISTS', KEYS[2]) == 0 then return 'forgotten' end
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], 'pending:' .. ARGV[1], 'PX', tonumber(ARGV[2]))
  return 'ok'
end
if string.sub(current, 1, 8) == 'refused:' then
  -- Slack answered the last attempt with a refusal: certainly not posted, take it as is.
  redis.call('SET', KEYS[1], 'pending:' .. ARGV[1], 'PX', tonumber(ARGV[2]))
  return 'ok-refused'
end
if current == 'pending:' .. ARGV[1] then return 'ok' end
return current
