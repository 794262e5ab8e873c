-- Read a whole session atomically. KEYS: session hash, outbound list.
-- Returns nil, or {device, epoch, token, acked, processed, created, updated, payload...}.
local f = redis.call('HMGET', KEYS[1], 'device', 'epoch', 'token', 'acked', 'processed', 'created', 'updated')
if not f[1] then return nil end
local out = redis.call('LRANGE', KEYS[2], 0, -1)
local res = {f[1], f[2], f[3], f[4], f[5], f[6], f[7]}
for i = 1, #out do res[#res + 1] = out[i] end
return res
