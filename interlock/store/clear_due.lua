-- Remove a due item only if it is still scheduled at the time the caller saw.
-- KEYS[1] due index; ARGV[1] member, ARGV[2] expected score (ms)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
