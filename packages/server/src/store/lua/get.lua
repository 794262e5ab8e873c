-- Read a whole session atomically, optionally claiming it. KEYS: session hash, outbound list.
-- ARGV: owner to claim ('' = read only), now, key ttl ms.
-- Returns nil, or {device, epoch, token, acked, processed, created, updated, owner, claimed, payload...}
-- (owner and claimed as they were before this claim).
local f = redis.call('HMGET', KEYS[1], 'device', 'epoch', 'token', 'acked', 'processed', 'created', 'updated',
  'owner', 'claimed')
if not f[1] then return nil end
local out = redis.call('LRANGE', KEYS[2], 0, -1)
local res = {f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8] or '', f[9] or '0'}
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'claimed', ARGV[2], 'updated', ARGV[2])
  refresh_ttl(KEYS[1], KEYS[2], ARGV[3], #out > 0)
  res[7] = ARGV[2]
end
for i = 1, #out do res[#res + 1] = out[i] end
return res
