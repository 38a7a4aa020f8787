-- A circuit breaker kept in one hash, so every worker sees the same state.
-- KEYS[1] breaker hash
-- ARGV[1] op: 'allow' | 'success' | 'failure'; ARGV[2] now (ms); ARGV[3] threshold;
-- ARGV[4] failure window (ms); ARGV[5] cooldown (ms); ARGV[6] TTL of the hash (ms)
-- Returns the state after the operation: CLOSED, OPEN, HALF_OPEN; for 'allow', prefixed
-- 'allow:' or 'deny:'; for 'failure', prefixed 'tripped:' when this failure opened the breaker.
local now = tonumber(ARGV[2])
local state = redis.call('HGET', KEYS[1], 'state') or 'CLOSED'
local function save(fields)
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
end
if ARGV[1] == 'allow' then
  if state == 'CLOSED' then return 'allow:CLOSED' end
  local opened = tonumber(redis.call('HGET', KEYS[1], 'openedAt') or '0')
  if state == 'OPEN' then
    if now - opened >= tonumber(ARGV[5]) then
      -- one probe at a time: this caller gets it, the others are denied until it reports
      save({'state', 'HALF_OPEN', 'probeAt', now})
      return 'allow:HALF_OPEN'
    end
    return 'deny:OPEN'
  end
  -- HALF_OPEN: a probe is out; allow another only if that one never reported back
  local probe = tonumber(redis.call('HGET', KEYS[1], 'probeAt') or '0')
  if now - probe >= tonumber(ARGV[5]) then
    save({'probeAt', now})
    return 'allow:HALF_OPEN'
  end
  return 'deny:HALF_OPEN'
elseif ARGV[1] == 'success' then
  save({'state', 'CLOSED', 'failures', 0})
  return 'CLOSED'
else
  if state == 'OPEN' then
    -- a call that started before the breaker opened: the cooldown keeps running
    return 'OPEN'
  end
  if state == 'HALF_OPEN' then
    save({'state', 'OPEN', 'openedAt', now, 'lastFailure', now})
    return 'tripped:OPEN'
  end
  local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
  local last = tonumber(redis.call('HGET', KEYS[1], 'lastFailure') or '0')
  if failures > 0 and now - last > tonumber(ARGV[4]) then failures = 0 end
  failures = failures + 1
  if failures >= tonumber(ARGV[3]) then
    save({'state', 'OPEN', 'failures', failures, 'lastFailure', now, 'openedAt', now})
    return 'tripped:OPEN'
  end
  save({'state', 'CLOSED', 'failures', failures, 'lastFailure', now})
  return 'CLOSED'
end
