-- Take a lock unless held; the token starts with a per-key counter (a fencing token).
-- KEYS[1] lock key, KEYS[2] fence counter key; ARGV[1] random part, ARGV[2] TTL (ms)
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local fence = redis.call('INCR', KEYS[2])
local token = fence .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
