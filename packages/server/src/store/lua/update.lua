-- Monotonic or idempotent updates of the current epoch. KEYS: session hash, outbound list.
-- ARGV: epoch, op ('ack' | 'processed' | 'token' | 'touch'), value, now, key ttl ms.
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch or (ARGV[1] ~= '' and epoch ~= ARGV[1]) then return 0 end
local op = ARGV[2]
if op == 'ack' then
  local acked = tonumber(redis.call('HGET', KEYS[1], 'acked'))
  local last = acked + redis.call('LLEN', KEYS[2])
  local to = math.min(tonumber(ARGV[3]), last)
  if to > acked then
    redis.call('LTRIM', KEYS[2], to - acked, -1)
    redis.call('HSET', KEYS[1], 'acked', to)
  end
elseif op == 'processed' then
  if tonumber(ARGV[3]) > tonumber(redis.call('HGET', KEYS[1], 'processed')) then
    redis.call('HSET', KEYS[1], 'processed', ARGV[3])
  end
elseif op == 'token' then
  redis.call('HSET', KEYS[1], 'token', ARGV[3])
end
redis.call('HSET', KEYS[1], 'updated', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
return 1
