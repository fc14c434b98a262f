--[[
  Deletes the dead letters.

  Input:
    KEYS[1] dead-letter list

  Output:
    how many items were deleted
]]
local rcall = redis.call
--- @include "includes/ready"

ready({ 'LLEN', 'DEL' })
local count = rcall('LLEN', KEYS[1])
rcall('DEL', KEYS[1])
return count
