-- MARK_SENT: record a nudge Slack accepted, in a single write (NudgeRepo.mark_sent_many).
-- KEYS: send guard, nudge record, profile, shown
-- ARGV: message ts, channel, prompt id, prompt text, slot, sent-at iso, guard ttl s,
--       notice flag, new-cycle flag (the no-repeat cycle of prompts starts over with this one)
-- Returns: 1, or 0 for a PM who has no profile any more.
-- Guarantees: a PM forgotten while the nudge was in flight is left with nothing behind.
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
redis.call('SET', KEYS[1], 'sent:' .. ARGV[1], 'EX', tonumber(ARGV[7]))
redis.call('HSET', KEYS[2], 'ts', ARGV[1], 'channel', ARGV[2], 'prompt_id', ARGV[3],
           'prompt', ARGV[4], 'slot', ARGV[5], 'sent_at', ARGV[6])
redis.call('HINCRBY', KEYS[3], 'ignored', 1)
if ARGV[8] == '1' then redis.call('HSET', KEYS[3], 'backoff_told', '1') end
if ARGV[9] == '1' then redis.call('DEL', KEYS[4]) end
if ARGV[3] ~= '' then redis.call('SADD', KEYS[4], ARGV[3]) end
return 1
