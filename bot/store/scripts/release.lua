-- RELEASE: delete a claim only while it holds a value (RecapRepo.release_recap, _thread).
-- KEYS: claim
-- ARGV: value ("pending:<token>")
-- Returns: 1 if deleted, else 0.
-- Guarantees: compare-and-delete in one step: a lease that ended meanwhile may belong to
-- another process now.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
