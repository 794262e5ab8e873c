-- Shared by append.lua and update.lua (prepended to each when the scripts are loaded): save a
-- session's progress. KEYS: session hash, outbound list. `acked` trims the outbound list (capped at
-- its last message), `processed` raises the last device->server seq processed; each only moves
-- forward, and '' leaves it as it is. The caller checked the epoch.
local function save_progress(acked, processed)
  if acked ~= '' then
    local held = tonumber(redis.call('HGET', KEYS[1], 'acked'))
    local to = math.min(tonumber(acked), held + redis.call('LLEN', KEYS[2]))
    if to > held then
      redis.call('LTRIM', KEYS[2], to - held, -1)
      redis.call('HSET', KEYS[1], 'acked', to)
    end
  end
  if processed ~= '' and tonumber(processed) > tonumber(redis.call('HGET', KEYS[1], 'processed')) then
    redis.call('HSET', KEYS[1], 'processed', processed)
  end
end
