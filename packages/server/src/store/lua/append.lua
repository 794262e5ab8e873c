-- Append one server->device message (append_one, in lib.lua). KEYS: session hash, outbound list.
-- ARGV: epoch, seq, payload, max unacked, now, key ttl ms, owner, acked, processed.
return append_one(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7],
  ARGV[8], ARGV[9])
