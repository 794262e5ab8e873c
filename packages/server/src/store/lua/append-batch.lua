-- Several appends in one call (append_one, in lib.lua), each as if it ran alone, in order: the
-- appends of every session issued in one turn cost one script call instead of one each.
-- KEYS: session hash and outbound list of each append, in pairs.
-- ARGV: now, key ttl ms, owner, then per append: epoch, seq, payload, max unacked, acked, processed.
-- Returns the appends' results flattened, three values each: ok, seq or reason, owner or ''.
local out = {}
for i = 1, #KEYS / 2 do
  local a = 3 + (i - 1) * 6
  local r = append_one(KEYS[2 * i - 1], KEYS[2 * i], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4],
    ARGV[1], ARGV[2], ARGV[3], ARGV[a + 5], ARGV[a + 6])
  out[#out + 1] = r[1]
  out[#out + 1] = r[2]
  out[#out + 1] = r[3] or ''
end
return out
