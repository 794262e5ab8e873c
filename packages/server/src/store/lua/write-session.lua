-- Write a whole session. KEYS: session hash, outbound list.
-- ARGV: mode, device, epoch, token hash, now, key ttl ms, acked, processed, owner, claimed, then the payloads.
--   mode 'create':  a new session (overwrites any leftover of that id).
--   mode 'restore': a write-back after Redis lost data; refused (0) when the stored claim is newer.
if ARGV[1] == 'restore' then
  local claimed = redis.call('HGET', KEYS[1], 'claimed')
  if claimed and tonumber(claimed) > tonumber(ARGV[10]) then return 0 end
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'device', ARGV[2], 'epoch', ARGV[3], 'token', ARGV[4], 'acked', ARGV[7],
  'processed', ARGV[8], 'owner', ARGV[9], 'claimed', ARGV[10], 'created', ARGV[5], 'updated', ARGV[5])
for i = 11, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
end
refresh_ttl(KEYS[1], KEYS[2], ARGV[6], #ARGV >= 11)
return 1
