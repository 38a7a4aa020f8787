-- Claim KEYS[1] for a new run unless it is already claimed: at most one run per claim key.
-- KEYS[1] claim key, KEYS[2] run key, KEYS[3] pipeline run index (zset), KEYS[4] change stream,
-- KEYS[5] store epoch hash
-- ARGV[1] run id, ARGV[2] run JSON, ARGV[3] claim TTL (ms), ARGV[4] run TTL (ms),
-- ARGV[5] created-at (ms, index score), ARGV[6] index limit, ARGV[7] change-stream cap (approximate MAXLEN),
-- ARGV[8] the epoch id the caller works with ('' = do not check)
-- Returns {1, run id} (claimed), {0, owner} (claimed before), or {-1, epoch id found} when the store's
-- epoch is not the caller's (a wiped or swapped store): nothing is claimed then.
if ARGV[8] ~= '' then
  -- redis.pcall: another type at the key (a damaged epoch) reads as no epoch, as in swap_epoch.lua
  local current = redis.pcall('HGET', KEYS[5], 'id')
  if type(current) ~= 'string' then
    current = ''
  end
  if current ~= ARGV[8] then
    return {-1, current}
  end
end
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
