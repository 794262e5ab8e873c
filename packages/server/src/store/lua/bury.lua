-- Expire a session if it is idle past its TTL, leaving a tombstone. KEYS: session hash, outbound list, tombstone.
-- ARGV: now, ttl ms, tombstone ttl ms.
-- Returns nil (no such session), {0, updated} (still alive), or {1, device, epoch, acked, payload...}.
local f = redis.call('HMGET', KEYS[1], 'device', 'epoch', 'acked', 'updated')
if not f[1] then return nil end
if tonumber(f[4]) + tonumber(ARGV[2]) > tonumber(ARGV[1]) then return {0, f[4]} end
local out = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
local res = {1, f[1], f[2], f[3]}
for i = 1, #out do res[#res + 1] = out[i] end
return res
