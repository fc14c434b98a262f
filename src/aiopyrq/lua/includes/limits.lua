--[[
  The limits of a Queue or UniqueQueue over all its consumers (aiopyrq._limits): a
  rate limit (at most `per` items taken in any `period` µs) and a cap on the items
  held (taken, not yet acked, rejected or recovered). Three keys keep them:

  rate       a sorted set, a member per get that took items: the items taken by all
             gets so far, up to this one (zero-padded), scored by the server's time
             in µs. The items taken in the last period are the newest member's count
             less that of the newest member older than the period (the base; older
             members go). A sliding window: no edge lets twice the limit through.
  in_flight  a hash: processing list -> items it holds, kept by a capped
             structure's scripts; their sum is the items held.
  freed      a list a get blocks on while the cap is reached: each item freed by an
             ack, reject or recovery pushes one token (at most cap are kept). The get
             that finds the cap reached empties it, so a token tells of room since.

  Without limits the get, ack and reject run as variants without these keys, with
  includes/no_limits in place of this file (aiopyrq._scripts.load); a recovery gets the
  keys always, with cap 0 when its structure has no cap.
]]
--- @include "includes/ready"
--- @include "includes/types"

-- The commands of the limits, checked only by a call that uses them (includes/ready).
local function limits_ready()
  ready({ 'TYPE', 'TIME', 'HVALS', 'HGET', 'HSET', 'HDEL', 'LLEN', 'LPUSH', 'LTRIM', 'DEL',
    'PEXPIRE', 'ZRANGE', 'ZREVRANGEBYSCORE', 'ZRANGEBYSCORE', 'ZADD', 'ZREMRANGEBYSCORE' })
end
local FREED_TTL_MS = 60000 -- tokens nobody waited for go after this

-- A time in µs as an argument: exact (Lua's own conversion keeps 14 digits, 100 µs here).
local function exact(prefix, number)
  return prefix .. string.format('%.0f', number)
end

-- The get's reads: how many of count items it may take, and what limits_after needs
-- (nil without limits). cap: max_in_flight (0: none); per, period: the rate limit
-- (per 0: none). The state's wait: -1 within the limits, -2 the cap is reached, else
-- the ms until the rate limit lets one more item through.
local function limits_before(rate, in_flight, freed, count, cap, per, period)
  if cap == nil then
    return count, nil
  end
  limits_ready()
  local state = { cap = tonumber(cap), per = tonumber(per), period = tonumber(period), wait = -1 }
  if state.cap > 0 then
    check_types({ freed, 'list' })
    local held = 0
    for _, n in ipairs(rcall('HVALS', in_flight)) do
      held = held + tonumber(n)
    end
    count = math.min(count, math.max(0, state.cap - held))
    if count == 0 then
      state.wait = -2
      return 0, state
    end
  end
  if state.per > 0 then
    local time = rcall('TIME')
    local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
    local last = rcall('ZRANGE', rate, -1, -1, 'WITHSCORES')
    local taken = 0
    state.total, state.now = 0, now
    if #last > 0 then
      state.total, state.now = tonumber(last[1]), math.max(now, tonumber(last[2]))
      local base = rcall('ZREVRANGEBYSCORE', rate, exact('', state.now - state.period), '-inf',
        'LIMIT', 0, 1, 'WITHSCORES')
      taken = state.total
      if #base > 0 then
        state.base, taken = tonumber(base[2]), state.total - tonumber(base[1])
      end
    end
    if taken >= state.per then -- the window's oldest get leaves it first, by the clock
      local oldest = rcall('ZRANGEBYSCORE', rate, exact('(', state.now - state.period), '+inf',
        'LIMIT', 0, 1, 'WITHSCORES')
      state.wait = math.max(1, math.ceil((tonumber(oldest[2]) + state.period - now) / 1000))
    end
    count = math.min(count, math.max(0, state.per - taken))
  end
  return count, state
end

-- The get's writes, after the take: counts what it took; its reply gets the wait.
local function limits_after(reply, state, rate, in_flight, freed, processing)
  if state == nil then
    return reply
  end
  local taken = #reply[1]
  if state.cap > 0 and taken > 0 then
    rcall('HSET', in_flight, processing, rcall('LLEN', processing))
  elseif state.wait == -2 then
    rcall('DEL', freed)
  end
  if state.per > 0 and taken > 0 then
    if state.base then
      rcall('ZREMRANGEBYSCORE', rate, '-inf', exact('(', state.base))
    end
    rcall('ZADD', rate, exact('', state.now), string.format('%017.0f', state.total + taken))
    rcall('PEXPIRE', rate, math.ceil(state.period / 1000) + 1000)
  end
  reply[3] = state.wait
  return reply
end

-- Before the first write of a script that frees items of a processing list (ack,
-- reject, recovery): the items it held, or nil without a cap argument. cap '0' (a
-- recovery by an uncapped structure): drops the count of a list left empty, and wakes
-- the gets waiting for the room it frees.
local function held_before(in_flight, freed, processing, cap)
  if cap == nil then
    return nil
  end
  limits_ready()
  check_types({ freed, 'list' })
  local held = tonumber(rcall('HGET', in_flight, processing) or 0)
  return { in_flight = in_flight, freed = freed, processing = processing, cap = tonumber(cap),
    held = held }
end

-- After the script's writes: counts the items the list holds now, pushes a token per
-- item freed; returns result, the script's reply.
local function held_after(held, result)
  if held == nil then
    return result
  end
  local now = rcall('LLEN', held.processing)
  if now == 0 then
    rcall('HDEL', held.in_flight, held.processing)
  elseif held.cap > 0 then
    rcall('HSET', held.in_flight, held.processing, now)
  end
  -- A recovery by an uncapped structure (cap 0) frees what a capped consumer held: it
  -- wakes the gets waiting for room too, with a token per item, at most 1000.
  local freed = held.held - now
  if held.cap > 0 then
    freed = math.min(freed, held.cap)
  end
  if freed > 0 then
    local tokens = {}
    for i = 1, math.min(freed, 1000) do
      tokens[i] = '1'
    end
    rcall('LPUSH', held.freed, unpack(tokens))
    if held.cap > 0 then
      rcall('LTRIM', held.freed, 0, held.cap - 1)
    end
    rcall('PEXPIRE', held.freed, FREED_TTL_MS)
  end
  return result
end
