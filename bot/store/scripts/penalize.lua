-- PENALIZE: Slack answered 429: nobody sends before now + Retry-After (NudgeRepo.penalize_sends).
-- KEYS: rate
-- ARGV: pause ms
-- Returns: the instant (ms, server clock) sends may start again.
-- Guarantees: only ever pushes the budget later, never earlier.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local until_ms = now + tonumber(ARGV[1])
if tat < until_ms then redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]) + 60000) end
return until_ms
