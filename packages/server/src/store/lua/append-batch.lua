-- A turn's writes of live sessions in one call, each as if it ran alone, in order (lib.lua): the
-- appends and progress saves of every session issued in one pass of the gateway's event loop cost
-- one script call instead of one each. The keys are built here from the prefix and session ids (so
-- the batch needs one Redis, not a Cluster), which keeps it at one argument per write.
-- ARGV: now, key ttl ms, owner, key prefix, then the writes packed one after the other
--   (packTurnWrites in redis-store.ts), each: kind ('a' append, 'p' progress), session id, epoch, seq,
--   max unacked, acked and processed (-1: none), payload.
-- Returns one value per write: an append's seq when it is stored, else its reason ('reason' or
-- 'reason:owner'); a progress save's 1, or 0 when the session or its epoch is gone; 'err:<message>'
-- for a write that raised an error (what it did before the error stays; the other writes still run).
local now, ttl, owner, prefix, packed = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local out = {}
local pos, size = 1, #packed
while pos <= size do
  local kind, sid, epoch, seq, max, acked, processed, payload
  kind, sid, epoch, seq, max, acked, processed, payload, pos = struct.unpack('>c1Hc0Hc0dIddIc0', packed, pos)
  local kh, kl = prefix .. '{' .. sid .. '}:s', prefix .. '{' .. sid .. '}:o'
  if acked < 0 then acked = '' end
  if processed < 0 then processed = '' end
  local ok, r
  if kind == 'p' then
    ok, r = pcall(save_progress, kh, kl, epoch, acked, processed, now, ttl)
  else
    ok, r = pcall(append_one, kh, kl, epoch, seq, payload, max, now, ttl, owner, acked, processed)
  end
  if not ok then
    out[#out + 1] = 'err:' .. tostring(type(r) == 'table' and r.err or r)
  elseif kind == 'p' then
    out[#out + 1] = r
  elseif r[1] == 1 then
    out[#out + 1] = r[2]
  elseif r[3] then
    out[#out + 1] = r[2] .. ':' .. r[3]
  else
    out[#out + 1] = r[2]
  end
end
return out
