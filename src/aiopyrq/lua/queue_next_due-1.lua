--[[
  Tells how long until the next delayed item of a Queue or UniqueQueue is due,
  for a get that waits and has begun to listen for items delayed meanwhile (see
  Queue._block): one delayed between its take and then is found here.

  Input:
    KEYS[1] delayed items (sorted set: member -> due unix time in ms)

  Output:
    milliseconds until the earliest is due (0: due now); -1 if none is delayed
]]
--- @no-writes
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/now"
--- @include "includes/next_due"

ready({ 'TIME', 'ZRANGE' })
return next_due(KEYS[1], now_ms())
