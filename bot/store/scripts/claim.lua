-- CLAIM: claim the PMs of one due-index shard whose nudge is due (NudgeRepo.claim_due).
-- KEYS: index, leases  (hash tag {due:NN})
-- ARGV: now ms, lease ms, limit, token prefix
-- Returns: flat [member, occ, token, attempt]*
-- Guarantees: a claim moves the member's score to the lease's end, so an abandoned claim is
-- claimed again after it; a member whose lease expired keeps its occurrence (and any override)
-- and counts one more attempt.
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for i, member in ipairs(due) do
  local occ = redis.call('ZSCORE', KEYS[1], member)
  local attempt = 1
  local lease = {}
  local raw = redis.call('HGET', KEYS[2], member)
  if raw then
    lease = cjson.decode(raw)
    occ = lease['occ']
    attempt = tonumber(lease['attempt']) + 1
  end
  lease['occ'] = occ
  lease['attempt'] = attempt
  lease['token'] = ARGV[4] .. '-' .. i
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), member)
  redis.call('HSET', KEYS[2], member, cjson.encode(lease))
  out[#out + 1] = member
  out[#out + 1] = occ
  out[#out + 1] = lease['token']
  out[#out + 1] = tostring(attempt)
end
return out
