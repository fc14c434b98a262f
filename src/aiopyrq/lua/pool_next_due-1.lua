--[[
  Tells how long until the Pool's next item is due, for a get that waits.

  Input:
    KEYS[1] pool sorted set

  Output:
    seconds until the earliest score, as a string (<= 0: due now); -1 if empty
]]
--- @no-writes
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/now"

ready({ 'TIME', 'ZRANGE' })
local now = now_seconds()
local first = rcall('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then
  return -1
end
return tostring(tonumber(first[2]) - now)
