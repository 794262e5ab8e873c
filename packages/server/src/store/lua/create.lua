-- Create (or overwrite) a session. KEYS: session hash, outbound list.
-- ARGV: device, epoch, token hash, now, key ttl ms, acked, processed, owner, claimed, then the payloads.
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'device', ARGV[1], 'epoch', ARGV[2], 'token', ARGV[3], 'acked', ARGV[6],
  'processed', ARGV[7], 'owner', ARGV[8], 'claimed', ARGV[9], 'created', ARGV[4], 'updated', ARGV[4])
for i = 10, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if #ARGV >= 10 then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
return 1
