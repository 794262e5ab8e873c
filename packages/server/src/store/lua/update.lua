-- Monotonic or idempotent updates of the current epoch. KEYS: session hash, outbound list.
-- ARGV: epoch, op ('progress' | 'token' | 'touch'), value, now, key ttl ms, value2.
--   progress: value = the device's ack, value2 = the last device->server seq processed (lib.lua).
--   token: value = the new token hash. touch: refreshes `updated` and the key TTLs.
if ARGV[2] == 'progress' then
  return save_progress(KEYS[1], KEYS[2], ARGV[1], ARGV[3], ARGV[6], ARGV[4], ARGV[5])
end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch or (ARGV[1] ~= '' and epoch ~= ARGV[1]) then return 0 end
local fields = {'updated', ARGV[4]}
if ARGV[2] == 'token' then
  fields[#fields + 1] = 'token'
  fields[#fields + 1] = ARGV[3]
end
redis.call('HSET', KEYS[1], unpack(fields))
refresh_ttl(KEYS[1], KEYS[2], ARGV[5], redis.call('EXISTS', KEYS[2]) == 1)
return 1
