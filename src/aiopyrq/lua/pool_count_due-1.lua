--[[
  Counts the Pool items due now (not in flight, not waiting for their time).

  Input:
    KEYS[1] pool sorted set

  Output:
    the count
]]
--- @no-writes
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/now"

ready({ 'TIME', 'ZCOUNT' })
return rcall('ZCOUNT', KEYS[1], '-inf', now_seconds())
