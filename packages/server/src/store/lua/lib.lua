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

-- A session as the writes of one script call see it: its hash (`kh`) read once, its outbound list's
-- (`kl`) length once, changed in memory and by the list commands as the writes go, and its hash
-- fields and key TTLs written once at the end (flush_session). The writes of a batch that share a
-- session cost one read and one write of its hash, not one each. nil when the session is gone.
local function load_session(kh, kl)
  local f = redis.call('HMGET', kh, 'epoch', 'acked', 'owner', 'processed')
  if not f[1] then return nil end
  -- new_*: the hash fields to write (nil: unchanged); touched: a write asks for the key TTLs;
  -- list_new: RPUSH made the list.
  return {
    kh = kh, kl = kl, epoch = f[1], held = tonumber(f[2]), owner = f[3] or '',
    processed = tonumber(f[4]), len = redis.call('LLEN', kl),
    new_acked = nil, new_processed = nil, new_updated = nil, touched = false, list_new = false,
  }
end

-- Write what the writes changed: the hash fields in one HSET, then the key TTLs when a write asked
-- for them and the hash has less than `ttl` left (the list never expires before the hash: both are
-- set together, and a list RPUSH created gets ttl + ttl/8 of its own, having none).
local function flush_session(st, ttl)
  local fields = {}
  if st.new_acked then fields[#fields + 1] = 'acked'; fields[#fields + 1] = st.new_acked end
  if st.new_processed then fields[#fields + 1] = 'processed'; fields[#fields + 1] = st.new_processed end
  if st.new_updated then fields[#fields + 1] = 'updated'; fields[#fields + 1] = st.new_updated end
  if #fields > 0 then redis.call('HSET', st.kh, unpack(fields)) end
  if not st.touched then return end
  if redis.call('PTTL', st.kh) < tonumber(ttl) then
    refresh_ttl(st.kh, st.kl, ttl, st.len > 0)
  elseif st.list_new and st.len > 0 then
    redis.call('PEXPIRE', st.kl, tonumber(ttl) + ttl_slack(ttl))
  end
end

-- A session's progress. `acked` trims the outbound list (capped at its last message), `processed`
-- raises the last device->server seq processed; each only moves forward, and '' leaves it as it is.
-- The caller checked the epoch.
local function apply_progress(st, acked, processed)
  if acked ~= '' then
    local to = math.min(tonumber(acked), st.held + st.len)
    if to > st.held then
      redis.call('LTRIM', st.kl, to - st.held, -1)
      st.len = st.len - (to - st.held)
      st.held = to
      st.new_acked = to
    end
  end
  if processed ~= '' and tonumber(processed) > st.processed then
    st.processed = tonumber(processed)
    st.new_processed = processed
  end
end

-- Save the progress of session `st` (nil: gone) for its current epoch ('' matches any): update.lua's
-- 'progress' op, and a progress op of append-batch.lua. Returns 1, or 0 when the session or that
-- epoch is gone.
local function save_progress_to(st, epoch, acked, processed, now)
  if not st or (epoch ~= '' and st.epoch ~= epoch) then return 0 end
  apply_progress(st, acked, processed)
  st.new_updated = now
  st.touched = true
  return 1
end

-- Append one server->device message to session `st` (nil: gone).
--   seq > 0: the owner appends the seq it assigned; `owner` must be the session's owner.
--   seq = 0: the store assigns the seq (no live owner); `owner` is the owner the caller expects
--            ('' or a dead instance), and any other owner is answered {0, 'owned', owner}.
--   acked, processed: the session's progress, saved first whenever the epoch matches (seq > 0), also
--            when the append is refused; '' leaves it as it is.
-- Returns {1, seq} or {0, reason[, owner]}. Re-running an append that was already applied (a write
-- replayed after a lost reply) finds the same payload at that seq and answers ok again.
local function append_to(st, epoch, seq, payload, max, now, owner, acked, processed)
  seq = tonumber(seq)
  if not st or (seq > 0 and st.epoch ~= epoch) then return {0, 'not_found'} end
  if seq > 0 then apply_progress(st, acked, processed) end
  local last = st.held + st.len
  if seq > 0 and st.owner ~= owner then return {0, 'not_owner', st.owner} end
  if seq == 0 and st.owner ~= '' and st.owner ~= owner then return {0, 'owned', st.owner} end
  if seq == 0 then seq = last + 1 end
  if seq <= last then
    if seq > st.held and redis.call('LINDEX', st.kl, seq - st.held - 1) == payload then
      return {1, seq}
    end
    return {0, 'conflict'}
  end
  if seq ~= last + 1 then return {0, 'conflict'} end
  if st.len >= tonumber(max) then return {0, 'buffer_full'} end
  if st.len == 0 then st.list_new = true end
  redis.call('RPUSH', st.kl, payload)
  st.len = st.len + 1
  st.new_updated = now
  st.touched = true
  return {1, seq}
end

-- The single-write forms (append.lua, update.lua): load, write, flush.
local function save_progress(kh, kl, epoch, acked, processed, now, ttl)
  local st = load_session(kh, kl)
  local r = save_progress_to(st, epoch, acked, processed, now)
  if st then flush_session(st, ttl) end
  return r
end

local function append_one(kh, kl, epoch, seq, payload, max, now, ttl, owner, acked, processed)
  local st = load_session(kh, kl)
  local r = append_to(st, epoch, seq, payload, max, now, owner, acked, processed)
  if st then flush_session(st, ttl) end
  return r
end
