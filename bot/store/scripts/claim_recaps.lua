-- CLAIM_RECAPS: claim the teams whose recap is due (RecapRepo.claim_due_recaps).
-- KEYS: recaps index
-- ARGV: now ms, lease ms
-- Returns: flat [team, due ms]*
-- Guarantees: a claimed team is out of sight for the lease, then due again if not rescheduled.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]), 'WITHSCORES')
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), due[i])
end
return due
