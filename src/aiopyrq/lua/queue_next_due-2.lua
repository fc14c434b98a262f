--[[
  Tells how long until the next delayed item of a Queue or UniqueQueue is due,
  for a get that waits and has begun to listen for items delayed meanwhile (see
  Queue._block): one delayed between its take and then is found here. A
  prioritised item waiting (includes/priority), which the get's blocking command
  on the queue list does not see, is available now: 0.

  Input:
    KEYS[1] delayed items (sorted set: member -> due unix time in ms)
    KEYS[2] prioritised items waiting (sorted set, includes/priority)

  Output:
    milliseconds until the earliest is due (0: due now, or a prioritised item
    waits); -1 if none is delayed
]]
--- @no-writes
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/now"
--- @include "includes/next_due"

ready({ 'TIME', 'ZRANGE', 'ZCARD' })
local due = next_due(KEYS[1], now_ms())
if rcall('ZCARD', KEYS[2]) > 0 then
  return 0
end
return due
