-- Replace the store's epoch iff it is the one the caller expects (no epoch at all: expected = '').
-- A damaged epoch (another type at the key, or no id) counts as none, so a heal can replace it.
-- KEYS[1] epoch hash; ARGV[1] expected id, ARGV[2..] the new epoch's field/value pairs
local current = nil
if redis.call('TYPE', KEYS[1]).ok == 'hash' then
  current = redis.call('HGET', KEYS[1], 'id')
  if current == false or current == '' then
    current = nil
  end
end
if ARGV[1] == '' then
  if current then
    return 0
  end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
