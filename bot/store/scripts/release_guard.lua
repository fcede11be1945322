-- RELEASE_GUARD: Slack refused the post: free the slot for the retry (NudgeRepo.release_guard).
-- KEYS: send guard
-- ARGV: token, ttl s
-- Returns: 1 if released, else 0.
-- Guarantees: compare-and-set in one step: "pending:<token>" becomes "refused:<token>" only
-- while this holder still holds it (a lease that ended may belong to another process now).
if redis.call('GET', KEYS[1]) ~= 'pending:' .. ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'refused:' .. ARGV[1], 'EX', tonumber(ARGV[2]))
return 1
