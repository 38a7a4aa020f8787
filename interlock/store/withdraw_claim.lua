-- Withdraw a claim whose job never started (no replica acknowledged it): the claim, its run and
-- the run's index entry go, so a later trigger can claim the key again. Only while the claim and
-- the run are exactly as the claim wrote them.
-- KEYS[1] claim key, KEYS[2] run key, KEYS[3] pipeline run index (zset)
-- ARGV[1] run id, ARGV[2] run JSON as claimed
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
