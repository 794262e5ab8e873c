-- A turn's writes of live sessions in one call, each as if it ran alone, in order (lib.lua): the
-- appends and progress saves of every session issued in one pass of the gateway's event loop cost
-- one script call instead of one each.
-- KEYS: session hash and outbound list of each write, in pairs.
-- ARGV: now, key ttl ms, owner, then per write: kind ('a' append, 'p' progress), epoch, seq, payload,
--   max unacked, acked, processed (a progress write leaves seq, payload and max empty).
-- Returns the writes' results flattened, three values each: an append's ok, seq or reason, owner or
-- ''; a progress save's 1 or 0 (the session or its epoch is gone), then 0 and ''.
local out = {}
for i = 1, #KEYS / 2 do
  local a = 3 + (i - 1) * 7
  local kh, kl = KEYS[2 * i - 1], KEYS[2 * i]
  local r
  if ARGV[a + 1] == 'p' then
    r = {save_progress(kh, kl, ARGV[a + 2], ARGV[a + 6], ARGV[a + 7], ARGV[1], ARGV[2]), 0}
  else
    r = append_one(kh, kl, ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[1], ARGV[2], ARGV[3],
      ARGV[a + 6], ARGV[a + 7])
  end
  out[#out + 1] = r[1]
  out[#out + 1] = r[2]
  out[#out + 1] = r[3] or ''
end
return out
