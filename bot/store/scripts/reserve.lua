-- RESERVE: reserve send slots in a workspace's shared budget (NudgeRepo.reserve_sends).
-- KEYS: rate
-- ARGV: count, interval ms, burst tolerance ms
-- Returns: how long (ms) each slot must wait.
-- Guarantees: GCRA on the server's clock, so all processes share the budget.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local waits = {}
for i = 1, tonumber(ARGV[1]) do
  local wait = tat - tonumber(ARGV[3]) - now
  if wait < 0 then wait = 0 end
  waits[#waits + 1] = wait
  tat = tat + tonumber(ARGV[2])
end
redis.call('SET', KEYS[1], tat, 'PX', math.ceil(tat - now + 60000))
return waits
