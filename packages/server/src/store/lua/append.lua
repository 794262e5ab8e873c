-- Append one server->device message. KEYS: session hash, outbound list.
-- ARGV: epoch ('' = any: the store assigns the seq), seq (0 = assign), payload, max unacked, now, key ttl ms.
-- Returns {1, seq} or {0, reason}. Re-running an append that was already applied (a write replayed
-- after a lost reply) finds the same payload at that seq and answers ok again.
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch or (ARGV[1] ~= '' and epoch ~= ARGV[1]) then return {0, 'not_found'} end
local acked = tonumber(redis.call('HGET', KEYS[1], 'acked'))
local len = redis.call('LLEN', KEYS[2])
local last = acked + len
local seq = tonumber(ARGV[2])
if seq == 0 then seq = last + 1 end
if seq <= last then
  if seq > acked and redis.call('LINDEX', KEYS[2], seq - acked - 1) == ARGV[3] then return {1, seq} end
  return {0, 'conflict'}
end
if seq ~= last + 1 then return {0, 'conflict'} end
if len >= tonumber(ARGV[4]) then return {0, 'buffer_full'} end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], 'updated', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return {1, seq}
