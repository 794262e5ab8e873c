-- Monotonic or idempotent updates of the current epoch. KEYS: session hash, outbound list.
-- ARGV: epoch, op ('progress' | 'token' | 'touch'), value, now, key ttl ms, value2.
--   progress: value = the device's ack, value2 = the last device->server seq processed (progress.lua).
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch or (ARGV[1] ~= '' and epoch ~= ARGV[1]) then return 0 end
local op = ARGV[2]
if op == 'progress' then
  save_progress(ARGV[3], ARGV[6])
elseif op == 'token' then
  redis.call('HSET', KEYS[1], 'token', ARGV[3])
end
redis.call('HSET', KEYS[1], 'updated', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
return 1
