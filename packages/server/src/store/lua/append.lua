-- Append one server->device message. KEYS: session hash, outbound list.
-- ARGV: epoch, seq, payload, max unacked, now, key ttl ms, owner, acked, processed.
--   seq > 0: the owner appends the seq it assigned; ARGV[7] must be the session's owner.
--   seq = 0: the store assigns the seq (no live owner); ARGV[7] is the owner the caller expects
--            ('' or a dead instance), and any other owner is answered {0, 'owned', owner}.
--   acked, processed: the session's progress, saved first (progress.lua), whenever the epoch
--            matches, also when the append is refused; '' leaves it as it is.
-- Returns {1, seq} or {0, reason[, owner]}. Re-running an append that was already applied (a write
-- replayed after a lost reply) finds the same payload at that seq and answers ok again.
local seq = tonumber(ARGV[2])
if seq > 0 and (ARGV[8] ~= '' or ARGV[9] ~= '') and redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] then
  save_progress(ARGV[8], ARGV[9])
end
local f = redis.call('HMGET', KEYS[1], 'epoch', 'acked', 'owner')
if not f[1] or (seq > 0 and f[1] ~= ARGV[1]) then return {0, 'not_found'} end
local owner = f[3] or ''
if seq > 0 and owner ~= ARGV[7] then return {0, 'not_owner', owner} end
if seq == 0 and owner ~= '' and owner ~= ARGV[7] then return {0, 'owned', owner} end
local acked = tonumber(f[2])
local len = redis.call('LLEN', KEYS[2])
local last = acked + len
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
