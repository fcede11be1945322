-- FORGET_SETTER: forget-me of the admin who set up the recap (ProfileRepo.forget).
-- KEYS: team settings
-- ARGV: user id
-- Returns: 1 if recap_set_by named them, else 0.
-- Guarantees: another admin's recap_set_by is left alone.
if redis.call('HGET', KEYS[1], 'recap_set_by') == ARGV[1] then
  return redis.call('HDEL', KEYS[1], 'recap_set_by')
end
return 0
