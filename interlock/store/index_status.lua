-- Write a pipeline's state-index row if it is still what the caller read (one round trip).
-- KEYS: 1 the row, 2 the pipeline's config (only registered pipelines are indexed),
--       3/4 the old state's name and since sets, 5/6 the new state's.
-- ARGV: 1 the row as read ('' when there was none), 2 the new row, 3 the pipeline's name,
--       4 since (ms), 5 '1' when the old state differs from the new one.
-- Returns 1 written (or nothing to index), 0 the row changed since it was read: read it again.
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 1
end
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[5] == '1' then
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('ZREM', KEYS[4], ARGV[3])
end
redis.call('ZADD', KEYS[5], 0, ARGV[3])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[3])
return 1
