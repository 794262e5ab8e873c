-- Shared by the scripts that write a session (prepended when they are loaded).
--
-- Key TTLs are a leak guard: after every write, a session's keys live at least `ttl` ms more. A
-- refresh sets ttl + ttl/8, so the writes of the next ttl/8 (appends, at message rates) find enough
-- TTL left (PTTL, Redis's own clock: no instance's clock is trusted) and need no PEXPIRE.
local function ttl_slack(ttl)
  return math.floor(tonumber(ttl) / 8)
end

local function refresh_ttl(kh, kl, ttl, list_exists)
  local ms = tonumber(ttl) + ttl_slack(ttl)
  redis.call('PEXPIRE', kh, ms)
  if list_exists then redis.call('PEXPIRE', kl, ms) end
end

-- A session's progress. `acked` trims the outbound list (capped at its last message), `processed`
-- raises the last device->server seq processed; each only moves forward, and '' leaves it as it is.
-- `held` and `len` are the stored ack and the list's length, `stored_processed` the stored mark; the
-- caller checked the epoch. Appends the hash fields to set to `fields` (the caller writes them in one
-- HSET) and returns the new ack and length.
local function apply_progress(kl, held, len, stored_processed, acked, processed, fields)
  if acked ~= '' then
    local to = math.min(tonumber(acked), held + len)
    if to > held then
      redis.call('LTRIM', kl, to - held, -1)
      len = len - (to - held)
      held = to
      fields[#fields + 1] = 'acked'
      fields[#fields + 1] = to
    end
  end
  if processed ~= '' and tonumber(processed) > tonumber(stored_processed) then
    fields[#fields + 1] = 'processed'
    fields[#fields + 1] = processed
  end
  return held, len
end

-- Refresh the key TTLs when the hash has less than `ttl` left (the list never expires before the
-- hash: both are set together, and a list created later gets ttl + ttl/8 of its own, since RPUSH on a
-- missing key makes one without a TTL: `list_new`).
local function refresh_ttl_if_due(kh, kl, ttl, list_exists, list_new)
  if redis.call('PTTL', kh) < tonumber(ttl) then
    refresh_ttl(kh, kl, ttl, list_exists)
  elseif list_new then
    redis.call('PEXPIRE', kl, tonumber(ttl) + ttl_slack(ttl))
  end
end

-- Save a session's progress for its current epoch ('' matches any): update.lua's 'progress' op, and
-- a progress op of append-batch.lua. Returns 1, or 0 when the session or that epoch is gone.
local function save_progress(kh, kl, epoch, acked, processed, now, ttl)
  local f = redis.call('HMGET', kh, 'epoch', 'acked', 'processed')
  if not f[1] or (epoch ~= '' and f[1] ~= epoch) then return 0 end
  local fields = {'updated', now}
  local len = redis.call('LLEN', kl)
  local _, left = apply_progress(kl, tonumber(f[2]), len, f[3], acked, processed, fields)
  redis.call('HSET', kh, unpack(fields))
  refresh_ttl_if_due(kh, kl, ttl, left > 0, false)
  return 1
end

-- Append one server->device message to the session at `kh` (hash) and `kl` (outbound list).
--   seq > 0: the owner appends the seq it assigned; `owner` must be the session's owner.
--   seq = 0: the store assigns the seq (no live owner); `owner` is the owner the caller expects
--            ('' or a dead instance), and any other owner is answered {0, 'owned', owner}.
--   acked, processed: the session's progress, saved first whenever the epoch matches (seq > 0), also
--            when the append is refused; '' leaves it as it is.
-- Returns {1, seq} or {0, reason[, owner]}. Re-running an append that was already applied (a write
-- replayed after a lost reply) finds the same payload at that seq and answers ok again.
local function append_one(kh, kl, epoch, seq, payload, max, now, ttl, owner, acked, processed)
  seq = tonumber(seq)
  local f = redis.call('HMGET', kh, 'epoch', 'acked', 'owner', 'processed')
  if not f[1] or (seq > 0 and f[1] ~= epoch) then return {0, 'not_found'} end
  local held = tonumber(f[2])
  local len = redis.call('LLEN', kl)
  local fields = {}
  if seq > 0 then
    held, len = apply_progress(kl, held, len, f[4], acked, processed, fields)
  end
  local result
  local holder = f[3] or ''
  local last = held + len
  if seq > 0 and holder ~= owner then
    result = {0, 'not_owner', holder}
  elseif seq == 0 and holder ~= '' and holder ~= owner then
    result = {0, 'owned', holder}
  else
    if seq == 0 then seq = last + 1 end
    if seq <= last then
      if seq > held and redis.call('LINDEX', kl, seq - held - 1) == payload then
        result = {1, seq}
      else
        result = {0, 'conflict'}
      end
    elseif seq ~= last + 1 then
      result = {0, 'conflict'}
    elseif len >= tonumber(max) then
      result = {0, 'buffer_full'}
    else
      redis.call('RPUSH', kl, payload)
      fields[#fields + 1] = 'updated'
      fields[#fields + 1] = now
      refresh_ttl_if_due(kh, kl, ttl, true, len == 0)
      result = {1, seq}
    end
  end
  if #fields > 0 then redis.call('HSET', kh, unpack(fields)) end
  return result
end
