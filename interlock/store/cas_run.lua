-- Compare-and-swap a run document on its version, and record the change for the archive.
-- KEYS[1] run key, KEYS[2] change stream
-- ARGV[1] expected version, ARGV[2] new run JSON, ARGV[3] TTL (ms, 0 = none),
-- ARGV[4] change-stream cap (approximate MAXLEN)
local current = redis.call('GET', KEYS[1])
if not current then
  return 0
end
local ok, doc = pcall(cjson.decode, current)
-- cjson decodes numbers as doubles: compare numbers, never strings.
if not ok or type(doc) ~= 'table' or tonumber(doc['version']) ~= tonumber(ARGV[1]) then
  return 0
end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'kind', 'run', 'data', ARGV[2])
return 1
