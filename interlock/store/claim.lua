-- Claim KEYS[1] for a new run unless it is already claimed: at most one run per claim key.
-- KEYS[1] claim key, KEYS[2] run key, KEYS[3] pipeline run index (zset), KEYS[4] change stream
-- ARGV[1] run id, ARGV[2] run JSON, ARGV[3] claim TTL (ms), ARGV[4] run TTL (ms),
-- ARGV[5] created-at (ms, index score), ARGV[6] index limit, ARGV[7] change-stream cap (approximate MAXLEN)
local owner = redis.call('GET', KEYS[1])
if owner then
  return {0, owner}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[6]) + 1))
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'kind', 'run', 'data', ARGV[2])
return {1, ARGV[1]}
