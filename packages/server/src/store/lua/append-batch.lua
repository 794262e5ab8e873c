-- A turn's writes of live sessions in one call, each as if it ran alone, in order (lib.lua): the
-- appends and progress saves of every session issued in one pass of the gateway's event loop cost
-- one script call instead of one each. The keys are built here from the prefix and session ids (so
-- the batch needs one Redis, not a Cluster), which keeps the writes in one argument.
-- ARGV: now, key ttl ms, owner, key prefix, then the writes packed one after the other
--   (packTurnWrites in redis-store.ts), each: kind ('a' append, 'p' progress), session id, epoch, seq,
--   max unacked, acked and processed (-1: none), payload.
-- Returns one value per write: an append's seq when it is stored, else its reason ('reason' or
-- 'reason:owner'); a progress save's 1, or 0 when the session or its epoch is gone; 'err:<message>'
-- for a write that raised an error (what it did before the error stays; the other writes still run).
-- Writes of one session that follow each other (the replies a device's messages got in one pass)
-- share one read of its hash and one write of it (load_session, flush_session).
local now, ttl, owner, prefix, packed = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local out = {}
local function failure(r)
  return 'err:' .. tostring(type(r) == 'table' and r.err or r)
end
-- The session of the previous write: its id, its state (nil: gone; or the error loading it raised),
-- and the index of its first answer.
local cur_sid, cur, cur_err, cur_from
local function flush_current()
  if not cur then return end
  local ok, r = pcall(flush_session, cur, ttl)
  -- Its hash could not be written: every write of it since it was loaded fails.
  if not ok then
    for i = cur_from, #out do out[i] = failure(r) end
  end
end
local pos, size = 1, #packed
while pos <= size do
  local kind, sid, epoch, seq, max, acked, processed, payload
  kind, sid, epoch, seq, max, acked, processed, payload, pos = struct.unpack('>c1Hc0Hc0dIddIc0', packed, pos)
  if acked < 0 then acked = '' end
  if processed < 0 then processed = '' end
  if sid ~= cur_sid then
    flush_current()
    local loaded, value = pcall(load_session, prefix .. '{' .. sid .. '}:s', prefix .. '{' .. sid .. '}:o')
    cur_sid, cur_from = sid, #out + 1
    if loaded then cur, cur_err = value, nil else cur, cur_err = nil, value end
  end
  local ok, r
  if cur_err then
    ok, r = false, cur_err
  elseif kind == 'p' then
    ok, r = pcall(save_progress_to, cur, epoch, acked, processed, now)
  else
    ok, r = pcall(append_to, cur, epoch, seq, payload, max, now, owner, acked, processed)
  end
  if not ok then
    out[#out + 1] = failure(r)
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
flush_current()
return out
