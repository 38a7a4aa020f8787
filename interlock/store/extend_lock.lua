-- Extend the lock's TTL only if it is still held by this token.
-- KEYS[1] lock key; ARGV[1] token, ARGV[2] TTL (ms)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
