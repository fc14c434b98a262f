--[[
  Deletes the dead letters and their records.

  Input:
    KEYS[1] dead-letter list
    KEYS[2] dead-letter records hash

  Output:
    how many items were deleted
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"

ready({ 'TYPE', 'LLEN', 'DEL' })
check_types({ KEYS[2], 'hash' })
local count = rcall('LLEN', KEYS[1])
rcall('DEL', KEYS[1], KEYS[2])
return count
