--[[
  A live consumer's heartbeat: renews its lease, so that recovery leaves its
  processing list alone however long its batch takes.

  Input:
    KEYS[1] this consumer's processing list
    KEYS[2] timeouts hash

  Output:
    the lease's new time
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/now"

ready({ 'TIME', 'HSET' })
local now = now_seconds()
rcall('HSET', KEYS[2], KEYS[1], now)
return now
