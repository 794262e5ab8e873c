-- Write back a whole session after Redis lost its data, unless a newer claim exists.
-- KEYS: session hash, outbound list. ARGV: as create.lua (ARGV[9] = the writer's claim time).
local claimed = redis.call('HGET', KEYS[1], 'claimed')
if claimed and tonumber(claimed) > tonumber(ARGV[9]) then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'device', ARGV[1], 'epoch', ARGV[2], 'token', ARGV[3], 'acked', ARGV[6],
  'processed', ARGV[7], 'owner', ARGV[8], 'claimed', ARGV[9], 'created', ARGV[4], 'updated', ARGV[4])
for i = 10, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if #ARGV >= 10 then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
return 1
