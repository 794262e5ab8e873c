-- Monotonic or idempotent updates of the current epoch. KEYS: session hash, outbound list.
-- ARGV: epoch, op ('progress' | 'token' | 'touch'), value, now, key ttl ms, value2.
--   progress: value = the device's ack, value2 = the last device->server seq processed (lib.lua).
local f = redis.call('HMGET', KEYS[1], 'epoch', 'acked', 'processed')
if not f[1] or (ARGV[1] ~= '' and f[1] ~= ARGV[1]) then return 0 end
local op = ARGV[2]
local fields = {'updated', ARGV[4], 'kttl', ARGV[4]}
if op == 'progress' then
  apply_progress(KEYS[2], tonumber(f[2]), redis.call('LLEN', KEYS[2]), f[3], ARGV[3], ARGV[6], fields)
elseif op == 'token' then
  fields[#fields + 1] = 'token'
  fields[#fields + 1] = ARGV[3]
end
redis.call('HSET', KEYS[1], unpack(fields))
refresh_ttl(KEYS[1], KEYS[2], ARGV[5], redis.call('EXISTS', KEYS[2]) == 1)
return 1
