-- Remove a device's index entry only if it still names this session. KEYS: device key. ARGV: session id.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
