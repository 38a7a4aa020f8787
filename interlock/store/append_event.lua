-- Append an event to its pipeline's stream and the global stream, and record the change.
-- KEYS[1] pipeline stream, KEYS[2] global stream, KEYS[3] change stream
-- ARGV[1] kind, ARGV[2] event JSON, ARGV[3] per-pipeline MAXLEN (approximate),
-- ARGV[4] retention (ms), ARGV[5] global MAXLEN (approximate), ARGV[6] change-stream cap
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'kind', ARGV[1], 'data', ARGV[2])
-- Retention is measured on the server's clock, the same clock that makes stream ids.
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minid = math.max(0, now_ms - tonumber(ARGV[4]))
redis.call('XTRIM', KEYS[1], 'MINID', minid .. '-0')
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'kind', ARGV[1], 'data', ARGV[2], 'ref', id)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'kind', 'event', 'data', ARGV[2], 'ref', id)
return id
