-- COMPLETE: finish claims of one due-index shard (NudgeRepo.complete).
-- KEYS: index, leases  (hash tag {due:NN})
-- ARGV: (member, token, next ms | "" | "retry:<ms>")*
-- Returns: how many claims were completed.
-- Guarantees: fenced by token: only the current lease holder completes. "" drops the member
-- from the index; "retry:<ms>" keeps the lease (same occurrence, next attempt) and makes it due
-- again at <ms>. An override stored while in flight (schedule changed) wins over the computed
-- next time.
local done = 0
for i = 1, #ARGV, 3 do
  local member, token, nxt = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local raw = redis.call('HGET', KEYS[2], member)
  if raw then
    local lease = cjson.decode(raw)
    if lease['token'] == token then
      done = done + 1
      if string.sub(nxt, 1, 6) == 'retry:' then
        redis.call('ZADD', KEYS[1], tonumber(string.sub(nxt, 7)), member)
      else
        redis.call('HDEL', KEYS[2], member)
        if lease['override'] then nxt = lease['override'] end
        if nxt == '' or nxt == 'off' then
          redis.call('ZREM', KEYS[1], member)
        else
          redis.call('ZADD', KEYS[1], tonumber(nxt), member)
        end
      end
    end
  end
end
return done
