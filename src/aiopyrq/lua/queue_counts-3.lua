--[[
  Counts a Queue's (or UniqueQueue's) items: those available now (waiting in
  the list or at a level of their own, or delayed and due by the server's clock)
  and those delayed and not yet due.

  Input:
    KEYS[1] queue list
    KEYS[2] delayed items (sorted set: item -> due unix time in ms)
    KEYS[3] prioritised items waiting (sorted set, includes/priority)

  Output:
    { items available now, items delayed and not yet due }
]]
--- @no-writes
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/now"

ready({ 'TIME', 'LLEN', 'ZCOUNT', 'ZCARD' })
local now = now_ms()
local due = rcall('ZCOUNT', KEYS[2], '-inf', now)
return { rcall('LLEN', KEYS[1]) + rcall('ZCARD', KEYS[3]) + due,
  rcall('ZCOUNT', KEYS[2], '(' .. now, '+inf') }
